"""fakezoo: a model zoo of ImageNet backbones that tell real face images from deepfakes.

Example:
    ```python
    import fakezoo
    model = fakezoo.create("resnet50", finetune=True)        # timm model + policy + preprocessing
    data = fakezoo.load_dataset("faces/")                     # real/ and fake/ folders, or a CSV
    cv = fakezoo.CrossValidator(epochs=3)
    found = fakezoo.optuna_lr_search("resnet50", data, n_trials=20, cv=cv, out_dir="runs/r50")
    fakezoo.predict("face.jpg", model="runs/r50")
    ```
"""

# Public names resolve on first use (PEP 562), so that `import fakezoo` and `fakezoo --help`
# load no torch, timm, optuna, sklearn or matplotlib. Type checkers and IDEs read the block below.
from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from ._version import __version__

if TYPE_CHECKING:
    from .data import Dataset, load_dataset, make_folds
    from .evaluate.api import EvalResult, EvalSuite, evaluate, evaluate_many
    from .hub.push import push_to_hub
    from .inference.api import load, predict
    from .inference.detector import Detector
    from .inference.prediction import Prediction
    from .models.build import create
    from .models.registry import get_spec, list_models
    from .runs.loader import load_run
    from .synth.blend import self_blend
    from .synth.demo import make_demo_dataset
    from .train.cv import CrossValidator, CVResult
    from .train.tune import LRSearchResult, optuna_lr_search

# public name -> the submodule (relative to fakezoo) that defines it
_EXPORTS = {
    "CVResult": "train.cv",
    "CrossValidator": "train.cv",
    "Dataset": "data",
    "Detector": "inference.detector",
    "EvalResult": "evaluate.api",
    "EvalSuite": "evaluate.api",
    "LRSearchResult": "train.tune",
    "Prediction": "inference.prediction",
    "create": "models.build",
    "evaluate": "evaluate.api",
    "evaluate_many": "evaluate.api",
    "get_spec": "models.registry",
    "list_models": "models.registry",
    "load": "inference.api",
    "load_dataset": "data",
    "load_run": "runs.loader",
    "make_demo_dataset": "synth.demo",
    "make_folds": "data",
    "optuna_lr_search": "train.tune",
    "predict": "inference.api",
    "push_to_hub": "hub.push",
    "self_blend": "synth.blend",
}

__all__ = [  # a literal, for tools that read it statically
    "CVResult",
    "CrossValidator",
    "Dataset",
    "Detector",
    "EvalResult",
    "EvalSuite",
    "LRSearchResult",
    "Prediction",
    "__version__",
    "create",
    "evaluate",
    "evaluate_many",
    "get_spec",
    "list_models",
    "load",
    "load_dataset",
    "load_run",
    "make_demo_dataset",
    "make_folds",
    "optuna_lr_search",
    "predict",
    "push_to_hub",
    "self_blend",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'fakezoo' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value  # resolve once; later lookups are plain attribute reads
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
