"""Study-style reports, study tables and plots from cross-validation results.

Everything here works on plain dicts: the ``CVResult.to_dict()`` shape::

    {"model": "resnet50", "finetune": True, "lr": 0.00084, "epochs": 3, "n_splits": 3,
     "seed": 0, "image_size": 224, "pretrained": True,
     "folds": [{"fold": 1, "metrics": <binary_metrics dict>, "n_train": ..., "n_val": ...,
                "seconds": ..., "y_true": [...], "y_prob": [...]}, ...],
     "summary": <summarize_folds dict>,
     "deviations": ["image_size 64 instead of 224", ...]}

``summary`` is recomputed from the folds when it is missing, and every other setting is optional.

Plots need the optional ``plots`` extra (``pip install 'fakezoo[plots]'``). Matplotlib is imported
only inside the plotting functions, and figures are drawn on their own Agg canvas (scikit-learn's
``ConfusionMatrixDisplay`` and ``RocCurveDisplay`` draw onto those axes), never as pyplot
figures, so the caller's matplotlib backend and global figure state are left alone. The
``*_figure`` functions return the Figure itself (to inspect or restyle); the ``plot_*`` functions
write it as a PNG.
"""

from .plots import (
    lr_search_figure,
    plot_confusion_matrix,
    plot_lr_search,
    plot_roc,
    plot_roc_curves,
    plot_study,
    roc_curves_figure,
)
from .study_numbers import DISPLAY_NAMES, STUDY_NUMBERS, display_name
from .text import (
    cv_report,
    fold_block,
    study_comparison_markdown,
    study_table,
    table_csv,
    table_markdown,
)

__all__ = [
    "DISPLAY_NAMES",
    "STUDY_NUMBERS",
    "cv_report",
    "display_name",
    "fold_block",
    "lr_search_figure",
    "plot_confusion_matrix",
    "plot_lr_search",
    "plot_roc",
    "plot_roc_curves",
    "plot_study",
    "roc_curves_figure",
    "study_comparison_markdown",
    "study_table",
    "table_csv",
    "table_markdown",
]
