"""The one place that imports facenet-pytorch (so a missing extra gives one clear message)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import FacesError

INSTALL_HINT = 'install the faces extra: pip install "fakezoo[faces]"'


def load_mtcnn(device: Any, min_face_size: int, thresholds: Sequence[float]) -> Any:
    """facenet-pytorch's MTCNN in eval mode; its P/R/O-net weights load from inside the wheel
    with ``torch.load``'s default ``weights_only=True``."""
    try:
        from facenet_pytorch.models.mtcnn import MTCNN
    except ImportError as exc:
        raise FacesError(f"finding faces needs facenet-pytorch ({exc}); {INSTALL_HINT}") from exc
    mtcnn = MTCNN(
        keep_all=True,
        select_largest=False,
        min_face_size=min_face_size,
        thresholds=list(thresholds),
        post_process=False,
        device=device,
    )
    return mtcnn.eval()
