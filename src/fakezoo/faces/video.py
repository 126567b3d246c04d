"""Video frames with PyAV: evenly spaced, decoded one at a time, never the whole video."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import FacesError, VideoDecodeError
from ._mtcnn import INSTALL_HINT

__all__ = ["VIDEO_EXTENSIONS", "count_frames", "is_video", "sample_frames"]

VIDEO_EXTENSIONS = (".mp4", ".webm", ".avi", ".mov", ".mkv")
"""File extensions (compared case-insensitively) treated as videos."""


def is_video(path: str | os.PathLike[str]) -> bool:
    """Whether `path` has a video extension
    ([`VIDEO_EXTENSIONS`][fakezoo.faces.video.VIDEO_EXTENSIONS])."""
    return str(path).lower().endswith(VIDEO_EXTENSIONS)


def _av() -> Any:
    try:
        import av
    except ImportError as exc:
        raise FacesError(f"video decoding needs PyAV ({exc}); {INSTALL_HINT}") from exc
    return av


def _open(path: Path) -> Any:
    av = _av()
    if not path.is_file():
        raise VideoDecodeError(path, "file not found" if not path.exists() else "not a file")
    try:
        container = av.open(str(path))
    except Exception as exc:  # av.error.* (InvalidDataError, ...) and OSError
        raise VideoDecodeError(path, f"{type(exc).__name__}: {exc}") from None
    if not container.streams.video:
        container.close()
        raise VideoDecodeError(path, "the file has no video stream")
    return container


def count_frames(path: str | os.PathLike[str]) -> int:
    """Frames in the first video stream: the container's count, else one demux pass over the
    packets (no decoding)."""
    file = Path(path)
    container = _open(file)
    try:
        stream = container.streams.video[0]
        if stream.frames:
            return int(stream.frames)
        return sum(1 for packet in container.demux(stream) if packet.size)
    except VideoDecodeError:
        raise
    except Exception as exc:
        raise VideoDecodeError(file, f"{type(exc).__name__}: {exc}") from None
    finally:
        container.close()


def frame_indices(total: int, n: int, sampling: str = "rounded") -> list[int]:
    """`n` evenly spaced frame indices in `range(total)`, first and last included.

    ``sampling="rounded"`` rounds each position ``i (total - 1) / (n - 1)`` to the nearest
    frame; ``"floor"`` rounds it down, as ``numpy.linspace(0, total - 1, n, dtype=int)`` does
    in DeepfakeBench's and SBI's preprocessing. A video of at most `n` frames gives them all.
    """
    if n < 1:
        raise ValueError(f"frames must be at least 1, got {n}")
    if sampling not in ("rounded", "floor"):
        raise ValueError(f"sampling={sampling!r}: use 'rounded' or 'floor'")
    if total <= n:
        return list(range(total))
    if n == 1:
        return [0]
    if sampling == "floor":
        return sorted({int(v) for v in np.linspace(0, total - 1, n)})
    return sorted({round(i * (total - 1) / (n - 1)) for i in range(n)})


def sample_frames(
    path: str | os.PathLike[str], n: int, sampling: str = "rounded"
) -> Iterator[tuple[int, np.ndarray]]:
    """Yield `(frame index, (H, W, 3) uint8 RGB frame)` for `n` evenly spaced frames
    (positions as [`frame_indices`][fakezoo.faces.video.frame_indices] gives them).

    Frames are decoded in order and only the chosen ones are converted, so memory holds one
    frame at a time whatever the video's length. A video with fewer than `n` frames gives
    all of them.

    Raises:
        VideoDecodeError: If the file cannot be opened or a packet cannot be decoded.

    Example:
        ```python
        # needs: the faces extra and a video
        from fakezoo.faces import sample_frames
        for index, frame in sample_frames("clip.mp4", 8):
            frame.shape  # (H, W, 3)
        ```
    """
    file = Path(path)
    wanted = frame_indices(count_frames(file), n, sampling)
    if not wanted:
        raise VideoDecodeError(file, "the video has no frames")
    container = _open(file)
    try:
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        targets = iter(wanted)
        target = next(targets)
        for index, frame in enumerate(container.decode(stream)):
            if index < target:
                continue
            yield index, frame.to_ndarray(format="rgb24")
            target = next(targets, None)
            if target is None:
                return
    except VideoDecodeError:
        raise
    except Exception as exc:  # av.error.* while demuxing/decoding
        raise VideoDecodeError(file, f"{type(exc).__name__}: {exc}") from None
    finally:
        container.close()
