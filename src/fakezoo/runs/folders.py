"""Folders fakezoo owns: what kind each one is, which files fakezoo wrote there, who writes it.

Every output folder fakezoo writes (a run directory, a benchmark study, an evaluation, a
protocol folder) holds two files of its own:

* ``.fakezoo``, the marker: the folder's kind (``{"kind": "run", ...}``). It is written
  first, and only into a new or empty folder; fakezoo never writes into, resumes or removes
  a folder without it.
* ``.fakezoo.lock``, the lock: a writer holds an ``flock`` on it for as long as it writes
  ([`hold_folder`][fakezoo.runs.folders.hold_folder]), and the kernel drops it when the
  process ends, even by ``kill -9``. A second writer is refused at once, in one line naming
  the folder and the other process. Jobs that each write one fold of a run
  (``fakezoo cv --fold K``) share it.

A kind's manifest ([`FolderKind`][fakezoo.runs.folders.FolderKind]) names the files fakezoo
writes there, and the folders of another kind it may hold (a study's rows are runs). Only
those files, and their temporary files (what a write killed before its rename leaves), are
ever removed ([`remove_owned`][fakezoo.runs.folders.remove_owned]); a folder holding anything
else is refused, naming one such file.

Example:
    ```python
    from fakezoo.runs.folders import RUN, hold_folder, remove_owned
    with hold_folder("runs/r50", RUN, data="faces/"):  # refused while another process writes
        remove_owned("runs/r50", RUN)                 # overwrite: fakezoo's own files only
    ```
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import socket
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .._io import atomic_write_text, temporary_of
from .._version import __version__
from ..errors import FolderError, FolderInUseError

try:
    import fcntl
except ImportError:  # Windows: no flock; folders are marked and checked, but not locked
    fcntl = None  # type: ignore[assignment]

logger = logging.getLogger("fakezoo")

__all__ = [
    "EVALUATION",
    "KINDS",
    "LOCK",
    "MARKER",
    "PROTOCOL",
    "RUN",
    "STUDY",
    "FolderKind",
    "data_folders",
    "hold_folder",
    "hold_lock",
    "remove_owned",
]

MARKER = ".fakezoo"
"""The marker file: the folder's kind, as JSON."""

LOCK = ".fakezoo.lock"
"""The lock file: its writer holds an ``flock`` on it."""


@dataclass(frozen=True)
class FolderKind:
    """One kind of folder fakezoo writes, and its manifest.

    Attributes:
        name: the kind the marker names (``"run"``).
        what: the kind in words (``"run directory"``).
        files: the files fakezoo writes there: regular expressions over their POSIX paths
            relative to the folder.
        folders: ``(path, kind name)`` of the folders of another kind this one may hold, each
            with its own marker (a study's ``rows/<row>`` are run directories).

    Example:
        ```python
        from fakezoo.runs.folders import RUN
        RUN.names("fold_2/model.safetensors"), RUN.names("fold_photos/me.jpg")  # True, False
        ```
    """

    name: str
    what: str
    files: tuple[str, ...]
    folders: tuple[tuple[str, str], ...] = ()

    @property
    def a(self) -> str:
        """The kind in words, with its article (``"an evaluation folder"``)."""
        return f"{'an' if self.what[0] in 'aeiou' else 'a'} {self.what}"

    def names(self, relpath: str) -> bool:
        """Whether fakezoo writes ``relpath`` here, or is writing it (its temporary file)."""
        folder, _, name = relpath.rpartition("/")
        original = temporary_of(name)
        if original is not None:
            relpath = f"{folder}/{original}" if folder else original
        return relpath in (MARKER, LOCK) or any(re.fullmatch(p, relpath) for p in self.files)

    def holds(self, relpath: str) -> FolderKind | None:
        """The kind of folder this one may hold at ``relpath``, if any."""
        return next((KINDS[k] for p, k in self.folders if re.fullmatch(p, relpath)), None)


_FOLD = r"fold_[1-9][0-9]{0,3}"
RUN = FolderKind(
    "run",
    "run directory",
    (
        r"config\.json",
        r"results\.json",
        r"report\.md",
        r"confusion_matrix\.png",
        r"roc\.png",
        r"trials\.csv",  # fakezoo tune
        r"search\.json",
        r"lr_search\.png",
        r"search\.db(-journal)?",  # a benchmark row's SQLite study, and its lock
        r"\.search\.db\.flock",
        r"study\.log",  # the Journal file of `fakezoo tune --workers N`, and its lock
        r"\.study\.log\.flock",
        rf"{_FOLD}/(config\.json|predictions\.json|model\.safetensors)",
    ),
)
"""A run directory (``fakezoo cv``, ``fakezoo tune``, a study's row)."""
STUDY = FolderKind(
    "study",
    "benchmark study",
    (r"study\.(md|csv|json|png)", r"roc_curves\.png"),
    ((r"rows/[^/]+", "run"),),
)
"""A benchmark study (``fakezoo benchmark``): its tables, and its rows' run directories."""
EVALUATION = FolderKind(
    "evaluation",
    "evaluation folder",
    (
        r"evaluate\.(md|json)",
        r"(metrics|comparison|robustness)\.csv",
        r"predictions/[^/]+\.csv",
        r"(reliability|robustness)_[^/]+\.png",
    ),
)
"""An evaluation folder (``fakezoo evaluate --out``)."""
PROTOCOL = FolderKind(
    "protocol",
    "protocol folder",
    (r"protocol\.json", r"results\.csv", r"table\.md", r"predictions/[^/]+\.json", r"crops/.+"),
    ((r"runs/[^/]+/[^/]+", "run"),),
)
"""A protocol folder (``fakezoo protocol --out``): its tables, crops, and one run per lr."""
KINDS = {kind.name: kind for kind in (RUN, STUDY, EVALUATION, PROTOCOL)}
"""Every kind of folder fakezoo writes, by name."""


# -- locks --------------------------------------------------------------------------------------


@dataclass
class _Held:
    fd: int
    count: int
    shared: bool


_HELD: dict[str, _Held] = {}  # the locks this process holds, by path; re-entered, not re-taken
_GUARD = threading.Lock()


def _holder(lock: Path) -> str:
    """Who holds ``lock``, as its exclusive holder wrote it."""
    try:
        info = json.loads(lock.read_text(encoding="utf-8"))
        return f"fakezoo process {int(info['pid'])} on {info['host']} ({info['command']})"
    except (OSError, ValueError, KeyError, TypeError):
        return "another fakezoo process"


def _flock(path: Path, shared: bool, busy: Callable[[str], str]) -> int:
    """An open descriptor of ``path`` holding an ``flock`` on it, taken without waiting."""
    while True:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        if fcntl is None:
            return fd
        try:
            fcntl.flock(fd, (fcntl.LOCK_SH if shared else fcntl.LOCK_EX) | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise FolderInUseError(busy(_holder(path))) from None
        except BaseException:
            os.close(fd)
            raise
        try:
            if os.fstat(fd).st_ino == os.stat(path).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)  # the holder that just left removed this file: lock the one now there


@contextlib.contextmanager
def hold_lock(
    path: str | os.PathLike[str], busy: Callable[[str], str], *, shared: bool = False
) -> Iterator[None]:
    """Hold an ``flock`` on the file ``path`` while the block runs (re-entrant in a process).

    Args:
        path: the lock file (created if needed).
        busy: the message when another process holds it, given who that is.
        shared: a lock that other shared holders may hold at the same time.

    Raises:
        FolderInUseError: another process holds it (``busy``'s message).

    Example:
        ```python
        with hold_lock("search/.search.db.flock", lambda who: f"search.db is used by {who}"):
            ...
        ```
    """
    key = os.path.abspath(path)
    with _GUARD:
        held = _HELD.get(key)
        if held is not None:
            held.count += 1
        else:
            held = _HELD[key] = _Held(_flock(Path(path), shared, busy), 1, shared)
            if not shared:  # say who writes, for the message another process would show
                info = {"pid": os.getpid(), "host": socket.gethostname(), "command": _command()}
                os.ftruncate(held.fd, 0)
                os.lseek(held.fd, 0, os.SEEK_SET)
                os.write(held.fd, json.dumps(info).encode())
    try:
        yield
    finally:
        with _GUARD:
            held.count -= 1
            if held.count == 0:
                del _HELD[key]
                if not held.shared:
                    os.ftruncate(held.fd, 0)
                os.close(held.fd)


def _command() -> str:
    name = Path(sys.argv[0]).name if sys.argv and sys.argv[0] else "python"
    return " ".join([name, *sys.argv[1:]])[:200]


# -- where a folder may be ----------------------------------------------------------------------


def data_folders(data: Any) -> list[Path]:
    """The folders whose files are the data: a folder given by its path, else every folder
    holding one of the data's images (a [`Dataset`][fakezoo.data.Dataset], or decoded images
    with a ``dataset``). A CSV file names its images itself: nothing new enters it.

    Example:
        ```python
        data_folders("faces/")  # [PosixPath('/home/me/faces')]
        ```
    """
    if data is None:
        return []
    if isinstance(data, str | os.PathLike):
        path = Path(data).expanduser()
        return [path.resolve()] if path.is_dir() else []
    paths = getattr(getattr(data, "dataset", data), "paths", None) or []
    return sorted({Path(p).resolve() for p in {os.path.dirname(os.path.abspath(p)) for p in paths}})


def _marker_kind(folder: Path) -> FolderKind | None:
    """The kind a folder's marker names; ``None`` without a marker fakezoo wrote."""
    try:
        info = json.loads((folder / MARKER).read_text(encoding="utf-8"))
        return KINDS[info["kind"]]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _check_place(root: Path, kind: FolderKind, data: Any) -> None:
    if root.exists() and not root.is_dir():
        raise FolderError(f"'{root}' is a file, not a folder: choose a folder for the {kind.what}.")
    here = root.resolve()
    for folder in data_folders(data):
        if here == folder or folder in here.parents:
            raise FolderError(
                f"'{root}' lies inside the data '{folder}': what fakezoo writes there would be "
                f"read as data next time. Choose an --out / out_dir outside it."
            )
    for parent in here.parents:
        owner = _marker_kind(parent)
        if owner is None:
            continue
        if owner.holds(here.relative_to(parent).as_posix()) is not kind:
            raise FolderError(
                f"'{root}' lies inside the fakezoo {owner.what} '{parent}', which holds no "
                f"{kind.what} there: choose an --out / out_dir outside it."
            )
        return


def _first_file(root: Path, skip: Callable[[str], bool]) -> str | None:
    """The first entry under ``root`` (sorted, depth first) that ``skip`` does not accept;
    links are not followed, and an empty folder counts as an entry (``name/``)."""

    def walk(folder: Path, prefix: str) -> str | None:
        entries = sorted(os.scandir(folder), key=lambda e: e.name)
        for entry in entries:
            rel = prefix + entry.name
            if entry.is_dir(follow_symlinks=False):
                found = walk(Path(entry.path), rel + "/")
                if found is not None:
                    return found
            elif not skip(rel):
                return rel
        return prefix if not entries and prefix else None

    return walk(root, "")


def _mark(root: Path, kind: FolderKind) -> bool:
    """Check that ``root`` is this kind of fakezoo folder, or mark a new or empty one as it;
    ``True`` when this call wrote the marker."""
    found = _marker_kind(root)
    if found is None:
        foreign = _first_file(root, lambda rel: rel == LOCK)
        if foreign is None:
            info = {"kind": kind.name, "fakezoo_version": __version__}
            atomic_write_text(root / MARKER, json.dumps(info) + "\n")
            return True
        found = _marker_kind(root)  # a job sharing the folder may have marked it meanwhile
        if found is None:
            raise FolderError(
                f"'{root}' holds '{foreign}', which fakezoo did not write, and no {MARKER} "
                f"marker: fakezoo writes {kind.a} only into a new or empty folder, or "
                f"one it made itself. Nothing was changed; choose another --out / out_dir."
            )
    if found is not kind:
        raise FolderError(
            f"'{root}' is a fakezoo {found.what}, not {kind.a}: fakezoo keeps them "
            f"apart, so that neither hides the other's results. Choose another --out / out_dir."
        )
    return False


def _remove_stale_temporaries(root: Path, kind: FolderKind) -> None:
    """Remove the temporary files of a write killed before its rename, here and one level
    down (where every kind writes): only names fakezoo's own writes give to manifest files."""
    stale = []
    for folder, prefix in [(root, ""), *((p, p.name + "/") for p in root.iterdir())]:
        if not folder.is_dir() or folder.is_symlink() or kind.holds(prefix.rstrip("/")):
            continue
        for entry in os.scandir(folder):
            rel = prefix + entry.name
            own_temporary = temporary_of(entry.name) and kind.names(rel)
            if own_temporary and entry.is_file(follow_symlinks=False):
                stale.append(Path(entry.path))
    for path in stale:
        path.unlink(missing_ok=True)
    if stale:
        logger.info("%s: removed %d stale temporary files of a killed write", root, len(stale))


@contextlib.contextmanager
def hold_folder(
    root: str | os.PathLike[str] | None,
    kind: FolderKind,
    *,
    shared: bool = False,
    data: Any = None,
) -> Iterator[Path | None]:
    """Hold ``root`` as fakezoo's folder of ``kind`` while the block writes it.

    On entry, before anything is written: the folder must not lie inside ``data``'s folders or
    inside another fakezoo folder (other than where that kind holds this one), no other
    process may hold it, and it must be new, empty (it is then marked) or marked as this kind.
    A folder held with ``shared=False`` is cleaned of stale temporary files. A block that
    fails before writing anything leaves no trace. ``root=None`` holds nothing.

    Args:
        root: the folder.
        kind: its kind ([`RUN`][fakezoo.runs.folders.RUN], ...).
        shared: hold it with other shared writers (jobs writing one fold each).
        data: the data the folder's results come from (a path or a Dataset).

    Raises:
        FolderError: a folder fakezoo did not make, of another kind, or in the wrong place.
        FolderInUseError: another process writes it.
    """
    if root is None:
        yield None
        return
    root = Path(root).expanduser()
    lock = root / LOCK

    def busy(who: str) -> str:
        return (
            f"'{root}' is in use by {who}: two writers would mix their results. Wait "
            f"until it finishes, or choose another --out / out_dir."
        )

    if os.path.abspath(lock) in _HELD:  # this process writes it already (a search, its CV)
        with hold_lock(lock, busy, shared=shared):
            yield root
        return
    _check_place(root, kind, data)
    created = not root.exists()
    root.mkdir(parents=True, exist_ok=True)
    had_lock = lock.exists()
    with hold_lock(lock, busy, shared=shared):
        try:
            marked = _mark(root, kind)
        except BaseException:
            if not had_lock:  # refused: the folder is left as it was
                lock.unlink(missing_ok=True)
            raise
        if not shared:
            _remove_stale_temporaries(root, kind)
        try:
            yield root
        except BaseException:
            if marked:
                _leave_no_trace(root, created)
            raise


def _leave_no_trace(root: Path, created: bool) -> None:
    """Remove the marker and the lock of a new folder in which nothing else was written (and
    which no other job shares now)."""
    if not set(os.listdir(root)) <= {MARKER, LOCK}:
        return
    held = _HELD[os.path.abspath(root / LOCK)]
    if held.shared and fcntl is not None:
        try:
            fcntl.flock(held.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return  # another job holds it too: the marker is theirs as well
    (root / MARKER).unlink(missing_ok=True)
    (root / LOCK).unlink(missing_ok=True)  # a process that opened it meanwhile retries
    if created:
        with contextlib.suppress(OSError):
            root.rmdir()


# -- removing what fakezoo wrote ----------------------------------------------------------------


def _inventory(root: Path, kind: FolderKind) -> tuple[list[Path], list[Path], str | None]:
    """``(files, folders of another kind, the first foreign entry)`` under ``root``; the
    files of the nested folders are judged by their own kind's manifest."""
    files: list[Path] = []
    nested: list[Path] = []

    def walk(folder: Path, kind: FolderKind, rel_root: str) -> str | None:
        for entry in sorted(os.scandir(folder), key=lambda e: e.name):
            rel = f"{rel_root}{entry.name}"
            path = Path(entry.path)
            if entry.is_dir(follow_symlinks=False):
                inner = kind.holds(rel)
                if inner is not None and _marker_kind(path) is inner:
                    nested.append(path)
                    found = walk(path, inner, "")
                    found = None if found is None else f"{rel}/{found}"
                else:
                    found = walk(path, kind, rel + "/")
                if found is not None:
                    return found
            elif kind.names(rel):  # a link is judged by its name: removing it removes the link
                files.append(path)
            else:
                return rel
        return None

    foreign = walk(root, kind, "")
    return files, nested, foreign


def remove_owned(root: str | os.PathLike[str], kind: FolderKind) -> None:
    """``overwrite``: remove what fakezoo wrote in ``root``, held with
    [`hold_folder`][fakezoo.runs.folders.hold_folder], once it is sure nothing else is there.

    Every file must be named by ``kind``'s manifest (or lie in a folder of another kind it
    holds, with that kind's marker and manifest); otherwise nothing is removed. The marker and
    the locks this process holds stay: the folder is still its own.

    Raises:
        FolderError: a file fakezoo did not write (named), or no marker.
        FolderInUseError: another process writes a folder it holds (a study's row).
    """
    root = Path(root)
    if not root.exists():
        return
    if os.path.abspath(root / LOCK) not in _HELD or _marker_kind(root) is not kind:
        raise FolderError(f"overwrite: '{root}' is not held as a fakezoo {kind.what}.")
    files, nested, foreign = _inventory(root, kind)
    if foreign is not None:
        raise FolderError(
            f"overwrite: '{root}' holds '{foreign}', which fakezoo did not write: nothing was "
            f"removed. Move it out of the folder, or choose another --out / out_dir."
        )
    keep = {root / MARKER, root / LOCK, *(p for p in files if os.path.abspath(p) in _HELD)}
    with contextlib.ExitStack() as held:
        for folder in nested:  # nobody else may be writing a folder it removes
            held.enter_context(
                hold_lock(folder / LOCK, lambda who, f=folder: f"'{f}' is in use by {who}.")
            )
        for path in files:
            if path not in keep:
                path.unlink(missing_ok=True)
        for folder in sorted({p.parent for p in files} | set(nested), key=lambda p: -len(p.parts)):
            while folder != root and folder.is_relative_to(root):
                try:
                    folder.rmdir()
                except OSError:  # not empty
                    break
                folder = folder.parent
    logger.warning("overwrite: removed the old %s in %s (%d files)", kind.what, root, len(files))
