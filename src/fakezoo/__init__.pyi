# The public names of fakezoo and the module each one lives in. Type checkers and the API docs
# read this stub; at run time lazy_loader reads it too, so each name is imported on first use.
from ._version import __version__ as __version__
from .data.dataset import Dataset as Dataset
from .data.discovery import load_dataset as load_dataset
from .data.folds import make_folds as make_folds
from .evaluation.api import evaluate as evaluate
from .evaluation.api import evaluate_many as evaluate_many
from .evaluation.results import EvalResult as EvalResult
from .evaluation.results import EvalSuite as EvalSuite
from .hub.push import push_to_hub as push_to_hub
from .inference.api import load as load
from .inference.api import predict as predict
from .inference.detector import Detector as Detector
from .inference.prediction import Prediction as Prediction
from .models.build import create as create
from .models.registry import get_spec as get_spec
from .models.registry import list_models as list_models
from .runs.loader import load_run as load_run
from .synth.blend import self_blend as self_blend
from .synth.demo import make_demo_dataset as make_demo_dataset
from .train.cv import CrossValidator as CrossValidator
from .train.results import CVResult as CVResult
from .train.settings import TrainSettings as TrainSettings
from .train.tune import LRSearchResult as LRSearchResult
from .train.tune import optuna_lr_search as optuna_lr_search

__all__ = [
    "CVResult",
    "CrossValidator",
    "Dataset",
    "Detector",
    "EvalResult",
    "EvalSuite",
    "LRSearchResult",
    "Prediction",
    "TrainSettings",
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
