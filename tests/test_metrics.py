"""Tests for fakezoo.metrics, including a check of every number the study printed."""

from __future__ import annotations

import inspect
import json
import math
import re
import textwrap
import warnings

import numpy as np
import pytest
from sklearn.metrics import average_precision_score, roc_auc_score
from study_data import STUDY_RUNS

from fakezoo import metrics
from fakezoo.metrics import (
    METRIC_NAMES,
    binary_metrics,
    equal_error_rate,
    metrics_from_confusion,
    roc_points,
    summarize_folds,
)

STUDY_METRICS = ("accuracy", "precision", "recall", "f1")

# Where the study's printed numbers do not follow from its own printed confusion matrices.
# Keys are (fakezoo model name, finetune). Every fold of every row reproduces; only averages
# listed here do not.
KNOWN_STUDY_INCONSISTENCIES: dict[tuple[str, bool], str] = {
    ("vgg16", False): (
        "VGG-16 without fine-tuning: the printed 'Average Performance' block (accuracy 0.5943, "
        "precision 0.6244, recall 0.5943, F1 0.5810, average confusion matrix [[240.67, 79.33], "
        "[196.67, 163.67]]) is not the mean of the three printed folds, which give accuracy "
        "0.5835, precision 0.6381, F1 0.5573 and mean matrix [[271.33, 48.67], [234.67, 125.67]]. "
        "The printed average matrix does give accuracy 0.5943, so the averages look like they "
        "come from a different run of ~680-image folds. fakezoo reports the computed values."
    ),
}


def _key(run: dict) -> tuple[str, bool]:
    return (run["model"], run["finetune"])


def _run_id(run: dict) -> str:
    return f"{run['model']}-{'with' if run['finetune'] else 'without'}"


STUDY_FOLDS = [
    pytest.param(run, fold, id=f"{_run_id(run)}-fold{fold['fold']}")
    for run in STUDY_RUNS
    for fold in run["folds"]
]
STUDY_RUN_PARAMS = [pytest.param(run, id=_run_id(run)) for run in STUDY_RUNS]
CONSISTENT_RUNS = [
    pytest.param(run, id=_run_id(run))
    for run in STUDY_RUNS
    if _key(run) not in KNOWN_STUDY_INCONSISTENCIES
]


def _fmt4(x: float) -> str:
    return f"{x:.4f}"


# --------------------------------------------------------------------------- the study


def test_study_transcription_shape():
    assert len(STUDY_RUNS) == 12
    assert len({_key(r) for r in STUDY_RUNS}) == 12
    for run in STUDY_RUNS:
        assert len(run["folds"]) == 3
        assert [f["fold"] for f in run["folds"]] == [1, 2, 3]
        for fold in run["folds"]:
            # Weighted recall is accuracy; the study prints them equal on every fold.
            assert fold["recall"] == fold["accuracy"]
        assert run["average"]["recall"] == run["average"]["accuracy"]


@pytest.mark.parametrize(("run", "fold"), STUDY_FOLDS)
def test_study_fold_metrics_reproduce(run, fold):
    """Every printed fold metric follows from its printed confusion matrix (4 decimals)."""
    m = metrics_from_confusion(fold["confusion_matrix"])
    for name in STUDY_METRICS:
        assert _fmt4(m[name]) == _fmt4(fold[name]), (name, m[name], fold[name])
        assert abs(m[name] - fold[name]) <= 5e-5 + 1e-12
    assert m["recall"] == pytest.approx(m["accuracy"], abs=1e-12)
    assert m["confusion_matrix"] == fold["confusion_matrix"]


def test_study_fold_sizes():
    """Documents the study's fold sizes: 3635 images per fold, except VGG-16 without (680-681).

    3 x 3635 = 10905 images, not the 10,000 the study describes, and the per-fold class counts
    (1864/1771, 1834/1801, 1794/1841 real/fake) are the same in every row.
    """
    for run in STUDY_RUNS:
        sizes = [int(np.sum(f["confusion_matrix"])) for f in run["folds"]]
        if _key(run) == ("vgg16", False):
            assert sizes == [681, 680, 680]
        else:
            assert sizes == [3635, 3635, 3635]
            support = [np.sum(f["confusion_matrix"], axis=1).tolist() for f in run["folds"]]
            assert support == [[1864, 1771], [1834, 1801], [1794, 1841]]


@pytest.mark.parametrize("run", CONSISTENT_RUNS)
def test_study_averages_reproduce(run):
    """summarize_folds gives the printed averages and average confusion matrix."""
    folds = [metrics_from_confusion(f["confusion_matrix"]) for f in run["folds"]]
    s = summarize_folds(folds)
    assert s["n_folds"] == 3
    for name in STUDY_METRICS:
        assert _fmt4(s["mean"][name]) == _fmt4(run["average"][name]), name
    np.testing.assert_allclose(
        s["confusion_matrix_mean"], run["average_confusion_matrix"], atol=1e-6
    )
    assert (
        s["confusion_matrix_sum"]
        == np.sum([f["confusion_matrix"] for f in run["folds"]], axis=0).tolist()
    )


def test_study_vgg16_without_averages_do_not_match_its_folds():
    """The study's one known inconsistency: printed 0.5943, 0.5835 computed from its folds."""
    (run,) = [r for r in STUDY_RUNS if _key(r) == ("vgg16", False)]
    assert ("vgg16", False) in KNOWN_STUDY_INCONSISTENCIES
    s = summarize_folds([metrics_from_confusion(f["confusion_matrix"]) for f in run["folds"]])

    assert run["average"]["accuracy"] == 0.5943
    assert _fmt4(s["mean"]["accuracy"]) == "0.5835"
    assert _fmt4(s["mean"]["precision"]) == "0.6381"
    assert _fmt4(s["mean"]["recall"]) == "0.5835"
    assert _fmt4(s["mean"]["f1"]) == "0.5573"
    for name in STUDY_METRICS:
        assert abs(s["mean"][name] - run["average"][name]) > 0.005, name
    # The computed means are the means of the printed fold values (so the folds are fine) ...
    for name in STUDY_METRICS:
        printed_mean = np.mean([f[name] for f in run["folds"]])
        assert abs(s["mean"][name] - printed_mean) < 1e-4
    # ... and the printed average matrix is not their mean either.
    np.testing.assert_allclose(
        s["confusion_matrix_mean"], [[814 / 3, 146 / 3], [704 / 3, 377 / 3]], atol=1e-9
    )
    assert not np.allclose(s["confusion_matrix_mean"], run["average_confusion_matrix"], atol=1)
    # The printed average block agrees with itself on accuracy: (240.67 + 163.67) / 680.33.
    avg_cm = np.asarray(run["average_confusion_matrix"])
    assert _fmt4(np.trace(avg_cm) / avg_cm.sum()) == "0.5943"


def test_every_study_row_is_either_consistent_or_documented():
    for run in STUDY_RUNS:
        s = summarize_folds([metrics_from_confusion(f["confusion_matrix"]) for f in run["folds"]])
        ok = all(_fmt4(s["mean"][n]) == _fmt4(run["average"][n]) for n in STUDY_METRICS)
        assert ok == (_key(run) not in KNOWN_STUDY_INCONSISTENCIES), _run_id(run)


# --------------------------------------------------------------------------- binary_metrics


def test_binary_metrics_basic_and_json():
    y_true = [0, 0, 0, 1, 1, 1, 1]
    y_pred = [0, 1, 0, 1, 1, 0, 1]
    y_prob = [0.2, 0.7, 0.1, 0.9, 0.6, 0.4, 0.8]
    m = binary_metrics(y_true, y_pred, y_prob)
    assert m["confusion_matrix"] == [[2, 1], [1, 3]]
    assert m["n"] == 7
    assert m["accuracy"] == pytest.approx(5 / 7)
    # Weighted by support 3 (real) and 4 (fake): real P=2/3 R=2/3, fake P=3/4 R=3/4.
    assert m["precision"] == pytest.approx((3 * 2 / 3 + 4 * 3 / 4) / 7)
    assert m["balanced_accuracy"] == pytest.approx((2 / 3 + 3 / 4) / 2)
    assert set(METRIC_NAMES) <= set(m)
    json.dumps(m)  # plain Python types only
    assert all(type(m[k]) is float for k in METRIC_NAMES)
    assert all(type(v) is int for row in m["confusion_matrix"] for v in row)
    assert type(m["n"]) is int


def test_binary_metrics_without_probs_has_no_prob_metrics():
    m = binary_metrics([0, 1], [0, 1])
    assert "roc_auc" not in m and "eer" not in m and "average_precision" not in m
    assert m["accuracy"] == 1.0


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_weighted_recall_equals_accuracy(seed):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 2, 200)
    y_pred = np.where(rng.random(200) < 0.7, y_true, 1 - y_true)
    y_pred[:5] = 1  # some imbalance in predictions
    m = binary_metrics(y_true, y_pred)
    assert m["recall"] == pytest.approx(m["accuracy"], abs=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_auc_and_ap_match_sklearn(seed):
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 2, 300)
    y_prob = np.clip(0.3 * y_true + rng.random(300) * 0.7, 0, 1)
    y_prob[:20] = np.round(y_prob[:20], 1)  # some ties
    m = binary_metrics(y_true, (y_prob >= 0.5).astype(int), y_prob)
    assert m["roc_auc"] == pytest.approx(roc_auc_score(y_true, y_prob), abs=1e-12)
    assert m["average_precision"] == pytest.approx(
        average_precision_score(y_true, y_prob), abs=1e-12
    )
    assert 0.0 <= m["eer"] <= 1.0


def test_labels_always_both_classes():
    m = binary_metrics([0, 0, 0], [0, 0, 0])
    assert m["confusion_matrix"] == [[3, 0], [0, 0]]
    assert m["accuracy"] == 1.0 and m["balanced_accuracy"] == 1.0
    m = binary_metrics([1, 1], [0, 0])
    assert m["confusion_matrix"] == [[0, 0], [2, 0]]
    assert m["accuracy"] == 0.0 and m["precision"] == 0.0 and m["f1"] == 0.0


def test_one_class_gives_none_without_warnings():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        m = binary_metrics([1, 1, 1], [1, 0, 1], [0.9, 0.2, 0.8])
    assert m["roc_auc"] is None and m["eer"] is None and m["average_precision"] is None
    json.dumps(m)
    assert equal_error_rate([0, 0], [0.1, 0.2]) is None


def test_accepts_bools_floats_and_numpy():
    a = binary_metrics(np.array([True, False, True]), [1.0, 0.0, 0.0], np.array([0.9, 0.1, 0.4]))
    b = binary_metrics([1, 0, 1], [1, 0, 0], [0.9, 0.1, 0.4])
    assert a == b


# --------------------------------------------------------------------------- EER


def test_eer_perfectly_separable_is_zero():
    assert equal_error_rate([0, 0, 0, 1, 1], [0.0, 0.1, 0.3, 0.7, 1.0]) == 0.0
    m = binary_metrics([0, 1, 0, 1], [0, 1, 0, 1], [0.2, 0.8, 0.4, 0.6])
    assert m["eer"] == 0.0 and m["roc_auc"] == 1.0


def test_eer_perfectly_wrong_is_one():
    assert equal_error_rate([0, 0, 1, 1], [0.9, 0.8, 0.2, 0.1]) == 1.0


def test_eer_hand_computed_exact_point():
    # Thresholds 0.9, 0.6, 0.4, 0.1 give (FPR, FNR) = (0, .5), (.5, .5), (.5, 0), (1, 0):
    # FPR == FNR at threshold 0.6.
    assert equal_error_rate([0, 0, 1, 1], [0.1, 0.6, 0.4, 0.9]) == pytest.approx(0.5)


def test_eer_hand_computed_interpolated_diagonal():
    # One real and one fake image tie at 0.5. ROC points: (FPR, FNR) = (0, 1) at inf,
    # (0, .5) at 0.8, (.5, 0) at 0.5. FNR - FPR goes .5 -> -.5, crossing halfway:
    # FPR = 0 + .5 * .5 = .25, FNR = .5 - .5 * .5 = .25.
    assert equal_error_rate([0, 0, 1, 1], [0.2, 0.5, 0.5, 0.8]) == pytest.approx(0.25)


def test_eer_hand_computed_interpolated_vertical():
    # Real scores .1 .2 .3 .6, fake .5 .9. ROC: (FPR, FNR) = (0, .5) at .9, (.25, .5) at .6,
    # (.25, 0) at .5. FNR - FPR goes .25 -> -.25; the crossing is at FPR = .25 with FNR .25.
    y_true = [0, 0, 0, 0, 1, 1]
    y_prob = [0.1, 0.2, 0.3, 0.6, 0.5, 0.9]
    assert equal_error_rate(y_true, y_prob) == pytest.approx(0.25)


def test_eer_is_where_fpr_meets_fnr_on_random_data():
    rng = np.random.default_rng(3)
    y_true = rng.integers(0, 2, 400)
    y_prob = np.clip(0.25 * y_true + rng.random(400) * 0.75, 0, 1)
    eer = equal_error_rate(y_true, y_prob)
    fpr, tpr, _ = roc_points(y_true, y_prob)
    fnr = 1 - tpr
    # The EER lies between the FPR (and FNR) values of the two points bracketing the crossing.
    i = int(np.argmax(fnr - fpr <= 0))
    assert min(fpr[i - 1], fpr[i]) <= eer <= max(fpr[i - 1], fpr[i])
    assert min(fnr[i - 1], fnr[i]) <= eer <= max(fnr[i - 1], fnr[i])


def test_roc_points_needs_both_classes():
    with pytest.raises(ValueError, match="single class"):
        roc_points([1, 1], [0.2, 0.3])


# --------------------------------------------------------------------------- validation


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (([0, 1, 1], [0, 1]), "equal lengths.*y_true=3.*y_pred=2"),
        (([0, 1], [0, 1], [0.5]), "equal lengths.*y_prob=1"),
        (([0, 2], [0, 1]), "y_true must only hold 0.*1.*found \\[2\\]"),
        (([0, 1], [0, -1]), "y_pred must only hold"),
        (([0, 1], [0, 0.5]), "y_pred must only hold"),
        ((["real", "fake"], [0, 1]), "y_true must hold numeric"),
        (([0, 1], [0, 1], [0.2, 1.5]), "y_prob must be probabilities in \\[0, 1\\]"),
        (([0, 1], [0, 1], [-0.1, 0.5]), "y_prob must be probabilities"),
        (([0, 1], [0, 1], [0.2, float("nan")]), "y_prob must be finite"),
        (([0, 1], [0, 1], [[0.8, 0.2], [0.3, 0.7]]), "y_prob must be a 1-D"),
        (([0, 1], [0, 1], ["a", "b"]), "y_prob must be numeric"),
        (([], []), "y_true is empty"),
        (([[0, 1]], [[0, 1]]), "y_true must be a 1-D"),
    ],
)
def test_binary_metrics_validation(args, match):
    with pytest.raises(ValueError, match=match):
        binary_metrics(*args)


@pytest.mark.parametrize(
    ("cm", "match"),
    [
        ([[1, 2, 3], [4, 5, 6]], "2x2"),
        ([[1, -1], [0, 2]], "non-negative integer"),
        ([[1.5, 1], [0, 2]], "non-negative integer"),
        ([[0, 0], [0, 0]], "no samples"),
    ],
)
def test_metrics_from_confusion_validation(cm, match):
    with pytest.raises(ValueError, match=match):
        metrics_from_confusion(cm)


def test_metrics_from_confusion_accepts_integral_floats():
    assert metrics_from_confusion([[3.0, 1.0], [0.0, 4.0]]) == metrics_from_confusion(
        [[3, 1], [0, 4]]
    )


# --------------------------------------------------------------------------- summarize_folds


def test_summarize_folds_mean_std_and_none():
    folds = [
        binary_metrics([0, 0, 1, 1], [0, 0, 1, 1], [0.1, 0.2, 0.8, 0.9]),  # acc 1.0
        binary_metrics([0, 0, 1, 1], [0, 1, 1, 0], [0.1, 0.6, 0.8, 0.4]),  # acc 0.5
        binary_metrics([1, 1, 1, 1], [1, 1, 1, 0], [0.9, 0.8, 0.7, 0.2]),  # one class, acc .75
    ]
    s = summarize_folds(folds)
    assert s["n_folds"] == 3
    assert s["mean"]["accuracy"] == pytest.approx(0.75)
    assert s["std"]["accuracy"] == pytest.approx(np.std([1.0, 0.5, 0.75]))  # ddof=0
    assert s["std"]["accuracy"] == pytest.approx(math.sqrt(((0.25**2) * 2) / 3))
    # roc_auc is None on the one-class fold and skipped.
    aucs = [folds[0]["roc_auc"], folds[1]["roc_auc"]]
    assert s["mean"]["roc_auc"] == pytest.approx(np.mean(aucs))
    assert s["std"]["roc_auc"] == pytest.approx(np.std(aucs))
    assert s["confusion_matrix_sum"] == [[3, 1], [2, 6]]
    assert s["confusion_matrix_mean"] == pytest.approx(np.array([[1, 1 / 3], [2 / 3, 2]]))
    json.dumps(s)
    assert set(s["mean"]) == set(METRIC_NAMES) == set(s["std"])


def test_summarize_folds_all_none_and_missing():
    folds = [binary_metrics([1, 1], [1, 1], [0.9, 0.8]), binary_metrics([0, 0], [0, 1])]
    s = summarize_folds(folds)
    assert s["mean"]["roc_auc"] is None and s["std"]["roc_auc"] is None
    assert s["mean"]["eer"] is None
    assert s["mean"]["accuracy"] == pytest.approx(0.75)
    assert type(s["confusion_matrix_sum"][0][0]) is int
    assert type(s["confusion_matrix_mean"][0][0]) is float


def test_summarize_folds_accepts_cv_fold_entries():
    m = metrics_from_confusion([[5, 1], [2, 4]])
    assert summarize_folds([{"fold": 1, "metrics": m}]) == summarize_folds([m])


def test_summarize_folds_errors():
    with pytest.raises(ValueError, match="empty"):
        summarize_folds([])
    with pytest.raises(ValueError, match="confusion_matrix"):
        summarize_folds([{"accuracy": 0.5}])


# --------------------------------------------------------------------------- docs


def _examples(obj) -> list[str]:
    return [textwrap.dedent(b) for b in re.findall(r"```python\n(.*?)```", obj.__doc__, re.S)]


@pytest.mark.parametrize("name", [n for n in metrics.__all__ if callable(getattr(metrics, n))])
def test_docstring_examples_run(name):
    obj = getattr(metrics, name)
    assert inspect.getdoc(obj) and "Example:" in obj.__doc__
    blocks = _examples(obj)
    assert blocks, f"{name} has no ```python example"
    for block in blocks:
        exec(compile(block, f"<{name} example>", "exec"), {})
