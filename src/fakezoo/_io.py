"""Atomic file writes and JSON, for every file fakezoo writes.

A file is written to a temporary file in the same folder, flushed to disk (``fsync``) and moved
onto its name, so a reader (or a run resumed after ``kill -9`` or a power cut) sees either the
whole old file or the whole new one, never a partial one.
"""

from __future__ import annotations

import errno
import hashlib
import json
import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any, BinaryIO

__all__ = [
    "atomic_write",
    "atomic_write_bytes",
    "atomic_write_text",
    "file_sha256",
    "read_json",
    "write_json",
]


def atomic_write(
    path: str | os.PathLike[str], write: Callable[[BinaryIO], Any], *, durable: bool = True
) -> None:
    """Call ``write(handle)`` on a temporary file and move it onto ``path`` when it returns.

    ``durable=False`` skips the ``fsync``: only for files that are checked when read and can
    be made again (cache entries).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
            if durable:
                handle.flush()
                os.fsync(handle.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError) and err.filename is None:  # say which file (full disk...)
            raise OSError(err.errno, err.strerror, str(path)) from err
        raise


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    atomic_write(path, lambda handle: handle.write(data))


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def write_json(path: str | os.PathLike[str], data: Any, *, indent: int = 2) -> None:
    """Write ``data`` as JSON (and a final newline) to ``path`` atomically."""
    atomic_write_text(path, json.dumps(data, indent=indent) + "\n")


def read_json(path: str | os.PathLike[str]) -> Any:
    """Read a UTF-8 JSON file; raises ``OSError``, ``UnicodeDecodeError`` or ``ValueError``
    (also for JSON nested too deeply for Python's parser)."""
    text = Path(path).read_text(encoding="utf-8")
    try:
        return json.loads(text)
    except RecursionError:
        raise ValueError("the JSON is nested too deeply to read") from None


_DIGESTS: dict[tuple[str, int, int, int], str] = {}


def file_sha256(path: str | os.PathLike[str]) -> str:
    """SHA-256 of a file's bytes, remembered for the process per (path, inode, size, mtime)."""
    p = Path(path)
    info = p.stat()
    if not stat.S_ISREG(info.st_mode):  # a named pipe would block the read forever
        raise OSError(errno.EINVAL, "not a regular file", str(p))
    key = (os.fspath(p.resolve()), info.st_ino, info.st_size, info.st_mtime_ns)
    if key not in _DIGESTS:
        digest = hashlib.sha256()
        with open(p, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        _DIGESTS[key] = digest.hexdigest()
    return _DIGESTS[key]
