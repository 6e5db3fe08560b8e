"""The stacked model of fused training (see _fused): K members of one architecture as one
model whose every layer runs the members' parameters in one batched operation. `Member` is a
trial as fused training holds it; `Stack` holds the members' parameters, optimizers and random
streams; `fused_forward` runs a batch through every member at once."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from tunelab.data import DataSplits
from tunelab.models import Architecture
from tunelab.training._common import (
    CPU,
    Device,
    Report,
    make_optimizer,
)
from tunelab.training._contract import (
    split_hyperparameters,
)

ELEMENTWISE = (nn.ReLU, nn.Tanh, nn.GELU, nn.SiLU, nn.ELU, nn.LeakyReLU, nn.Sigmoid, nn.Identity)
FUSABLE_LAYERS = (
    nn.Linear, nn.Conv2d, nn.BatchNorm2d, nn.MaxPool2d, nn.Flatten, nn.RNN, nn.LSTM, nn.GRU,
    *ELEMENTWISE,
)  # fmt: skip


@dataclass
class Member:
    """One trial of the group: its own model, optimizer, generators and report. Its model and
    optimizer stay on the host, as its record: the group trains a stacked copy on the device,
    written back into them once an epoch, from one transfer for the whole group (not one per
    tensor per member, which on a GPU costs more than the epoch's training)."""

    config: Mapping[str, Any]
    model: nn.Sequential
    optimizer: torch.optim.Optimizer
    shuffle: torch.Generator  # its batches' order
    noise: torch.Generator  # its dropout masks: the global stream it would have alone
    report: Report
    trainer_hp: dict[str, Any]
    model_hp: dict[str, Any]


def make_member(
    config: Mapping[str, Any],
    arch: Architecture,
    data: DataSplits,
    report: Report,
    device: Device,
    options: Mapping[str, Any] | None = None,
) -> Member:
    trainer_hp, model_hp = split_hyperparameters(config, arch, options)
    seed = int(config.get("seed", 0))
    torch.manual_seed(seed)  # as train_supervised does: the same initial weights
    model = arch.build(model_hp, data.info)  # built on the host, as train_supervised builds it
    noise = torch.Generator(device=device.name)
    noise.set_state(torch.get_rng_state() if device.name == "cpu" else torch.cuda.get_rng_state())
    params = arch.param_groups(model, model_hp) if arch.param_groups else model.parameters()
    return Member(
        config=config,
        model=model,  # type: ignore[arg-type]
        optimizer=make_optimizer(params, trainer_hp),
        shuffle=torch.Generator().manual_seed(seed),
        noise=noise,
        report=report,
        trainer_hp=trainer_hp,
        model_hp=model_hp,
    )


Step = tuple[nn.Module, float]  # a layer, and the dropout rate after it (0: no dropout)


def steps(model: nn.Module) -> list[Step]:
    """The model's layers without its dropout layers, each with the rate of the dropout after
    it: members whose rates differ (0 among them: `build_mlp` then leaves the layer out, and
    F.dropout at 0 draws nothing) line up layer by layer."""
    found: list[list[Any]] = []
    for layer in model.children():
        if isinstance(layer, nn.Dropout):
            if not found:
                raise TypeError("cannot fuse a model that starts with dropout")
            found[-1][1] = float(layer.p)
        elif isinstance(layer, nn.RNNBase) and (
            layer.bidirectional
            or not layer.bias
            or not layer.batch_first
            or layer.proj_size
            or getattr(layer, "nonlinearity", "tanh") != "tanh"
        ):
            raise TypeError(
                "cannot fuse a bidirectional, bias-free, projected or ReLU recurrent layer"
            )
        elif isinstance(layer, nn.BatchNorm2d) and (
            layer.momentum is None or not layer.track_running_stats
        ):
            raise TypeError("cannot fuse batch norm without a momentum and running statistics")
        elif isinstance(layer, FUSABLE_LAYERS):
            found.append([layer, 0.0])
        else:
            raise TypeError(f"cannot fuse a {type(layer).__name__} layer")
    return [(layer, p) for layer, p in found]


class Stack:
    """The group's parameters as stacked leaves, [members, ...] each, and the members'
    optimizers as one: each member's learning rate, weight decay and momentum in a vector, the
    update `torch.optim` makes for one member made for all (Adam, AdamW, SGD with momentum)."""

    def __init__(self, members: Sequence[Member], optimizer: str, device: Device = CPU) -> None:
        each = [list(m.model.parameters()) for m in members]
        self.params = [
            torch.stack([ps[i].detach() for ps in each]).to(device.name).requires_grad_()
            for i in range(len(each[0]))
        ]
        self.kind = optimizer

        def vector(name: str) -> torch.Tensor:
            device = self.params[0].device
            return torch.tensor([float(m.trainer_hp[name]) for m in members], device=device)

        self.lr, self.weight_decay = vector("lr"), vector("weight_decay")
        self.momentum, self.clip = vector("momentum"), vector("grad_clip")
        self.steps = 0
        self.state: list[dict[str, torch.Tensor]] = [{} for _ in self.params]
        self._read_optimizers(members)
        # Batch norm's running statistics, by layer: [K * channels], the members side by side.
        # Each member's layers, by row, parsed once (the forward pass walks them every batch).
        self.layers = layers = [steps(m.model) for m in members]
        self.buffers: dict[int, tuple[torch.Tensor, torch.Tensor]] = {
            depth: (
                torch.cat([ls[depth][0].running_mean for ls in layers]).to(device.name),  # type: ignore[misc]
                torch.cat([ls[depth][0].running_var for ls in layers]).to(device.name),  # type: ignore[misc]
            )
            for depth, (layer, _) in enumerate(layers[0])
            if isinstance(layer, nn.BatchNorm2d)
        }

    def _read_optimizers(self, members: Sequence[Member]) -> None:
        """The members' optimizer states, stacked: empty for new members; those a checkpoint
        restored (all at the same epoch, so the same number of steps) go on where they were."""
        first = members[0].optimizer
        each = [list(m.model.parameters()) for m in members]
        for i, param in enumerate(each[0]):
            held = first.state.get(param)
            if not held:
                continue
            names = [k for k in ("momentum_buffer", "exp_avg", "exp_avg_sq") if k in held]
            self.state[i] = {
                k: torch.stack(
                    [m.optimizer.state[ps[i]][k] for m, ps in zip(members, each, strict=True)]
                ).to(self.params[i].device)
                for k in names
            }
            if "step" in held:
                self.steps = int(held["step"])
        if not self.steps:  # SGD keeps no count: batch norm's layers do
            for layer, _ in steps(members[0].model):
                if isinstance(layer, nn.BatchNorm2d) and layer.num_batches_tracked is not None:
                    self.steps = int(layer.num_batches_tracked)

    def keep(self, rows: list[int]) -> None:
        """Only these members go on (the others stopped or failed)."""
        before = self.params[0].shape[0]
        index = torch.tensor(rows, device=self.params[0].device)
        self.layers = [self.layers[row] for row in rows]
        self.params = [p.detach().index_select(0, index).requires_grad_() for p in self.params]
        for name in ("lr", "weight_decay", "momentum", "clip"):
            setattr(self, name, getattr(self, name).index_select(0, index))
        self.state = [{k: v.index_select(0, index) for k, v in s.items()} for s in self.state]
        for depth, (mean, var) in self.buffers.items():
            self.buffers[depth] = (
                mean.view(before, -1).index_select(0, index).flatten(),
                var.view(before, -1).index_select(0, index).flatten(),
            )

    def clip_gradients(self) -> None:
        """`clip_grad_norm_` of each member whose grad_clip is set, over its own gradients."""
        if not bool((self.clip > 0).any()):
            return
        grads = [p.grad for p in self.params if p.grad is not None]
        norms = torch.stack([g.flatten(1).norm(2, dim=1) for g in grads])  # [params, members]
        total = norms.norm(2, dim=0)
        scale = torch.where(self.clip > 0, (self.clip / (total + 1e-6)).clamp(max=1.0), 1.0)
        for g in grads:
            g.mul_(scale.view(-1, *[1] * (g.dim() - 1)))

    @torch.no_grad()
    def step(self) -> None:
        self.steps += 1
        for p, state in zip(self.params, self.state, strict=True):
            if p.grad is None:
                continue
            shape = (-1, *[1] * (p.dim() - 1))
            lr, decay = self.lr.view(shape), self.weight_decay.view(shape)
            grad = p.grad
            if self.kind == "sgd":
                grad = grad + decay * p
                if "momentum_buffer" in state:
                    state["momentum_buffer"].mul_(self.momentum.view(shape)).add_(grad)
                else:
                    state["momentum_buffer"] = grad.clone()
                p.sub_(lr * state["momentum_buffer"])
                continue
            if self.kind == "adamw":
                p.mul_(1 - lr * decay)
            else:
                grad = grad + decay * p
            if not state:
                state["exp_avg"], state["exp_avg_sq"] = torch.zeros_like(p), torch.zeros_like(p)
            beta1, beta2 = ADAM_BETAS
            state["exp_avg"].lerp_(grad, 1 - beta1)
            state["exp_avg_sq"].mul_(beta2).addcmul_(grad, grad, value=1 - beta2)
            step_size = lr / (1 - beta1**self.steps)
            denom = (state["exp_avg_sq"].sqrt() / (1 - beta2**self.steps) ** 0.5).add_(ADAM_EPS)
            p.sub_(step_size * (state["exp_avg"] / denom))

    @torch.no_grad()
    def write_back(self, rows: Mapping[int, Member]) -> None:
        """Each member's parameters (by its row) into its own model, and its optimizer's state
        as `torch.optim` would hold it alone (a checkpoint resumes the same either way). The
        group's tensors come to the host once, whole."""
        params = [p.detach().cpu() for p in self.params]
        state = [{k: v.cpu() for k, v in s.items()} for s in self.state]
        buffers = {depth: (mean.cpu(), var.cpu()) for depth, (mean, var) in self.buffers.items()}
        momentum = self.momentum.tolist()
        for row, member in rows.items():
            optimizer = member.optimizer
            for depth, (mean, var) in buffers.items():
                norm = self.layers[row][depth][0]
                assert isinstance(norm, nn.BatchNorm2d)
                channels = norm.num_features
                norm.running_mean.copy_(mean[row * channels : (row + 1) * channels])  # type: ignore[union-attr]
                norm.running_var.copy_(var[row * channels : (row + 1) * channels])  # type: ignore[union-attr]
                norm.num_batches_tracked.fill_(self.steps)  # type: ignore[union-attr]
            for i, param in enumerate(member.model.parameters()):
                param.copy_(params[i][row])
                if self.kind == "sgd":
                    if momentum[row] != 0 and "momentum_buffer" in state[i]:
                        optimizer.state[param] = {
                            "momentum_buffer": state[i]["momentum_buffer"][row].clone()
                        }
                elif state[i]:
                    optimizer.state[param] = {
                        "step": torch.tensor(float(self.steps)),
                        "exp_avg": state[i]["exp_avg"][row].clone(),
                        "exp_avg_sq": state[i]["exp_avg_sq"][row].clone(),
                    }


ADAM_BETAS, ADAM_EPS = (0.9, 0.999), 1e-8  # torch.optim.Adam's defaults, which make_optimizer keeps


def fused_forward(
    stack: Stack, members: Sequence[Member], x: torch.Tensor, training: bool = True
) -> torch.Tensor:
    """Every member's output for its own batch: `x` is [members, batch, ...]; not `training`,
    as each model's eval mode computes it (no dropout, batch norm by its running statistics).

    Dense layers are batched matrix products over the members ([K, batch, features]); the
    convolutional part runs as one grouped convolution, the members side by side as groups of
    channels ([batch, K * channels, height, width]), so batch norm and pooling, which act per
    channel, act per member."""
    k, batch = x.shape[0], x.shape[1]
    h = x
    if x.dim() == 5:  # images: [B, K*C, H, W], channels last (pooling K*C channels on the CPU
        # is many times faster so, and the convolutions keep the layout)
        h = x.transpose(0, 1).flatten(1, 2).contiguous(memory_format=torch.channels_last)
    each = stack.layers
    index = 0  # the next stacked parameter
    for depth, (layer, _) in enumerate(each[0]):
        if isinstance(layer, nn.Conv2d):
            weight, bias = stack.params[index], stack.params[index + 1]
            index += 2
            h = F.conv2d(
                h, weight.flatten(0, 1), bias.flatten(), layer.stride, layer.padding,
                layer.dilation, groups=k,
            )  # fmt: skip
        elif isinstance(layer, nn.BatchNorm2d):
            weight, bias = stack.params[index], stack.params[index + 1]
            index += 2
            mean, var = stack.buffers[depth]
            h = F.batch_norm(
                h, mean, var, weight.flatten(), bias.flatten(), training=training,
                momentum=layer.momentum or 0.0, eps=layer.eps,
            )  # fmt: skip
        elif isinstance(layer, nn.MaxPool2d):
            h = layer(h)
        elif isinstance(layer, nn.Flatten):
            # [B, K*C, H, W] -> each member's [B, C*H*W], stacked; or [K, B, ...] flattened
            images = h.dim() == 4
            h = h.reshape(batch, k, -1).transpose(0, 1) if images else h.flatten(start_dim=2)
        elif isinstance(layer, nn.Linear):
            weight, bias = stack.params[index], stack.params[index + 1]
            index += 2
            h = torch.baddbmm(bias.unsqueeze(1), h, weight.transpose(1, 2))
        elif isinstance(layer, nn.RNNBase):
            count = 4 * layer.num_layers
            between = [float(getattr(e[depth][0], "dropout", 0.0)) * training for e in each]
            h = recurrent(layer, stack.params[index : index + count], h, members, between)
            h = h[:, :, -1]  # the last step, [K, B, hidden]
            index += count
        else:
            h = layer(h)  # elementwise, and the same for every member
        rates = [e[depth][1] for e in each]
        if any(rates) and h.dim() != 3:
            raise TypeError("cannot fuse dropout between convolutions")
        if training and any(rates):
            # What F.dropout does to one member's input, from that member's stream:
            # bernoulli(1 - p), divided by 1 - p, times the input.
            shape = h.shape[1:]
            masks = [
                torch.empty(shape, device=h.device, dtype=h.dtype)
                .bernoulli_(1 - p, generator=m.noise)
                .div_(1 - p)
                if p > 0
                else torch.ones(shape, device=h.device, dtype=h.dtype)
                for m, p in zip(members, rates, strict=True)
            ]
            h = h * torch.stack(masks)
    return h


def recurrent(
    layer: nn.RNNBase,
    params: Sequence[torch.Tensor],
    x: torch.Tensor,
    members: Sequence[Member],
    rates: Sequence[float],
) -> torch.Tensor:
    """A stack of RNN, LSTM or GRU layers for every member at once: `x` is [K, B, steps,
    features], the result every step's output of the last layer, [K, B, steps, hidden]. Each
    layer projects the whole sequence's input in one batched product, then steps through time
    with one batched product per step; the gates are computed as torch's own cells compute them,
    and dropout between layers draws its masks as torch's does (time-major)."""
    k, batch, length = x.shape[0], x.shape[1], x.shape[2]
    hidden = layer.hidden_size
    for depth in range(layer.num_layers):
        w_ih, w_hh, b_ih, b_hh = params[4 * depth : 4 * depth + 4]
        inputs = torch.baddbmm(b_ih.unsqueeze(1), x.flatten(1, 2), w_ih.transpose(1, 2))
        inputs = inputs.view(k, batch, length, -1)
        h = x.new_zeros(k, batch, hidden)
        c = x.new_zeros(k, batch, hidden)
        outputs = []
        for step in range(length):
            gates = torch.baddbmm(b_hh.unsqueeze(1), h, w_hh.transpose(1, 2))
            if isinstance(layer, nn.LSTM):
                i, f, g, o = gates.add_(inputs[:, :, step]).chunk(4, dim=2)
                c = f.sigmoid() * c + i.sigmoid() * g.tanh()
                h = o.sigmoid() * c.tanh()
            elif isinstance(layer, nn.GRU):
                ir, iz, i_n = inputs[:, :, step].chunk(3, dim=2)
                hr, hz, hn = gates.chunk(3, dim=2)
                reset, update = (hr + ir).sigmoid(), (hz + iz).sigmoid()
                new = (i_n + hn * reset).tanh()
                h = (h - new) * update + new
            else:
                h = (gates + inputs[:, :, step]).tanh()
            outputs.append(h)
        x = torch.stack(outputs, dim=2)
        if depth < layer.num_layers - 1 and any(rates):
            masks = [
                torch.empty(length, batch, hidden, device=x.device, dtype=x.dtype)
                .bernoulli_(1 - p, generator=m.noise)
                .div_(1 - p)
                .transpose(0, 1)
                if p > 0
                else torch.ones(batch, length, hidden, device=x.device, dtype=x.dtype)
                for m, p in zip(members, rates, strict=True)
            ]
            x = x * torch.stack(masks)
    return x
