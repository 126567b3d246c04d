"""Devices and mixed precision: one rule for training and for prediction."""

from __future__ import annotations

from contextlib import AbstractContextManager, nullcontext

import torch

__all__ = ["autocast", "resolve_device"]


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


def autocast(device: torch.device, amp: bool = True) -> AbstractContextManager:
    """bf16 autocast on CUDA GPUs that support it (fp16 on older ones); nothing elsewhere."""
    if device.type != "cuda" or not amp:
        return nullcontext()
    dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.autocast("cuda", dtype=dtype)
