from .loader import PULL_PATTERNS as PULL_PATTERNS
from .loader import FoldModel as FoldModel
from .loader import LoadedRun as LoadedRun
from .loader import load_fold as load_fold
from .loader import load_run as load_run
from .loader import read_run as read_run
from .loader import resolve_run as resolve_run

__all__ = [
    "PULL_PATTERNS",
    "FoldModel",
    "LoadedRun",
    "load_fold",
    "load_run",
    "read_run",
    "resolve_run",
]
