"""Devices and mixed precision: one rule for training and for prediction."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import torch

__all__ = ["amp_mode", "autocast", "resolve_device"]


def resolve_device(device: str | torch.device = "auto") -> torch.device:
    """``"auto"`` is CUDA when present, else CPU; anything else goes to ``torch.device``.

    Example:
        ```python
        from fakezoo.train.engine import resolve_device  # also found there
        resolve_device("cpu")  # device(type='cpu')
        ```
    """
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def amp_mode(device: torch.device | str, amp: bool = True) -> str:
    """The mixed precision that runs: ``"off"`` (CPU, or ``amp=False``), ``"bf16"`` on GPUs
    that support it, else ``"fp16+scaler"``: fp16 autocast, and training scales the loss
    with ``torch.amp.GradScaler`` so small gradients do not underflow. Recorded in a run's
    settings and fingerprint.

    Example:
        ```python
        import torch
        from fakezoo.train.engine import amp_mode
        amp_mode(torch.device("cpu"), True)  # 'off'
        ```
    """
    if torch.device(device).type != "cuda" or not amp:
        return "off"
    return "bf16" if torch.cuda.is_bf16_supported() else "fp16+scaler"


def autocast(device: torch.device, amp: bool = True) -> AbstractContextManager:
    """bf16 autocast on CUDA GPUs that support it (fp16 on older ones, see
    [`amp_mode`][fakezoo._device.amp_mode]); nothing elsewhere."""
    mode = amp_mode(device, amp)
    if mode == "off":
        return nullcontext()
    return torch.autocast("cuda", dtype=torch.bfloat16 if mode == "bf16" else torch.float16)
