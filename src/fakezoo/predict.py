"""Deprecated: prediction moved to ``fakezoo.inference``; this import path works for one release.

``fakezoo.predict`` is also the name of the one-liner function. Importing this module (for
example ``from fakezoo.predict import clear_cache``) rebinds ``fakezoo.predict`` to the module,
so the module is made callable: ``fakezoo.predict("face.jpg")`` keeps working either way.
"""

import inspect
import sys
from types import ModuleType

from ._moved import forward
from .inference import api as _api

__all__, __getattr__ = forward(
    "fakezoo.predict",
    ["fakezoo.inference.api", "fakezoo.inference.detector", "fakezoo.inference.prediction"],
    [
        "CPU_FORWARD_BATCH",
        "DEFAULT_MODEL",
        "MODEL_ENV",
        "Detector",
        "Prediction",
        "clear_cache",
        "load",
        "predict",
    ],
)


class _CallableModule(ModuleType):
    """This module, callable as :func:`fakezoo.inference.api.predict`."""

    def __call__(self, *args, **kwargs):
        return _api.predict(*args, **kwargs)


__signature__ = inspect.signature(_api.predict)
sys.modules[__name__].__class__ = _CallableModule
