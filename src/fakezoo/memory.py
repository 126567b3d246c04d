"""The memory budget: how many bytes of decoded images and trunk output a run holds in memory
before it keeps them in memory-mapped files on disk instead, and sizes written with units.

Standard library only, so that the command's parser can read ``--memory-budget 2GB``.
"""

from __future__ import annotations

import os
import re

__all__ = [
    "SIZE_UNITS",
    "available_memory",
    "default_memory_budget",
    "format_size",
    "parse_size",
]

_PREFIXES = {"k": 1, "m": 2, "g": 3, "t": 4}
_SIZE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-z]*)\s*")

SIZE_UNITS = ("decimal", "binary")
"""What ``kB``/``MB``/``GB``/``TB`` (and ``k``/``m``/``g``/``t``) mean to
[`parse_size`][fakezoo.memory.parse_size]: powers of 1000 (``"decimal"``), or of 1024
(``"binary"``, Gradio's upload limits). ``KiB``/``MiB``/``GiB``/``TiB`` are powers of 1024 in
both."""

BUDGET_FRACTION = 0.5
"""The default budget's share of the memory available when a run starts."""


def parse_size(
    value: str | int | float,
    *,
    bare: str = "GB",
    units: str = "decimal",
    what: str = "memory budget",
) -> int:
    """Bytes from a size written with a unit: ``"2GB"``, ``"512MiB"``, ``"1.5 g"``; a number
    given from Python is bytes.

    One parser for every size flag, each keeping its own documented meaning: ``--memory-budget``
    (the defaults: decimal units, a bare number is GB) and ``fakezoo app --max-file-size``
    (``bare="B", units="binary"``: Gradio's, where 1 kb is 1024 bytes).

    Args:
        value: the text (or a number of bytes).
        bare: the unit of a number written without one (``"GB"``, ``"B"``...).
        units: ``"decimal"`` or ``"binary"`` ([`SIZE_UNITS`][fakezoo.memory.SIZE_UNITS]).
        what: what the size is, for the error.

    Example:
        ```python
        from fakezoo.memory import parse_size
        parse_size("2GB"), parse_size("1MiB"), parse_size(4096)  # (2000000000, 1048576, 4096)
        parse_size("20mb", bare="B", units="binary")  # 20971520
        ```
    """
    if units not in SIZE_UNITS:
        raise ValueError(f"units={units!r}: use one of {', '.join(SIZE_UNITS)}")
    base = 1000 if units == "decimal" else 1024
    example = "20mb, or a number of bytes"
    if bare.lower() != "b":
        example = f"2GB or 512MB (a bare number is {bare})"
    if isinstance(value, bool):
        raise ValueError(f"{what} {value!r}: give a size such as {example}")
    if isinstance(value, int | float):
        size = value
    else:
        match = _SIZE.fullmatch(str(value).lower())
        scale = match and _scale(match.group(2) or bare.lower(), base)
        if not scale:
            raise ValueError(f"{what} {value!r}: give a size such as {example}")
        size = float(match.group(1)) * scale
    if not size >= 1:
        raise ValueError(f"{what} {value!r}: give a positive size such as {example}")
    return int(size)


def _scale(unit: str, base: int) -> int | None:
    """Bytes in one ``unit`` (``b``, ``k``, ``kb``, ``kib``...), or None for no such unit."""
    if unit == "b":
        return 1
    prefix, rest = unit[:1], unit[1:]
    if prefix not in _PREFIXES or rest not in ("", "b", "ib"):
        return None
    return (1024 if rest == "ib" else base) ** _PREFIXES[prefix]


def format_size(n_bytes: int) -> str:
    """``n_bytes`` in decimal units with one decimal: ``614.4 kB``, ``1.2 GB``."""
    for unit, scale in (("TB", 10**12), ("GB", 10**9), ("MB", 10**6), ("kB", 10**3)):
        if n_bytes >= scale:
            return f"{n_bytes / scale:.1f} {unit}"
    return f"{int(n_bytes)} B"


def available_memory() -> int:
    """Bytes of memory available to new work: Linux's ``MemAvailable``, else psutil's, else
    half the physical memory."""
    try:
        with open("/proc/meminfo", encoding="ascii") as handle:
            for line in handle:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except ImportError:
        pass
    try:
        return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") // 2
    except (ValueError, OSError, AttributeError):
        return 8 * 10**9


def default_memory_budget() -> int:
    """The budget when none is given: half of [`available_memory`][fakezoo.memory.available_memory].

    Example:
        ```python
        from fakezoo.memory import default_memory_budget
        default_memory_budget() > 0  # True
        ```
    """
    return max(1, int(available_memory() * BUDGET_FRACTION))
