"""The memory budget: how many bytes of decoded images and trunk output a run holds in memory
before it keeps them in memory-mapped files on disk instead, and sizes written with units.

Standard library only, so that the command's parser can read ``--memory-budget 2GB``.
"""

from __future__ import annotations

import os
import re

__all__ = [
    "available_memory",
    "default_memory_budget",
    "format_size",
    "parse_size",
]

_UNITS = {
    "": 10**9,  # a bare number is gigabytes, as the protocol's --memory-budget
    "b": 1,
    "k": 10**3,
    "kb": 10**3,
    "m": 10**6,
    "mb": 10**6,
    "g": 10**9,
    "gb": 10**9,
    "t": 10**12,
    "tb": 10**12,
    "kib": 2**10,
    "mib": 2**20,
    "gib": 2**30,
    "tib": 2**40,
}
_SIZE = re.compile(r"\s*(\d+(?:\.\d*)?|\.\d+)\s*([a-z]*)\s*")

BUDGET_FRACTION = 0.5
"""The default budget's share of the memory available when a run starts."""


def parse_size(value: str | int | float) -> int:
    """Bytes from ``"2GB"``, ``"512MiB"``, ``"1.5 g"`` (a bare number in text is GB); a
    number given from Python is bytes.

    Example:
        ```python
        from fakezoo.memory import parse_size
        parse_size("2GB"), parse_size("1MiB"), parse_size(4096)  # (2000000000, 1048576, 4096)
        ```
    """
    if isinstance(value, bool):
        raise ValueError(f"memory budget {value!r}: give a size such as 2GB or 512MB")
    if isinstance(value, int | float):
        size = value
    else:
        match = _SIZE.fullmatch(str(value).lower())
        if match is None or match.group(2) not in _UNITS:
            raise ValueError(f"memory budget {value!r}: give a size such as 2GB or 512MB")
        size = float(match.group(1)) * _UNITS[match.group(2)]
    if not size >= 1:
        raise ValueError(f"memory budget {value!r}: give a positive size such as 2GB")
    return int(size)


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
