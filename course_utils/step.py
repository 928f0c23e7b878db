"""One SGD step of the paper's recipe, and the model and optimizer it needs, on any device.

On CUDA: channels_last memory, cuDNN autotuning, bf16 autocast for the forward pass
(weights, gradients and the update stay fp32) and fused SGD. On a CPU: channels_last memory
too (``python -m course_utils.bench`` measures it faster there), fp32 unless asked for bf16
(``train_step(..., bf16=True)``: the ``bf16`` variant, taken where the processor has it natively
and the probe finds it equal to fp32 and faster; see ``engine.candidates``).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from course_utils import cpu
from course_utils.schedule import Schedule

__all__ = [
    "on_cuda",
    "uses_channels_last",
    "device_name",
    "device_label",
    "prepare_model",
    "make_optimizer",
    "train_step",
]


def on_cuda(device: torch.device) -> bool:
    """Is ``device`` a GPU (CUDA)? Then the step takes the CUDA path: GPU-resident data, bf16 autocast, fused SGD."""
    return device.type == "cuda"


def uses_channels_last(device: torch.device) -> bool:
    """channels_last memory (NHWC) for weights and batches: on CUDA and on CPUs, where it is faster
    (``bench``: about 1.2-1.35x per step for ResNet-20/56 on one core); other devices keep NCHW."""
    return device.type in ("cuda", "cpu")


def device_name(device: torch.device) -> str:
    """A readable device name for results: the GPU's name, or ``cpu`` / ``mps``."""
    return torch.cuda.get_device_name(device) if device.type == "cuda" else device.type


def device_label(device: torch.device) -> str:
    """The device as a history record names it: the GPU's name, or ``cpu (<processor>)``."""
    return cpu.label() if device.type == "cpu" else device_name(device)


def prepare_model(model: nn.Module, device: torch.device, deterministic: bool = False) -> nn.Module:
    """Move ``model`` to ``device`` in train mode, channels_last where faster; cuDNN autotuning on CUDA."""
    if on_cuda(device):
        torch.backends.cudnn.benchmark = not deterministic
    if uses_channels_last(device):
        return model.to(device, memory_format=torch.channels_last).train()
    return model.to(device).train()


def make_optimizer(model: nn.Module, schedule: Schedule, device: torch.device) -> torch.optim.SGD:
    """SGD of the schedule (weight decay on every parameter, as in the paper); fused on CUDA."""
    return torch.optim.SGD(
        model.parameters(),
        lr=schedule.lr_at(0),
        momentum=schedule.momentum,
        weight_decay=schedule.weight_decay,
        fused=True if on_cuda(device) else None,
    )


def train_step(
    model: nn.Module, opt: torch.optim.Optimizer, x: torch.Tensor, y: torch.Tensor, bf16: bool | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """One SGD step on a batch ``x (B, 3, 32, 32)``, ``y (B,)``; returns (loss, logits (B, 10)), no host sync.

    ``bf16`` (default: on CUDA only): the forward pass and the loss under bf16 autocast; the weights, their
    gradients, BN's statistics and the SGD update stay fp32. Autocast's weight cache is off, so that the
    same step can be captured as a CUDA graph.
    """
    bf16 = x.device.type == "cuda" if bf16 is None else bf16
    with torch.autocast(x.device.type, dtype=torch.bfloat16, enabled=bf16, cache_enabled=False):
        logits = model(x)
        loss = F.cross_entropy(logits, y)
    opt.zero_grad(set_to_none=True)
    loss.backward()
    opt.step()
    return loss, logits
