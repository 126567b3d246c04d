"""What runs a frozen trunk: eager PyTorch (channels_last), or ONNX Runtime on a CPU.

The frozen trunk is a fixed function of its input, so any engine that computes the same
function may run it. On this project's CPU, ONNX Runtime runs the mobilenet_v2 trunk faster
than eager PyTorch and the resnet50 trunk slower (numbers in docs/performance.md), so
``backend="auto"`` picks ONNX Runtime only for the architectures in
[`ORT_FASTER`][fakezoo.models.backends.ORT_FASTER], only on a CPU, and only when ``onnxruntime`` is
installed (the ``onnx`` extra).
"""

from __future__ import annotations

import hashlib
import importlib.util
import io
import logging
import threading
import warnings
from collections import OrderedDict
from collections.abc import Callable, Sequence

import torch
from torch import nn

from ..models.stages import Stage

logger = logging.getLogger("fakezoo")

__all__ = ["BACKENDS", "ORT_FASTER", "OnnxTrunk", "choose_backend", "trunk_runner"]

BACKENDS = ("auto", "torch", "onnxruntime")
"""Accepted values of ``backend=``."""

_SESSIONS: OrderedDict[tuple, OnnxTrunk] = OrderedDict()
_SESSIONS_LOCK = threading.Lock()
_SESSIONS_KEPT = 8

ORT_FASTER = frozenset({"mobilenetv2_100"})
"""timm architectures whose trunk ONNX Runtime ran at least 1.3x faster than eager
channels_last PyTorch on a CPU, with the same probabilities within 1e-4."""


def onnxruntime_available() -> bool:
    return importlib.util.find_spec("onnxruntime") is not None


def choose_backend(backend: str, device: torch.device, architecture: str | None) -> str:
    """Resolve ``"auto"`` to ``"torch"`` or ``"onnxruntime"``; check the others."""
    if backend not in BACKENDS:
        raise ValueError(f"backend={backend!r}: use one of {', '.join(BACKENDS)}")
    if backend == "onnxruntime":
        if device.type != "cpu":
            raise ValueError(f"backend='onnxruntime' runs on the CPU, not on {device}")
        if not onnxruntime_available():
            raise ModuleNotFoundError(
                'backend="onnxruntime" needs onnxruntime: pip install "fakezoo[onnx]"'
            )
        return backend
    if backend == "auto":
        fast = architecture in ORT_FASTER and device.type == "cpu"
        return "onnxruntime" if fast and onnxruntime_available() else "torch"
    return backend


class _Stages(nn.Module):
    def __init__(self, stages: Sequence[Stage]) -> None:
        super().__init__()
        self.fns = nn.ModuleList([s.fn for s in stages])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for fn in self.fns:
            x = fn(x)
        return x


class OnnxTrunk:
    """A trunk exported to ONNX (in memory) and run by ONNX Runtime on the CPU."""

    def __init__(
        self, stages: Sequence[Stage], example: torch.Tensor, threads: int | None = None
    ) -> None:
        import onnxruntime as ort

        module = _Stages(stages).eval()
        buffer = io.BytesIO()
        with torch.inference_mode(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript exporter's deprecation notice
            torch.onnx.export(
                module,
                (example,),
                buffer,
                input_names=["x"],
                output_names=["y"],
                dynamic_axes={"x": {0: "n"}, "y": {0: "n"}},
                opset_version=17,
                dynamo=False,
            )
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads or torch.get_num_threads()
        options.log_severity_level = 3
        self.session = ort.InferenceSession(
            buffer.getvalue(), options, providers=["CPUExecutionProvider"]
        )

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        array = x.detach().float().contiguous().cpu().numpy()
        return torch.from_numpy(self.session.run(["y"], {"x": array})[0])


def trunk_runner(
    stages: Sequence[Stage], backend: str, image_size: int
) -> Callable[[torch.Tensor], torch.Tensor] | None:
    """A faster runner for ``stages`` under ``backend``, or ``None`` for eager PyTorch.

    A trunk whose steps are not all modules (e.g. ViT's embedding step) stays in PyTorch.
    """
    if backend != "onnxruntime" or not stages:
        return None
    if not all(isinstance(s.fn, nn.Module) for s in stages):
        return None
    key = _trunk_key(stages, image_size)
    with _SESSIONS_LOCK:
        if key in _SESSIONS:
            _SESSIONS.move_to_end(key)
            return _SESSIONS[key]
        try:
            runner = OnnxTrunk(stages, torch.zeros(1, 3, image_size, image_size))
        except Exception as err:  # an exporter gap must not stop prediction
            logger.warning(
                "running the frozen trunk in PyTorch: exporting it to ONNX failed (%s)", err
            )
            return None
        _SESSIONS[key] = runner
        while len(_SESSIONS) > _SESSIONS_KEPT:
            _SESSIONS.popitem(last=False)
        return runner


def _trunk_key(stages: Sequence[Stage], image_size: int) -> tuple:
    """Identifies a trunk by its structure and the bytes of its weights and buffers, so that
    detectors of the same run (or of runs with the same trunk) share one session."""
    digest = hashlib.blake2b(digest_size=16)
    for stage in stages:
        digest.update(repr(stage.fn).encode())
        for name, t in [*stage.fn.named_parameters(), *stage.fn.named_buffers()]:
            digest.update(name.encode())
            digest.update(t.detach().float().contiguous().cpu().numpy().tobytes())
    return (tuple(s.name for s in stages), image_size, torch.get_num_threads(), digest.hexdigest())
