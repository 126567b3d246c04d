from .api import evaluate as evaluate
from .api import evaluate_many as evaluate_many
from .perturb import Perturbation as Perturbation
from .perturb import parse_perturbations as parse_perturbations
from .results import CLEAN as CLEAN
from .results import EvalResult as EvalResult
from .results import EvalSuite as EvalSuite

__all__ = [
    "CLEAN",
    "EvalResult",
    "EvalSuite",
    "Perturbation",
    "evaluate",
    "evaluate_many",
    "parse_perturbations",
]
