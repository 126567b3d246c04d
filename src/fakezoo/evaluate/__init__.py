"""Cross-dataset and robustness evaluation of trained runs (``fakezoo evaluate``).

* :func:`evaluate` scores one run on new labelled data; :func:`evaluate_many` scores several
  runs (or a study directory) on the same data and gives one comparison table.
* :mod:`~fakezoo.evaluate.perturb` holds the seeded perturbations (JPEG, blur, resize, noise).
* :mod:`~fakezoo.evaluate.stats` holds the CV-EER threshold, bootstrap intervals, calibration
  and video-level aggregation; :mod:`~fakezoo.evaluate.report` writes the files.

Importing this package does not import torch; the names below load their modules on first use.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .api import CLEAN, EvalResult, EvalSuite, evaluate, evaluate_many
    from .perturb import Perturbation, parse_perturbations

__all__ = [
    "CLEAN",
    "EvalResult",
    "EvalSuite",
    "Perturbation",
    "evaluate",
    "evaluate_many",
    "parse_perturbations",
]

_WHERE = {
    "CLEAN": "api",
    "EvalResult": "api",
    "EvalSuite": "api",
    "evaluate": "api",
    "evaluate_many": "api",
    "Perturbation": "perturb",
    "parse_perturbations": "perturb",
}


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        return getattr(importlib.import_module(f".{_WHERE[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


class _CallableModule(types.ModuleType):
    """``fakezoo.evaluate`` names both this package and the function: whichever of the two the
    attribute holds (it depends on import order), calling it runs :func:`evaluate`."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return __getattr__("evaluate")(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
