"""Progress bars: tqdm's own rule, with fakezoo's ``progress=`` and ``$FAKEZOO_PROGRESS`` on top."""

from __future__ import annotations

import os

__all__ = ["tqdm_disable"]


def tqdm_disable(progress: bool | None) -> bool | None:
    """The ``disable=`` to give tqdm for a ``progress=`` argument.

    ``progress`` when given; else ``$FAKEZOO_PROGRESS`` (an alias kept for old scripts: ``0``,
    ``false`` or ``no`` hide the bars, anything else shows them); else ``$TQDM_DISABLE``; else
    ``None``, tqdm's own rule: bars only when stderr is a terminal.

    Example:
        ```python
        from tqdm.auto import tqdm
        from fakezoo._progress import tqdm_disable
        bar = tqdm(total=3, disable=tqdm_disable(False))  # hidden
        ```
    """
    if progress is not None:
        return not progress
    alias = os.environ.get("FAKEZOO_PROGRESS")
    if alias is not None:
        return alias.strip().lower() in {"0", "false", "no"}
    if "TQDM_DISABLE" in os.environ:
        # tqdm reads $TQDM_DISABLE once, at import, and an explicit disable= overrides it; this
        # is its own reading (bool of the string) at call time.
        return bool(os.environ["TQDM_DISABLE"])
    return None
