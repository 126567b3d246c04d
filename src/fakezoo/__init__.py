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

from ._version import __version__
from .data import Dataset, load_dataset, make_folds
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

__all__ = [
    "CVResult",
    "CrossValidator",
    "Dataset",
    "Detector",
    "LRSearchResult",
    "Prediction",
    "__version__",
    "create",
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
