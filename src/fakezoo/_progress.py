"""Progress bars: tqdm's own rule, with fakezoo's ``progress=`` argument on top."""

from __future__ import annotations

import os

__all__ = ["tqdm_disable"]


def tqdm_disable(progress: bool | None) -> bool | None:
    """The ``disable=`` to give tqdm for a ``progress=`` argument.

    ``progress`` when given; else ``$TQDM_DISABLE`` (any non-empty value hides the bars); else
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
    if "TQDM_DISABLE" in os.environ:
        # tqdm reads $TQDM_DISABLE once, at import, and an explicit disable= overrides it; this
        # is its own reading (bool of the string) at call time.
        return bool(os.environ["TQDM_DISABLE"])
    return None
