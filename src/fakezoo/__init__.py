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

__version__ = "0.1.0"

from .cv import CrossValidator, CVResult
from .data import (
    Dataset,
    load_dataset,
    make_demo_dataset,
    make_folds,
    self_blend,
)
from .hub import load_run, push_to_hub
from .predict import Detector, Prediction, load, predict
from .tune import LRSearchResult, optuna_lr_search
from .zoo import create, get_spec, list_models

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
