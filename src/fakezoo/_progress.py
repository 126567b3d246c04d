"""Whether to show progress bars: one rule for every module of fakezoo."""

from __future__ import annotations

import os
import sys

__all__ = ["show_progress"]


def show_progress(progress: bool | None) -> bool:
    """Progress bars: on when asked, else per $FAKEZOO_PROGRESS, else only on a terminal."""
    if progress is not None:
        return bool(progress)
    setting = os.environ.get("FAKEZOO_PROGRESS")
    if setting is not None:
        return setting.strip().lower() not in {"0", "false", "no"}
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False
