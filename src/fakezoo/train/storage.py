"""Optuna storages for the learning-rate search: files, databases, heartbeats, crash recovery.

[`make_storage`][fakezoo.train.storage.make_storage] turns a path or URL into an Optuna storage:

- SQLite (``*.db``): one process at a time ([`single_writer`][fakezoo.train.storage.single_writer]
  refuses a second one).
- A Journal file (``*.log``): several worker processes on one machine.
- PostgreSQL or MySQL (``postgresql://...``, ``mysql://...``): workers on many machines.

Workers that share a study must survive each other's crashes. Every running trial sends a
heartbeat every ``heartbeat_interval(grace_period)`` seconds; a trial whose last heartbeat is
older than ``grace_period`` seconds is *stale*: its worker died. A stale trial is marked
``FAIL`` and its learning rate is queued again ([`retry_trial`][fakezoo.train.storage.retry_trial]:
Optuna's ``RetryHeartbeatStaleTrialCallback``), so the next worker to ask for a trial, a survivor or
a newly started one, runs the same learning rate again.

- Databases use Optuna's own heartbeat (``RDBStorage(heartbeat_interval=..., grace_period=...,
  heartbeat_stale_trial_callback=retry_trial)``).
- Journal files have no heartbeat in Optuna (``JournalStorage`` is no ``BaseHeartbeat``:
  ``fail_stale_trials`` does nothing there), so fakezoo keeps its own *lease*: a thread writes
  the time into the running trial's user attribute ``fakezoo_heartbeat``
  ([`keep_alive`][fakezoo.train.storage.keep_alive]), and
  [`recover_stale_trials`][fakezoo.train.storage.recover_stale_trials] fails trials whose lease has
  expired. Writers take an ``flock`` on ``.NAME.flock`` next to the file, which the kernel releases
  when its process dies: a worker killed while writing never stalls the others (Optuna's
  default lock file would stay behind for 30 s, with warnings).
"""

from __future__ import annotations

import contextlib
import logging
import os
import random
import threading
import time
import warnings
from collections.abc import Iterator
from pathlib import Path

import optuna
from optuna.storages import JournalStorage, RDBStorage, RetryHeartbeatStaleTrialCallback
from optuna.storages.journal import JournalFileBackend
from optuna.trial import FrozenTrial, TrialState

from ..errors import StorageError
from ..runs.folders import hold_lock

logger = logging.getLogger("fakezoo")

__all__ = [
    "DEFAULT_GRACE_PERIOD",
    "LeasedJournalStorage",
    "check_storage",
    "heartbeat_interval",
    "make_storage",
    "recover_stale_trials",
    "retry_trial",
    "single_writer",
    "sqlite_file",
]

DEFAULT_GRACE_PERIOD = 60  # seconds without a heartbeat before a running trial is declared dead
MAX_RETRIES = 3
"""How many times a learning rate whose trial keeps dying is queued again."""
HEARTBEAT = "fakezoo_heartbeat"  # Journal lease: time of the last heartbeat (user attribute)
WORKER = "fakezoo_worker"  # host:pid of the worker that ran the trial
EXTRAS = {"postgresql": "postgres", "mysql": "mysql"}  # fakezoo's extra for each database
DRIVERS = {"postgresql": "psycopg", "mysql": "pymysql"}  # the driver module that it installs
DEFAULT_PORTS = {"postgresql": 5432, "mysql": 3306}
FILE_SUFFIXES = {
    ".db": "sqlite",
    ".sqlite": "sqlite",
    ".sqlite3": "sqlite",
    ".log": "journal",
    ".journal": "journal",
    ".jsonl": "journal",
}


def has_heartbeat(storage) -> bool:
    """Whether a dead worker's running trials can be told from a live worker's."""
    return isinstance(storage, LeasedJournalStorage) or (
        isinstance(storage, RDBStorage) and storage.heartbeat_interval is not None
    )


def heartbeat_interval(grace_period: int) -> int:
    """Seconds between two heartbeats of a running trial: a quarter of the grace period."""
    return max(1, int(grace_period) // 4)


class _FlockLock:
    """An exclusive ``flock`` on a lock file: released by the kernel when its process dies.

    It has the two methods ``JournalFileBackend`` calls on its ``lock_obj``.
    """

    def __init__(self, path: Path):
        self._path = path
        self._held = threading.local()  # one descriptor per thread (the lease thread writes)

    def acquire(self) -> bool:
        import fcntl

        fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        self._held.fd = fd
        return True

    def release(self) -> None:
        fd, self._held.fd = getattr(self._held, "fd", None), None
        if fd is not None:
            os.close(fd)  # closing the last descriptor drops the lock


def _journal_lock(path: Path) -> _FlockLock | None:
    """fakezoo's flock where the system has it (not Windows), else Optuna's default lock."""
    try:
        import fcntl  # noqa: F401
    except ImportError:
        return None
    return _FlockLock(path.with_name(f".{path.name}.flock"))


class LeasedJournalStorage(JournalStorage):
    """A Journal storage whose running trials hold a lease (fakezoo's heartbeat).

    Optuna's heartbeat exists only for databases; see
    [`keep_alive`][fakezoo.train.storage.keep_alive].
    """

    def __init__(self, path: str | Path, grace_period: int = DEFAULT_GRACE_PERIOD):
        path = Path(path)
        super().__init__(JournalFileBackend(str(path), lock_obj=_journal_lock(path)))
        self.grace_period = int(grace_period)
        self.heartbeat_interval = heartbeat_interval(grace_period)


def make_storage(
    storage: str | Path | optuna.storages.BaseStorage | None,
    *,
    grace_period: int = DEFAULT_GRACE_PERIOD,
):
    """Turn a path or URL into one of Optuna's storages.

    - ``None``: in memory (one process).
    - ``"study.db"`` / ``"sqlite:///study.db"``: SQLite, one process at a time; resumable.
    - ``"study.log"`` / ``"study.journal"``: a Journal file, for several processes on one
      machine, with fakezoo's lease as heartbeat.
    - ``"postgresql://user@host:5432/db"`` (driver: psycopg 3, ``pip install
      "fakezoo[postgres]"``) / ``"mysql://..."`` (driver: PyMySQL, ``pip install
      "fakezoo[mysql]"``): a database shared by many machines, with Optuna's heartbeat.

    Args:
        storage: the path, URL or storage object (returned as it is).
        grace_period: seconds without a heartbeat after which a running trial is declared
            dead, failed and its learning rate queued again. Heartbeats are sent every
            quarter of it. It must be longer than any pause of a live worker.

    Raises:
        StorageError: a URL that names no known database, a driver that is not installed,
            a server that cannot be reached or refuses the login.

    Example:
        ```python
        from fakezoo.train.storage import make_storage
        storage = make_storage("search.log")  # a Journal file for several local workers
        ```
    """
    if storage is None or isinstance(storage, optuna.storages.BaseStorage):
        return storage
    if int(grace_period) < 1:
        raise ValueError(f"grace_period={grace_period}: need at least 1 second.")
    text = str(storage)
    if "://" in text:
        return _database(text, int(grace_period))
    kind = _file_kind(text)
    path = Path(text).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    if kind == "sqlite":
        return RDBStorage(f"sqlite:///{path}")
    return LeasedJournalStorage(path, grace_period)


def check_storage(storage: str | os.PathLike[str] | None) -> None:
    """Refuse a storage that names nothing fakezoo can open, before any data or model is
    loaded. Nothing is created and no server is contacted
    ([`make_storage`][fakezoo.train.storage.make_storage] does that).

    Example:
        ```python
        from fakezoo.train.storage import check_storage
        check_storage("search.log")           # fine
        check_storage("redis://localhost/x")  # ValueError: storage='redis://localhost/x': ...
        ```
    """
    if not isinstance(storage, (str, os.PathLike)):
        return
    text = str(storage)
    if "://" in text:
        _parse_url(text)
    else:
        _file_kind(text)


def _file_kind(text: str) -> str:
    kind = FILE_SUFFIXES.get(Path(text).suffix)
    if kind is None:
        raise ValueError(
            f"storage='{text}': use a .db/.sqlite file (SQLite), a .log/.journal "
            f"file (Journal, several local workers) or a postgresql:// or mysql:// "
            f"URL."
        )
    return kind


def _parse_url(text: str):
    """``(url, backend, shown)`` of a database URL fakezoo supports; ``ValueError`` else."""
    from sqlalchemy import exc
    from sqlalchemy.engine import make_url

    try:
        url = make_url(text)
    except (exc.ArgumentError, ValueError) as err:
        raise ValueError(
            f"storage='{text}' is not a database URL ({err}); use "
            f"postgresql://user:password@host:5432/dbname"
        ) from None
    backend = url.get_backend_name()
    shown = url.render_as_string(hide_password=True)
    if backend != "sqlite" and backend not in EXTRAS:
        hint = "; write postgresql://" if backend == "postgres" else ""
        raise ValueError(
            f"storage='{shown}': fakezoo supports postgresql://, mysql:// and "
            f"sqlite:/// URLs, not '{url.drivername}://'{hint}."
        )
    return url, backend, shown


def _database(text: str, grace_period: int) -> RDBStorage:
    from sqlalchemy import exc

    url, backend, shown = _parse_url(text)
    if backend == "sqlite":
        return RDBStorage(url.render_as_string(hide_password=False))
    if url.drivername == "mysql":  # the driver that fakezoo's mysql extra installs
        url = url.set(drivername="mysql+pymysql")
    engine_kwargs = {"connect_args": {"connect_timeout": 10}}
    where = f"{url.host or 'localhost'}:{url.port or DEFAULT_PORTS[backend]}"
    delay = 0.2
    for attempt in range(8):
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                return RDBStorage(
                    url.render_as_string(hide_password=False),
                    engine_kwargs=engine_kwargs,
                    heartbeat_interval=heartbeat_interval(grace_period),
                    grace_period=grace_period,
                    heartbeat_stale_trial_callback=retry_trial,
                )
        except (ImportError, exc.NoSuchModuleError) as err:
            raise StorageError(_driver_message(shown, url, err)) from None
        except exc.OperationalError as err:
            raise StorageError(_connection_message(shown, where, err)) from None
        except (
            exc.IntegrityError,
            exc.ProgrammingError,
            exc.InternalError,
            optuna.exceptions.StorageInternalError,
        ) as err:
            # Another worker is creating Optuna's tables at this moment: wait, then join.
            if attempt == 7:
                raise StorageError(
                    f"storage='{shown}': could not create or join Optuna's "
                    f"tables: {_first_line(err)}"
                ) from None
            logger.debug(
                "storage %s: tables being created by another worker (%s); retrying",
                shown,
                _first_line(err),
            )
            time.sleep(delay * (1 + random.random()))
            delay *= 2
    raise AssertionError("unreachable")


def _first_line(err: BaseException) -> str:
    cause = getattr(err, "orig", None) or err.__cause__ or err
    args = getattr(cause, "args", ())
    message = args[-1] if len(args) == 2 and isinstance(args[0], int) else cause  # (code, text)
    text = str(message).strip().splitlines()
    return text[0] if text else type(cause).__name__


def _driver_message(shown: str, url, err: BaseException) -> str:
    backend = url.get_backend_name()
    missing = (
        getattr(err.__cause__, "name", None) or getattr(err, "name", None) or url.get_driver_name()
    )
    hint = f'pip install "fakezoo[{EXTRAS[backend]}]"'
    if missing.split(".")[0] != DRIVERS[backend]:  # a driver named in the URL, not ours
        hint = f"pip install {missing.split('.')[0]}, or use {backend}:// and {hint}"
    return f"storage='{shown}': the {backend} driver '{missing}' is not installed: {hint}"


def _connection_message(shown: str, where: str, err: BaseException) -> str:
    detail = _first_line(err)
    lowered = str(getattr(err, "orig", err)).lower()
    if any(
        s in lowered
        for s in (
            "refused",
            "timeout",
            "timed out",
            "could not translate",
            "name or service not known",
            "no route",
            "can't connect",
            "unreachable",
        )
    ):
        return (
            f"storage='{shown}': cannot reach the database server at {where} ({detail}). "
            f"Is the server running, and are the host and port right?"
        )
    return f"storage='{shown}': the server at {where} refused: {detail}"


# -- recovering from dead workers ----------------------------------------------------------
def retry_trial(study: optuna.Study, trial: FrozenTrial) -> None:
    """Queue a dead worker's learning rate again, as a new waiting trial.

    Called with each trial that was failed as stale (Optuna calls it for databases, through
    ``heartbeat_stale_trial_callback``). Optuna's ``RetryHeartbeatStaleTrialCallback`` adds
    the new trial, with the same parameters and the chain of failed trials in its system
    attributes (``retried_trial_number``, ``retry_history``); after
    [`MAX_RETRIES`][fakezoo.train.storage.MAX_RETRIES] the learning rate is given up and the next
    trial samples a new one. fakezoo adds the warning.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        retries = len(RetryHeartbeatStaleTrialCallback.retry_history(trial))
        RetryHeartbeatStaleTrialCallback(max_retry=MAX_RETRIES)(study, trial)
    if not trial.params or retries >= MAX_RETRIES:
        logger.warning(
            "%s trial %d: its worker died%s; a new learning rate will be sampled.",
            study.study_name,
            trial.number,
            "" if not trial.params else f" {retries + 1} times at this learning rate",
        )
        return
    lr = trial.params.get("lr")
    logger.warning(
        "%s trial %d%s stopped sending heartbeats (its worker died); it is marked "
        "failed and its learning rate will be run again.",
        study.study_name,
        trial.number,
        "" if lr is None else f" (lr={lr:.3g})",
    )


def _lease_expired(trial: FrozenTrial, grace_period: int, now: float) -> bool:
    # The later of its start (killed before its first heartbeat) and its last heartbeat: a
    # retried trial starts with the user attributes, old heartbeat included, of the dead one.
    beats = [
        trial.user_attrs.get(HEARTBEAT),
        trial.datetime_start and trial.datetime_start.timestamp(),
    ]
    beats = [float(b) for b in beats if b is not None]
    return bool(beats) and now - max(beats) > grace_period


def recover_stale_trials(study: optuna.Study, storage) -> list[int]:
    """Fail the running trials of dead workers and queue their learning rates again.

    Databases: Optuna's heartbeat decides. Journal files: fakezoo's lease. Other storages
    have no shared workers and nothing to do. Returns the numbers of the failed trials.
    """
    if isinstance(storage, RDBStorage) and storage.heartbeat_interval is not None:
        before = {t.number for t in study.get_trials(deepcopy=False, states=(TrialState.FAIL,))}
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)  # calls retry_trial for each
        after = study.get_trials(deepcopy=False, states=(TrialState.FAIL,))
        return sorted(t.number for t in after if t.number not in before)
    if not isinstance(storage, LeasedJournalStorage):
        return []
    failed = []
    now = time.time()
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if not _lease_expired(trial, storage.grace_period, now):
            continue
        try:
            storage.set_trial_state_values(trial._trial_id, TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # another worker failed it (and queued the retry) first
        failed.append(trial.number)
        retry_trial(study, storage.get_trial(trial._trial_id))
    return failed


def sqlite_file(storage) -> Path | None:
    """The file of a SQLite storage (a path, a ``sqlite:///`` URL or an ``RDBStorage``);
    ``None`` for any other storage, and for SQLite in memory."""
    if isinstance(storage, RDBStorage):
        storage = storage.url
    if not isinstance(storage, (str, os.PathLike)):
        return None
    text = str(storage)
    if text.startswith("sqlite:"):
        from sqlalchemy.engine import make_url

        name = make_url(text).database
        return Path(name).expanduser().resolve() if name and name != ":memory:" else None
    if "://" in text or FILE_SUFFIXES.get(Path(text).suffix) != "sqlite":
        return None
    return Path(text).expanduser().resolve()


@contextlib.contextmanager
def single_writer(storage) -> Iterator[None]:
    """While the block runs, this process alone uses a SQLite storage: it holds an ``flock``
    on ``.NAME.flock`` beside the file, and a second process is refused at once. SQLite serves
    one process at a time, and a search takes the running trials it finds for interrupted
    ones; a second live writer would fail the first one's trials. Other storages are shared.

    Raises:
        FolderInUseError: another live process searches with this SQLite file.

    Example:
        ```python
        with single_writer("runs/search.db"):
            ...  # run the study
        ```
    """
    path = sqlite_file(storage)
    if path is None:
        yield
        return

    def busy(who: str) -> str:
        return (
            f"'{path}' is in use by {who}: a SQLite study serves one process at a time. Wait "
            f"until it finishes, or let the workers share a Journal file (--storage "
            f"study.log) or a postgresql:// database."
        )

    path.parent.mkdir(parents=True, exist_ok=True)
    with hold_lock(path.with_name(f".{path.name}.flock"), busy):
        yield


def is_sqlite(storage) -> bool:
    """Whether ``storage`` is a SQLite file (one machine, no heartbeat across processes)."""
    return isinstance(storage, RDBStorage) and storage.url.startswith("sqlite")


@contextlib.contextmanager
def keep_alive(trial: optuna.Trial, storage) -> Iterator[None]:
    """While the block runs, renew the trial's lease (Journal files only).

    Databases need nothing here: Optuna's own heartbeat thread runs in ``study.optimize``.
    """
    if not isinstance(storage, LeasedJournalStorage):
        yield
        return
    stop = threading.Event()

    def beat() -> None:
        while True:
            try:
                trial.set_user_attr(HEARTBEAT, time.time())
            except optuna.exceptions.UpdateFinishedTrialError:
                logger.warning(
                    "trial %d was declared dead by another worker (no heartbeat for "
                    "%d s); its result will be dropped.",
                    trial.number,
                    storage.grace_period,
                )
                return
            if stop.wait(storage.heartbeat_interval):
                return

    thread = threading.Thread(target=beat, name=f"fakezoo-lease-{trial.number}", daemon=True)
    trial.set_user_attr(HEARTBEAT, time.time())
    thread.start()
    try:
        yield
    finally:
        stop.set()
        thread.join()
