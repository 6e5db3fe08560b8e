from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
from torch import nn

from tunelab.data import DataInfo

CELLS: dict[str, Any] = {"rnn": nn.RNN, "lstm": nn.LSTM, "gru": nn.GRU}


class Recurrent(nn.Module):
    """A stack of `depth` recurrent layers of `hidden` units read over (batch, steps, features);
    the last step's output goes through dropout to a linear head."""

    def __init__(self, cell: str, hp: Mapping[str, Any], info: DataInfo) -> None:
        super().__init__()
        _steps, features = info.input_shape
        depth, hidden = int(hp["depth"]), int(hp["hidden"])
        kwargs: dict[str, Any] = {"nonlinearity": "tanh"} if cell == "rnn" else {}
        self.rnn = CELLS[cell](
            features,
            hidden,
            num_layers=depth,
            batch_first=True,
            dropout=float(hp["dropout"]) if depth > 1 else 0.0,
            **kwargs,
        )
        if cell == "lstm":  # forget gates start open, the usual remedy for long sequences
            for name, param in self.rnn.named_parameters():
                if name.startswith("bias_ih"):
                    with torch.no_grad():
                        param[hidden : 2 * hidden].fill_(1.0)
        self.dropout = nn.Dropout(float(hp["dropout"]))
        self.head = nn.Linear(hidden, info.n_outputs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out, _ = self.rnn(x)
        return self.head(self.dropout(out[:, -1]))


def build_recurrent(cell: str, hp: Mapping[str, Any], info: DataInfo) -> nn.Module:
    return Recurrent(cell, hp, info)
