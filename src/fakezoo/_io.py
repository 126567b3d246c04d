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
import re
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
    "parse_sha256",
    "read_json",
    "temporary_of",
    "write_json",
]


# What tempfile.mkstemp(prefix=".NAME.", suffix=".tmp") makes: 8 characters of its alphabet.
_TEMPORARY = re.compile(r"\.(?P<name>.+)\.[a-z0-9_]{8}\.tmp")


def temporary_of(name: str) -> str | None:
    """The name of the file whose temporary file [`atomic_write`][fakezoo._io.atomic_write] calls
    ``name``, else ``None``: what a write killed before its rename leaves behind.

    Example:
        ```python
        temporary_of(".model.safetensors.k3j2h1g0.tmp")  # 'model.safetensors'
        temporary_of("notes.tmp")                        # None
        ```
    """
    match = _TEMPORARY.fullmatch(name)
    return match.group("name") if match else None


def atomic_write(
    path: str | os.PathLike[str],
    write: Callable[[BinaryIO], Any],
    *,
    durable: bool = True,
    exclusive: bool = False,
) -> bool:
    """Call ``write(handle)`` on a temporary file and move it onto ``path`` when it returns.

    ``durable=False`` skips the ``fsync``: only for files that are checked when read and can
    be made again (cache entries). ``exclusive=True`` writes ``path`` only if it does not exist
    yet, and returns ``False`` (leaving it untouched) if it does: of two processes creating one
    file, exactly one does.
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
        if exclusive:
            return _link_new(tmp, path)
        os.replace(tmp, path)
        return True
    except BaseException as err:
        Path(tmp).unlink(missing_ok=True)
        if isinstance(err, OSError) and err.filename is None:  # say which file (full disk...)
            raise OSError(err.errno, err.strerror, str(path)) from err
        raise


def _link_new(tmp: str, path: Path) -> bool:
    """Give the written file ``tmp`` the name ``path`` unless that exists (a hard link)."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    except OSError:  # a file system without hard links: not atomic, but rarely shared
        if path.exists():
            return False
        os.replace(tmp, path)
        return True
    finally:
        Path(tmp).unlink(missing_ok=True)
    return True


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    """Write ``data`` to ``path`` atomically."""
    atomic_write(path, lambda handle: handle.write(data))


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    atomic_write_bytes(path, text.encode("utf-8"))


def write_json(
    path: str | os.PathLike[str], data: Any, *, indent: int = 2, exclusive: bool = False
) -> bool:
    """Write ``data`` as JSON (and a final newline) to ``path`` atomically (``exclusive``: see
    [`atomic_write`][fakezoo._io.atomic_write])."""
    text = (json.dumps(data, indent=indent) + "\n").encode("utf-8")
    return atomic_write(path, lambda handle: handle.write(text), exclusive=exclusive)


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


def parse_sha256(text: str) -> str:
    """``text`` as a whole SHA-256 in lower-case hex (what ``sha256sum FILE`` prints), else a
    ``ValueError`` saying so.

    Example:
        ```python
        parse_sha256("AB" * 32)  # 'abab...ab'; "abc" raises ValueError
        ```
    """
    digest = text.strip().lower()
    if not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise ValueError(
            f"{text!r}: use the file's whole SHA-256, 64 hex digits (`sha256sum FILE`)"
        )
    return digest
