"""Sharing cross-validation runs on the Hugging Face Hub, and loading them back.

A run directory written by :meth:`fakezoo.train.cv.CrossValidator.run` is pushed as one commit with
a generated model card, and pulled back at a pinned revision. Loading is deliberately narrow:

* only ``config.json``, ``results.json``, ``report.md``, ``README.md`` and each fold's
  ``config.json`` and ``model.safetensors`` are ever downloaded;
* weights are read with safetensors only: nothing is unpickled, imported or executed;
* each fold is rebuilt from fakezoo's own model specs with ``pretrained=False`` (the config only
  names a known zoo model and known modules) and then loaded strictly.

The code lives in :mod:`fakezoo.hub.download`, :mod:`fakezoo.hub.push`, :mod:`fakezoo.hub.card`
and (reading, checking and loading runs) :mod:`fakezoo.runs.loader`; the names below are found
here too, loaded on first use.
"""

import importlib
from typing import Any

__all__ = [
    "PULL_PATTERNS",
    "PUSH_PATTERNS",
    "FoldModel",
    "HubAuthError",
    "HubFileNotFoundError",
    "HubUnavailableError",
    "LoadedRun",
    "RunFormatError",
    "load_fold",
    "load_run",
    "model_card",
    "push_to_hub",
    "read_run",
    "resolve_run",
]

_WHERE = {
    **dict.fromkeys(
        [
            "PULL_PATTERNS",
            "PICKLE_SUFFIXES",
            "FoldModel",
            "LoadedRun",
            "load_fold",
            "load_run",
            "read_run",
            "resolve_run",
        ],
        "fakezoo.runs.loader",
    ),
    **dict.fromkeys(
        ["HubAuthError", "HubFileNotFoundError", "HubUnavailableError", "RunFormatError"],
        "fakezoo.errors",
    ),
    **dict.fromkeys(["PUSH_PATTERNS", "push_to_hub"], "fakezoo.hub.push"),
    "model_card": "fakezoo.hub.card",
}


def __getattr__(name: str) -> Any:
    # Lazy: fakezoo.runs.loader imports torch and fakezoo.hub.download, so importing it here
    # eagerly would make `import fakezoo.hub.download` import torch and a cycle.
    if name not in _WHERE:
        raise AttributeError(f"module 'fakezoo.hub' has no attribute '{name}'")
    value = getattr(importlib.import_module(_WHERE[name]), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_WHERE))
