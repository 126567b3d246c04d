"""Arrays past the memory budget: memory-mapped files in fakezoo's cache folder, written
atomically and resumably in numbered batches, read back batch by batch.

One array is one folder named by its key::

    <cache>/<kind>/<key>/
      data.bin         the rows, C order, once complete
      complete.json    the completion marker (shape, dtype, key, extra), written last
      data.partial     while being written: the file being filled (its space reserved)
      plan.json        while being written: shape, dtype and rows per batch
      done.log         while being written: one line per finished batch

A batch is logged in ``done.log`` only after its rows are written, so a killed pass loses at
most the batch in flight, and a rerun with the same plan writes only the missing batches.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import mmap
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from .._io import read_json, write_json
from ..errors import CacheSpaceError
from ..memory import format_size

__all__ = [
    "BatchWriter",
    "MappedArray",
    "cache_home",
    "check_space",
    "key_of",
    "locked",
    "open_complete",
]

FORMAT = 1
DATA, MARK, PARTIAL, PLAN, DONE, LOCK = (
    "data.bin",
    "complete.json",
    "data.partial",
    "plan.json",
    "done.log",
    ".lock",
)
_RELEASE_EVERY = 16 * 2**20  # bytes read between dropping the mapped pages from this process
_BINARY = getattr(os, "O_BINARY", 0)  # Windows: no newline translation
_STORED = {"bfloat16": "int16"}  # numpy has no bfloat16: its bits are kept as int16


def cache_home() -> Path:
    """fakezoo's cache folder: ``$FAKEZOO_CACHE``, else ``$XDG_CACHE_HOME/fakezoo`` (by default
    ``~/.cache/fakezoo``)."""
    base = os.environ.get("FAKEZOO_CACHE") or Path(
        os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache", "fakezoo"
    )
    return Path(base).expanduser()


def key_of(parts: dict[str, Any]) -> str:
    """A folder name for an array: 32 hex digits of the SHA-256 of ``parts`` as JSON."""
    text = json.dumps({"format": FORMAT, **parts}, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def _torch_dtype(name: str):
    import torch

    return getattr(torch, name)


def _row_bytes(shape: tuple[int, ...], dtype: str) -> int:
    return int(np.prod(shape[1:], dtype=np.int64)) * np.dtype(_STORED.get(dtype, dtype)).itemsize


def _pwrite(fd: int, data: memoryview, offset: int) -> int:
    if hasattr(os, "pwrite"):
        return os.pwrite(fd, data, offset)
    os.lseek(fd, offset, os.SEEK_SET)  # Windows: one writer per file (see locked)
    return os.write(fd, data)


def _pread(fd: int, n: int, offset: int) -> bytes:
    if hasattr(os, "pread"):
        return os.pread(fd, n, offset)
    os.lseek(fd, offset, os.SEEK_SET)
    return os.read(fd, n)


class MappedArray:
    """Rows of a read-only memory-mapped file, read as torch tensors batch by batch.

    ``array[idx]`` (a slice, integers, a numpy or torch index) copies those rows into a new
    tensor, as indexing a tensor does. The pages read are dropped from this process every
    16 MB read, so its resident memory stays flat however large the file (the kernel's page
    cache keeps them while memory is free).

    Example:
        ```python
        decoded = decode_dataset(ds, 224, memory_budget="1GB")  # past 1 GB: on disk
        decoded.images[:8].shape  # torch.Size([8, 3, 224, 224])
        ```
    """

    def __init__(self, path: str | os.PathLike[str], shape: tuple[int, ...], dtype: str):
        self.path = Path(path)
        self.shape = tuple(int(n) for n in shape)
        self.dtype = _torch_dtype(dtype)
        self._dtype_name = dtype
        with open(self.path, "rb") as handle:
            self._map = mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
        if hasattr(mmap, "MADV_RANDOM"):
            self._map.madvise(mmap.MADV_RANDOM)  # batches are random rows: no read-ahead
        stored = np.dtype(_STORED.get(dtype, dtype))
        self._rows = np.frombuffer(self._map, dtype=stored).reshape(self.shape)
        self._read = 0

    def __len__(self) -> int:
        return self.shape[0]

    @property
    def nbytes(self) -> int:
        return self._rows.nbytes

    def __getitem__(self, index: Any):
        import torch

        if isinstance(index, torch.Tensor):
            index = index.cpu().numpy()
        rows = np.array(self._rows[index], copy=True)
        self._read += rows.nbytes
        if self._read >= _RELEASE_EVERY:
            self.release()
        out = torch.from_numpy(rows)
        return out.view(self.dtype) if self._dtype_name in _STORED else out

    def release(self) -> None:
        """Drop the pages read so far from this process's resident memory."""
        self._read = 0
        if hasattr(mmap, "MADV_DONTNEED"):
            self._map.madvise(mmap.MADV_DONTNEED)

    def __reduce__(self):
        return MappedArray, (self.path, self.shape, self._dtype_name)

    def __repr__(self) -> str:
        return f"MappedArray({str(self.path)!r}, shape={self.shape}, dtype={self._dtype_name})"


def open_complete(folder: Path) -> tuple[MappedArray, dict] | None:
    """The finished array in ``folder`` and its marker's ``extra``, or ``None`` if there is
    none (or its data does not match its marker)."""
    try:
        mark = read_json(folder / MARK)
        shape, dtype = tuple(mark["shape"]), mark["dtype"]
        if (folder / DATA).stat().st_size != shape[0] * _row_bytes(shape, dtype):
            return None
        return MappedArray(folder / DATA, shape, dtype), mark.get("extra", {})
    except (OSError, ValueError, KeyError, TypeError):
        return None


def check_space(folder: Path, need: int, what: str, freed: int = 0) -> None:
    """Refuse, before anything is written, an array of ``need`` bytes that would not fit on
    ``folder``'s disk once ``freed`` bytes are removed (with ``CacheSpaceError``, saying how
    much and where)."""
    existing = folder
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent  # nothing is created before the check
    free = shutil.disk_usage(existing).free + freed
    if need > free:
        raise CacheSpaceError(
            f"{what} past the memory budget: the cache needs {format_size(need)} in {folder} "
            f"but only {format_size(free)} is free there; free space, point cache_dir (or "
            "$FAKEZOO_CACHE) at a larger disk, or raise the memory budget (--memory-budget)"
        )


@contextlib.contextmanager
def locked(folder: Path) -> Iterator[None]:
    """Hold ``folder``'s lock: one process writes an array at a time (others wait, then find
    it complete). A folder this call made is removed again if nothing was written into it."""
    made = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        fcntl = None
    with open(folder / LOCK, "a+b") as handle:
        if fcntl is not None:
            fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        try:
            yield
        finally:
            if made and {p.name for p in folder.iterdir()} == {LOCK}:
                (folder / LOCK).unlink(missing_ok=True)
                with contextlib.suppress(OSError):
                    folder.rmdir()
                    folder.parent.rmdir()  # the kind's folder, if empty too
            if fcntl is not None:
                fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


class BatchWriter:
    """Fill ``folder``'s array in numbered batches of ``batch_rows`` rows, resumably.

    ``resume`` reopens an unfinished one (its finished batches in ``done``); ``start`` checks
    the disk, reserves the space and starts afresh; ``finish`` renames the data onto
    ``data.bin`` and writes the completion marker.
    """

    def __init__(self, folder: Path, plan: dict, done: set[int]):
        self.folder, self.plan, self.done = folder, plan, done
        self.shape = tuple(plan["shape"])
        self.dtype = plan["dtype"]
        self.row_bytes = _row_bytes(self.shape, self.dtype)
        self._fd = os.open(folder / PARTIAL, os.O_RDWR | _BINARY)
        self._log = open(folder / DONE, "a", encoding="ascii")  # noqa: SIM115 (closed in finish)

    @classmethod
    def resume(cls, folder: Path, batch_rows: int) -> BatchWriter | None:
        """The unfinished array in ``folder`` written in batches of ``batch_rows``, if any."""
        try:
            plan = read_json(folder / PLAN)
            shape, dtype = tuple(plan["shape"]), plan["dtype"]
            size = (folder / PARTIAL).stat().st_size
            if plan.get("batch_rows") != batch_rows or size != shape[0] * _row_bytes(shape, dtype):
                return None
            text = (folder / DONE).read_text(encoding="ascii") if (folder / DONE).exists() else ""
        except (OSError, ValueError, KeyError, TypeError):
            return None
        lines = text.split("\n")[:-1]  # a line cut by a kill has no newline: not done
        done = {int(line) for line in lines if line.isdigit()}
        return cls(folder, plan, done)

    @classmethod
    def start(
        cls, folder: Path, shape: tuple[int, ...], dtype: str, batch_rows: int, what: str
    ) -> BatchWriter:
        """A new, empty array of ``shape`` and ``dtype`` (a torch dtype's name) in ``folder``,
        after checking that it fits on the disk."""
        need = int(shape[0]) * _row_bytes(shape, dtype)
        try:  # an unfinished file left by a stopped run is replaced: its space counts as free
            stale = (folder / PARTIAL).stat().st_blocks * 512
        except (OSError, AttributeError):
            stale = 0
        check_space(folder, need, what, stale)
        folder.mkdir(parents=True, exist_ok=True)
        for name in (DATA, MARK, PLAN, DONE, PARTIAL):
            (folder / name).unlink(missing_ok=True)
        fd = os.open(folder / PARTIAL, os.O_RDWR | os.O_CREAT | os.O_TRUNC | _BINARY, 0o644)
        try:
            if hasattr(os, "posix_fallocate"):
                os.posix_fallocate(fd, 0, need)  # the space is ours: no full disk midway
            else:
                os.ftruncate(fd, need)
        except OSError:
            os.close(fd)
            (folder / PARTIAL).unlink(missing_ok=True)
            raise
        os.close(fd)
        plan = {"shape": [int(n) for n in shape], "dtype": dtype, "batch_rows": batch_rows}
        write_json(folder / PLAN, plan)
        return cls(folder, plan, set())

    def write(self, first_row: int, rows: np.ndarray) -> None:
        """Write ``rows`` from row ``first_row`` on."""
        data = np.ascontiguousarray(rows)
        if data.dtype.name != _STORED.get(self.dtype, self.dtype):
            raise ValueError(f"rows of {data.dtype}, the array holds {self.dtype}")
        view, offset = memoryview(data).cast("B"), first_row * self.row_bytes
        while view:
            written = _pwrite(self._fd, view, offset)
            view, offset = view[written:], offset + written

    def read(self, first_row: int, n_rows: int) -> np.ndarray:
        """Rows already written, as a new array."""
        data = _pread(self._fd, n_rows * self.row_bytes, first_row * self.row_bytes)
        stored = np.dtype(_STORED.get(self.dtype, self.dtype))
        return np.frombuffer(data, dtype=stored).reshape((n_rows, *self.shape[1:])).copy()

    def mark_done(self, batch: int) -> None:
        """Record that ``batch``'s rows are written (after writing them)."""
        self._log.write(f"{batch}\n")
        self._log.flush()
        self.done.add(batch)

    def widen(self, dtype: str) -> None:
        """Store ``dtype`` (wider) from now on: the rows written so far are converted."""
        old = self.dtype
        self.close()
        wide = {**self.plan, "dtype": dtype}
        shape = tuple(wide["shape"])
        need = shape[0] * _row_bytes(shape, dtype)
        check_space(self.folder, need, "trunk output")
        tmp = self.folder / (PARTIAL + ".wide")
        with open(self.folder / PARTIAL, "rb") as src, open(tmp, "wb") as dst:
            dst.truncate(need)
            row = _row_bytes(shape, old)
            step = max(1, _RELEASE_EVERY // row)
            for start in range(0, shape[0], step):
                n = min(step, shape[0] - start)
                src.seek(start * row)
                rows = np.frombuffer(src.read(n * row), dtype=old).astype(dtype)
                dst.seek(start * _row_bytes(shape, dtype))
                dst.write(rows.tobytes())
            dst.flush()
            os.fsync(dst.fileno())
        os.replace(tmp, self.folder / PARTIAL)  # a kill before the plan changes: sizes differ
        write_json(self.folder / PLAN, wide)
        self.__init__(self.folder, wide, self.done)

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
        self._log.close()

    def finish(self, n_rows: int | None = None, extra: dict | None = None) -> MappedArray:
        """Make the array complete (its first ``n_rows`` rows when given) and open it."""
        shape = self.shape if n_rows is None else (int(n_rows), *self.shape[1:])
        os.ftruncate(self._fd, shape[0] * self.row_bytes)
        os.fsync(self._fd)
        self.close()
        os.replace(self.folder / PARTIAL, self.folder / DATA)
        mark = {"shape": list(shape), "dtype": self.dtype, "format": FORMAT}
        write_json(self.folder / MARK, {**mark, "key": self.folder.name, "extra": extra or {}})
        for name in (PLAN, DONE):
            (self.folder / name).unlink(missing_ok=True)
        return MappedArray(self.folder / DATA, shape, self.dtype)
