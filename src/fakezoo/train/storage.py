"""Optuna storages for the LR search: in memory, SQLite, Journal file, or a shared database.
"""

from __future__ import annotations

from pathlib import Path

import optuna
from optuna.storages import JournalStorage, RDBStorage, RetryFailedTrialCallback
from optuna.storages.journal import JournalFileBackend

__all__ = ["make_storage"]


def make_storage(storage: str | Path | optuna.storages.BaseStorage | None):
    """Turn a path or URL into one of Optuna's storages.

    - ``None``: in memory (one process).
    - ``"study.db"`` / ``"sqlite:///study.db"``: SQLite, one process at a time; resumable.
    - ``"study.log"`` / ``"study.journal"``: a Journal file, for several processes on one
      machine.
    - ``"postgresql://..."`` / ``"mysql://..."``: a database shared by several machines, with a
      heartbeat so the trials of a dead worker are marked failed and retried.

    Example:
        ```python
        from fakezoo.train.storage import make_storage
        storage = make_storage("search.log")  # JournalStorage for several local workers
        ```
    """
    if storage is None or isinstance(storage, optuna.storages.BaseStorage):
        return storage
    text = str(storage)
    if text.startswith(("postgresql", "mysql")):
        return RDBStorage(text, heartbeat_interval=60, grace_period=180,
                          failed_trial_callback=RetryFailedTrialCallback(max_retry=3))
    if text.startswith("sqlite:///"):
        return RDBStorage(text)
    suffix = Path(text).suffix
    if suffix in {".db", ".sqlite", ".sqlite3", ".log", ".journal", ".jsonl"}:
        Path(text).parent.mkdir(parents=True, exist_ok=True)
    if suffix in {".db", ".sqlite", ".sqlite3"}:
        return RDBStorage(f"sqlite:///{Path(text).resolve()}")
    if suffix in {".log", ".journal", ".jsonl"}:
        return JournalStorage(JournalFileBackend(str(Path(text).resolve())))
    raise ValueError(f"storage='{storage}': use a .db/.sqlite file (SQLite), a .log/.journal file "
                     f"(Journal, several local workers) or a postgresql:// or mysql:// URL.")


def _is_sqlite(storage) -> bool:
    return isinstance(storage, RDBStorage) and storage.url.startswith("sqlite")
