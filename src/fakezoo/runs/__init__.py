"""Run directories: their format ([`fakezoo.runs.schema`][fakezoo.runs.schema]), writing them
([`fakezoo.runs.writer`][fakezoo.runs.writer]), and reading, checking and loading them, from a
folder or a Hub repo ([`fakezoo.runs.loader`][fakezoo.runs.loader]).

Loading is deliberately narrow:

* only `config.json`, `results.json`, `report.md`, `README.md` and each fold's `config.json`
  and `model.safetensors` are ever downloaded
  ([`PULL_PATTERNS`][fakezoo.runs.loader.PULL_PATTERNS]);
* weights are read with safetensors only: nothing is unpickled, imported or executed;
* each fold is rebuilt from fakezoo's own model specs with `pretrained=False` (the config only
  names a known zoo model and known modules) and then loaded strictly.

The names below load their modules on first use (`fakezoo.runs.schema` imports no torch).
"""

import lazy_loader

__getattr__, __dir__, __all__ = lazy_loader.attach_stub(__name__, __file__)
