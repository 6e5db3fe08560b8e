"""What the training loops share: hyperparameter split, optimizer, device, checkpoint state."""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import torch

from tunelab.data import DataSplits
from tunelab.models import Architecture

# report(epoch, metrics, checkpoint_state): called once per epoch, after validation.
Report = Callable[[int, dict[str, float], dict[str, Any]], None]


def plain(value: Any) -> Any:
    """`value` without tensors (weights travel in state dicts, not in recorded hyperparameters)."""
    if isinstance(value, Mapping):
        return {k: plain(v) for k, v in value.items() if not _holds_tensors(v)}
    return value


def _holds_tensors(value: Any) -> bool:
    if isinstance(value, torch.Tensor):
        return True
    return isinstance(value, Mapping) and any(isinstance(v, torch.Tensor) for v in value.values())


def make_optimizer(params: Any, hp: Mapping[str, Any]) -> torch.optim.Optimizer:
    lr, weight_decay = float(hp["lr"]), float(hp["weight_decay"])
    if hp["optimizer"] == "sgd":
        return torch.optim.SGD(
            params, lr=lr, momentum=float(hp["momentum"]), weight_decay=weight_decay
        )
    if hp["optimizer"] == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if hp["optimizer"] == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {hp['optimizer']!r}")


def load_optimizer(optimizer: torch.optim.Optimizer, state: Mapping[str, Any]) -> None:
    """A checkpoint's optimizer state (its moments and steps) into `optimizer`, which keeps the
    hyperparameters it was built with from the trial's config: the checkpoint's own, unless
    population based training changed them."""
    settings = [{k: v for k, v in g.items() if k != "params"} for g in optimizer.param_groups]
    optimizer.load_state_dict(dict(state))
    for group, kept in zip(optimizer.param_groups, settings, strict=True):
        group.update(kept)


@dataclass(frozen=True)
class Workers:
    """This process's place among the workers of a data-parallel trial, which
    `torch.distributed` has joined (Ray Train sets that up). Every worker trains on its part of
    each batch; their gradients are averaged as one batch's would be."""

    rank: int
    size: int

    @classmethod
    def joined(cls) -> Workers | None:
        """This process's place, or None where it trains alone."""
        import torch.distributed as dist

        if not (dist.is_available() and dist.is_initialized()) or dist.get_world_size() == 1:
            return None
        return cls(dist.get_rank(), dist.get_world_size())

    def part(self, batch: torch.Tensor) -> torch.Tensor:
        """This worker's contiguous slice of one batch's indices."""
        return torch.tensor_split(batch, self.size)[self.rank]

    def total(self, *values: torch.Tensor) -> list[float]:
        """The sums of `values` over every worker."""
        import torch.distributed as dist

        # On the first value's device: NCCL reduces CUDA tensors only.
        device = values[0].device
        together = torch.stack([v.detach().float().reshape(()).to(device) for v in values])
        dist.all_reduce(together)
        return together.tolist()

    def all_agree(self, ok: bool, device: str) -> bool:
        """Whether every worker says `ok` (the first worker's verdict, say, for all)."""
        import torch.distributed as dist

        flag = torch.tensor(1.0 if ok else 0.0, device=device)
        dist.all_reduce(flag, op=dist.ReduceOp.MIN)
        return bool(flag.item() == 1.0)


@dataclass(frozen=True)
class Device:
    """Where a trial trains. On CUDA: bf16 autocast where supported and cuDNN's autotuner."""

    name: str = "cpu"

    @classmethod
    def pick(cls, use_gpu: bool) -> Device:
        if use_gpu and torch.cuda.is_available():
            torch.backends.cudnn.benchmark = True
            return cls("cuda")
        return cls("cpu")

    @property
    def bf16(self) -> bool:
        return self.name == "cuda" and torch.cuda.is_bf16_supported()

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        if self.bf16:
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def tensors(self, data: DataSplits, *splits: str) -> Iterator[torch.Tensor]:
        """Whole splits as tensors resident on the device: these sets are small, so batches
        are taken by indexing instead of through a DataLoader."""
        for name in splits:
            split = getattr(data, name)
            yield torch.as_tensor(split.x, device=self.name)
            yield torch.as_tensor(split.y, device=self.name)


CPU = Device()


def checkpoint_state(
    *,
    epoch: int,
    config: Mapping[str, Any],
    arch: Architecture,
    model_hp: Mapping[str, Any],
    data: DataSplits,
    model: torch.nn.Module,
    **training_state: Any,
) -> dict[str, Any]:
    """A self-describing checkpoint: enough to rebuild the model without the spec."""
    return {
        "epoch": epoch,
        "config": dict(config),
        "architecture": arch.name,
        "trainer": arch.trainer,
        "model_hparams": plain(model_hp),
        "data_info": data.info.as_dict(),
        "model_state": {k: v.detach().cpu() for k, v in model.state_dict().items()},
        **training_state,
    }
