"""Old import paths that keep working for one release, with a ``DeprecationWarning``."""

from __future__ import annotations

import importlib
import sys
import warnings
from collections.abc import Sequence
from types import ModuleType
from typing import Any

__all__ = ["forward", "warn_moved"]


def _caller_stacklevel() -> int:
    """The ``stacklevel`` of the first frame outside the import machinery and the shims."""
    frame, level = sys._getframe(1), 1
    while frame is not None:
        name = frame.f_code.co_filename
        bootstrap = "importlib" in name and "_bootstrap" in name  # warnings skips these itself
        ours = name == __file__ or frame.f_globals.get("__name__", "") in _SHIMS
        if not (bootstrap or ours or name == importlib.__file__):
            return level
        frame = frame.f_back
        level += 0 if bootstrap else 1
    return 1


_SHIMS: set[str] = set()


def warn_moved(old: str, new: str) -> None:
    """Warn that module ``old`` moved to ``new`` (pointing the warning at the importer)."""
    _SHIMS.add(old)
    warnings.warn(
        f"'{old}' is deprecated and will be removed in the next release; "
        f"import from '{new}' instead.",
        DeprecationWarning,
        stacklevel=_caller_stacklevel(),
    )


def forward(old: str, new: Sequence[str], names: Sequence[str]) -> tuple[list[str], Any]:
    """``(__all__, __getattr__)`` for a shim module ``old`` whose ``names`` now live in ``new``.

    The shim warns once, when it is first imported, and then finds every name (public or
    private) in the new modules, in the order given.
    """
    warn_moved(old, " or ".join(new))
    modules: list[ModuleType] = [importlib.import_module(name) for name in new]

    def __getattr__(name: str) -> Any:
        for module in modules:
            if hasattr(module, name):
                return getattr(module, name)
        raise AttributeError(f"module '{old}' has no attribute '{name}'")

    return list(names), __getattr__
