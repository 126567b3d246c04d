"""Tests for fakezoo.report: study-style text, study tables, comparison with the study and plots."""

from __future__ import annotations

import csv
import io
import json
import re
import sys
import textwrap

import numpy as np
import pytest
from study_data import STUDY_FINAL_TABLE, STUDY_RUNS

from fakezoo import report
from fakezoo.metrics import (
    METRIC_NAMES,
    binary_metrics,
    metrics_from_confusion,
    roc_points,
    summarize_folds,
)
from fakezoo.report import (
    DISPLAY_NAMES,
    STUDY_NUMBERS,
    cv_report,
    fold_block,
    study_comparison_markdown,
    study_table,
    table_csv,
    table_markdown,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _probs_fold(fold_id: int, seed: int, n: int = 60) -> dict:
    rng = np.random.default_rng(seed)
    y_true = rng.integers(0, 2, n)
    y_true[:2] = [0, 1]
    y_prob = np.clip(0.35 * y_true + 0.65 * rng.random(n), 0, 1)
    y_pred = (y_prob >= 0.5).astype(int)
    return {
        "fold": fold_id,
        "metrics": binary_metrics(y_true, y_pred, y_prob),
        "n_train": 2 * n,
        "n_val": n,
        "seconds": 1.5,
        "y_true": y_true.tolist(),
        "y_prob": y_prob.tolist(),
    }


def study_result(run: dict, deviations: list[str] | None = None) -> dict:
    """A CVResult.to_dict()-shaped result built from one study row's confusion matrices."""
    folds = [
        {
            "fold": f["fold"],
            "metrics": metrics_from_confusion(f["confusion_matrix"]),
            "n_train": 7270,
            "n_val": int(np.sum(f["confusion_matrix"])),
            "seconds": 10.0,
        }
        for f in run["folds"]
    ]
    return {
        "model": run["model"],
        "finetune": run["finetune"],
        "lr": run["lr"],
        "epochs": 3,
        "n_splits": 3,
        "seed": 0,
        "image_size": 299 if run["model"] == "inception_v3" else 224,
        "pretrained": True,
        "folds": folds,
        "summary": summarize_folds([f["metrics"] for f in folds]),
        "deviations": deviations or [],
    }


def prob_result() -> dict:
    folds = [_probs_fold(i + 1, seed=i) for i in range(3)]
    return {
        "model": "vit_b_16",
        "finetune": True,
        "lr": 5e-4,
        "folds": folds,
        "summary": summarize_folds([f["metrics"] for f in folds]),
        "deviations": [],
    }


@pytest.fixture(scope="module")
def study_results() -> list[dict]:
    return [study_result(run) for run in STUDY_RUNS]


def _resnet50_ft(results: list[dict]) -> dict:
    return next(r for r in results if r["model"] == "resnet50" and r["finetune"])


# --------------------------------------------------------------------------- fold_block / report


def test_fold_block_numbers(study_results):
    result = _resnet50_ft(study_results)
    run = next(r for r in STUDY_RUNS if r["model"] == "resnet50" and r["finetune"])
    text = fold_block(result)
    assert text.startswith("### ResNet-50 with fine-tuning\n")
    assert "Learning rate: 0.000845223" in text
    # Every printed fold value of the study appears, to 4 decimals.
    for fold in run["folds"]:
        for name in ("accuracy", "precision", "recall", "f1"):
            assert f"{fold[name]:.4f}" in text
    # Each fold row carries its numbers and confusion matrix.
    assert "| 1 | 3635 | 0.9307 | 0.9309 | 0.9307 | 0.9306 |" in text
    assert "[[1760, 104], [148, 1623]]" in text
    # mean ± std row, from the summary (population std).
    s = result["summary"]
    for name in ("accuracy", "precision", "recall", "f1"):
        assert f"{s['mean'][name]:.4f} ± {s['std'][name]:.4f}" in text
    assert "0.9298 ± 0.0008" in text and "0.9312 ± 0.0009" in text
    # The mean confusion matrix, like the study's "Average Confusion Matrix".
    assert "| **true real** | 1750.33 | 80.33 |" in text
    assert "| **true fake** | 174.67 | 1629.67 |" in text
    assert "Summed over folds: [[5251, 241], [524, 4889]]" in text
    # No probabilities: no ROC-AUC / EER columns, no deviations section.
    assert "ROC-AUC" not in text and "EER" not in text
    assert "Deviations" not in text


def test_fold_block_with_probs_and_deviations():
    result = prob_result()
    result["deviations"] = ["image_size 64 instead of 224", "1 epoch"]
    text = fold_block(result)
    assert text.startswith("### VIT (Vision Transformer) with fine-tuning")
    assert "| ROC-AUC | EER | AP |" in text
    s = result["summary"]
    for name in ("roc_auc", "eer", "average_precision"):
        assert f"{s['mean'][name]:.4f} ± {s['std'][name]:.4f}" in text
        for fold in result["folds"]:
            assert f"{fold['metrics'][name]:.4f}" in text
    assert "Deviations from the study protocol:" in text
    assert "- image_size 64 instead of 224\n- 1 epoch" in text


def test_fold_block_without_summary_or_lr(study_results):
    result = dict(_resnet50_ft(study_results))
    expected = fold_block(result)
    del result["summary"]
    assert fold_block(result) == expected
    result["lr"] = None
    assert "Learning rate: n/a" in fold_block(result)
    with pytest.raises(ValueError, match="summary"):
        fold_block({"model": "vgg16", "finetune": True, "folds": []})


def test_fold_block_without_fine_tuning_title(study_results):
    result = next(r for r in study_results if r["model"] == "densenet121" and not r["finetune"])
    assert fold_block(result).startswith("### DenseNet-121 without fine-tuning\n")


def test_cv_report(study_results):
    result = _resnet50_ft(study_results)
    text = cv_report(result)
    assert text.startswith("# ResNet-50 with fine-tuning\n")
    assert "| model | `resnet50` (ResNet-50) |" in text
    assert "| epochs | 3 |" in text and "| image size | 224 |" in text
    assert "| pretrained weights | yes |" in text
    assert fold_block(result).strip() in text
    assert "0.9298 ± 0.0008" in text
    # Label convention and metric notes.
    assert "real = 0" in text and "fake = 1" in text
    assert 'average="weighted"' in text and "ddof=0" in text
    assert "EER" in text
    # The comparison block for a row the study has.
    assert "## Compared with the study" in text
    assert "| the study (printed) | 92.98% | 93.12% | 92.98% | 92.98% |" in text


def test_cv_report_study_note_and_unknown_model(study_results):
    vgg = next(r for r in study_results if r["model"] == "vgg16" and not r["finetune"])
    text = cv_report(vgg)
    assert "| the study (printed) | 59.43% |" in text
    assert "| this run | 58.35% |" in text  # computed from the study's own folds
    assert "Note on the study's row" in text and "0.5835" in text

    other = dict(prob_result(), model="my_net", finetune=False)
    text = cv_report(other)
    assert text.startswith("# my_net without fine-tuning")
    assert "Compared with the study" not in text
    assert "| epochs |" not in text  # unknown settings are left out


# --------------------------------------------------------------------------- study table


def test_study_table_names_and_means(study_results):
    table = study_table(study_results)
    assert len(table) == 12
    assert [(r["model"], r["fine_tuning"]) for r in table] == [
        (s["model"], s["fine_tuning"]) for s in STUDY_FINAL_TABLE
    ]
    for row, result in zip(table, study_results, strict=True):
        assert row["model"] == DISPLAY_NAMES[result["model"]]
        assert row["model_id"] == result["model"]
        assert row["best_lr"] == result["lr"]
        assert row["n_folds"] == 3
        for name in METRIC_NAMES:
            assert row[name] == result["summary"]["mean"][name]
            assert row[f"{name}_std"] == result["summary"]["std"][name]
    json.dumps(table)


def test_study_table_all_display_names():
    expected = {
        "vgg16": "VGG16",
        "resnet50": "ResNet-50",
        "mobilenet_v2": "MobileNet",
        "densenet121": "DenseNet-121",
        "inception_v3": "Inception",
        "resnet50_mlp": "ResNet-50 (1 Layer)",
        "vit_b_16": "VIT (Vision Transformer)",
        "efficientnet_b0": "efficientnet_b0",  # unknown names pass through
    }
    base = prob_result()
    rows = study_table([dict(base, model=m) for m in expected])
    assert [r["model"] for r in rows] == list(expected.values())
    assert rows[0]["roc_auc"] == base["summary"]["mean"]["roc_auc"]
    assert rows[0]["fine_tuning"] == "With"


def test_table_markdown(study_results):
    table = study_table(study_results)
    md = table_markdown(table)
    lines = md.strip().splitlines()
    assert len(lines) == 2 + 12
    assert lines[0].startswith("| Model | Fine-Tuning | Best Learning Rate | Accuracy |")
    assert "Accuracy (mean ± std)" in lines[0]
    row = next(line for line in lines if line.startswith("| ResNet-50 | With |"))
    assert "| 8.45e-04 | 92.98% | 93.12% | 92.98% | 92.98% | n/a | 92.98 ± 0.08% |" in row
    # Computed VGG16 without (from its folds), not the study's printed 59.43%.
    assert "| VGG16 | Without | 1.75e-04 | 58.35% |" in md
    assert "2.51e-05" in md


def test_table_markdown_of_study_numbers_is_the_study_table():
    md = table_markdown(STUDY_NUMBERS)
    for printed in STUDY_FINAL_TABLE:
        cells = [f"{printed[k]:.2f}%" for k in ("accuracy", "precision", "recall", "f1")]
        prefix = f"| {printed['model']} | {printed['fine_tuning']} | {printed['best_lr']:.2e} | "
        assert prefix + " | ".join(cells) + " |" in md


def test_table_csv_round_trip(study_results):
    table = study_table(study_results) + study_table([prob_result()])
    text = table_csv(table)
    rows = list(csv.DictReader(io.StringIO(text)))
    assert len(rows) == len(table) == 13
    assert list(rows[0]) == list(table[0])
    for got, want in zip(rows, table, strict=True):
        assert got["model"] == want["model"] and got["fine_tuning"] == want["fine_tuning"]
        for key, value in want.items():
            if value is None:
                assert got[key] == ""
            elif isinstance(value, float):
                assert float(got[key]) == value  # full precision
            elif isinstance(value, int):
                assert int(got[key]) == value
    # A display name with a comma/parenthesis survives quoting.
    names = {r["model"] for r in rows}
    assert "ResNet-50 (1 Layer)" in names and "VIT (Vision Transformer)" in names


# --------------------------------------------------------------------------- the study's rows


def test_study_rows_match_independent_transcription():
    """report.STUDY_NUMBERS and tests/study_data.STUDY_FINAL_TABLE were typed separately."""
    assert len(STUDY_NUMBERS) == len(STUDY_FINAL_TABLE) == 12
    for row, printed in zip(STUDY_NUMBERS, STUDY_FINAL_TABLE, strict=True):
        assert (row["model"], row["fine_tuning"]) == (printed["model"], printed["fine_tuning"])
        assert row["best_lr"] == printed["best_lr"]
        for key in ("accuracy", "precision", "recall", "f1"):
            assert round(100 * row[key], 2) == printed[key], (row["model"], key)


def test_study_final_table_vs_its_average_blocks():
    """The final table repeats the average blocks, except one precision (documented)."""
    mismatches = []
    for run, row in zip(STUDY_RUNS, STUDY_NUMBERS, strict=True):
        assert (run["model"], run["finetune"]) == (row["model_id"], row["finetune"])
        for key in ("accuracy", "precision", "recall", "f1"):
            if round(100 * run["average"][key], 2) != round(100 * row[key], 2):
                mismatches.append((row["model"], row["fine_tuning"], key))
        # The table's LR is the row's best LR to 9 decimals or 3 significant digits.
        assert abs(row["best_lr"] - run["lr"]) <= max(1e-9, 0.005 * run["lr"])
    # "ResNet-50 (1 Layer)": table 93.10%, average block 0.9300 (and its folds give 0.9300).
    assert mismatches == [("ResNet-50 (1 Layer)", "With", "precision")]
    assert "note" in STUDY_NUMBERS[10] and "93.10%" in STUDY_NUMBERS[10]["note"]
    assert "0.5835" in STUDY_NUMBERS[0]["note"]
    assert [i for i, r in enumerate(STUDY_NUMBERS) if "note" in r] == [0, 10]


def test_study_comparison_markdown(study_results):
    table = study_table(study_results)
    md = study_comparison_markdown(table)
    for printed in STUDY_FINAL_TABLE:
        for key in ("accuracy", "precision", "recall", "f1"):
            assert f"{printed[key]:.2f}%" in md
    vgg = next(line for line in md.splitlines() if line.startswith("| VGG16 [1] | Without |"))
    # yours (computed from the study's folds) beside the study's printed value, and the gap.
    assert "| 58.35% | 59.43% |" in vgg and vgg.endswith("| -1.08 |")
    rn = next(line for line in md.splitlines() if line.startswith("| ResNet-50 | With |"))
    assert "| 92.98% | 92.98% |" in rn and rn.endswith("| +0.00 |")
    assert "| ResNet-50 (1 Layer) [2] | With |" in md
    assert "[1] VGG16 Without:" in md and "[2] ResNet-50 (1 Layer) With:" in md
    assert len([line for line in md.splitlines() if line.startswith("|")]) == 2 + 12
    assert "-0.00" not in md  # MobileNet without: a tiny negative gap rounds to +0.00


def test_study_comparison_unmatched_row():
    row = study_table([dict(prob_result(), model="my_net")])[0]
    md = study_comparison_markdown([row])
    line = md.strip().splitlines()[-1]
    assert line.startswith("| my_net | With |")
    assert "n/a" in line and line.endswith("| n/a |")


# --------------------------------------------------------------------------- plots


def _assert_png(path, min_bytes: int = 5000):
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert len(data) > min_bytes  # matplotlib drew something, not an empty image
    # IHDR width/height are non-trivial.
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert width > 200 and height > 200


def test_plot_confusion_matrix(tmp_path, study_results):
    pytest.importorskip("matplotlib")
    out = report.plot_confusion_matrix(_resnet50_ft(study_results), tmp_path / "a" / "cm.png")
    assert out == tmp_path / "a" / "cm.png"
    _assert_png(out)


def test_plot_roc(tmp_path):
    pytest.importorskip("matplotlib")
    result = prob_result()
    del result["folds"][1]["y_prob"]  # folds without probabilities are skipped
    out = report.plot_roc(result, tmp_path / "roc.png")
    _assert_png(out)


def test_plot_roc_needs_probs(tmp_path, study_results):
    pytest.importorskip("matplotlib")
    with pytest.raises(ValueError, match="y_prob"):
        report.plot_roc(_resnet50_ft(study_results), tmp_path / "roc.png")
    assert not (tmp_path / "roc.png").exists()


def test_plot_study(tmp_path, study_results):
    pytest.importorskip("matplotlib")
    table = study_table(study_results)
    out = report.plot_study(table, str(tmp_path / "study.png"))
    _assert_png(out)
    _assert_png(report.plot_study(STUDY_NUMBERS, tmp_path / "study.png"))  # no std: no error bars
    with pytest.raises(ValueError, match="empty"):
        report.plot_study([], tmp_path / "none.png")


def _assert_image(path, min_side: int = 300) -> None:
    """A PNG that PIL opens, of a sensible size."""
    from PIL import Image

    assert path.read_bytes()[:8] == PNG_SIGNATURE
    with Image.open(path) as img:
        img.verify()
    with Image.open(path) as img:
        assert img.format == "PNG" and min(img.size) >= min_side and max(img.size) < 3000


def test_roc_curves_draw_one_line_per_row_from_its_pooled_predictions(tmp_path, study_results):
    pytest.importorskip("matplotlib")
    rows = [prob_result(), prob_result(), prob_result()]
    rows[1]["model"], rows[2]["finetune"] = "resnet50", False
    for i, row in enumerate(rows[1:], start=1):  # other predictions per row
        row["folds"] = [_probs_fold(k + 1, seed=10 * i + k) for k in range(3)]
    del rows[0]["folds"][1]["y_prob"]  # a fold without predictions is left out of the pool
    fig = report.roc_curves_figure(rows)
    [ax] = fig.axes
    assert len(ax.lines) == len(rows)
    for line, row in zip(ax.lines, rows, strict=True):
        folds = [f for f in row["folds"] if "y_prob" in f]
        y_true = [y for f in folds for y in f["y_true"]]
        y_prob = [p for f in folds for p in f["y_prob"]]
        fpr, tpr, _ = roc_points(y_true, y_prob)
        np.testing.assert_allclose(line.get_xdata(), fpr)
        np.testing.assert_allclose(line.get_ydata(), tpr)
        area = binary_metrics(y_true, [int(p >= 0.5) for p in y_prob], y_prob)["roc_auc"]
        assert f"AUC {area:.3f}" in line.get_label()
    labels = [t.get_text() for t in ax.get_legend().get_texts()]
    assert labels[:3] == [line.get_label() for line in ax.lines]
    assert "VIT" in labels[0] and "ResNet-50" in labels[1] and "without" in labels[2]
    # a row that stores no predictions (the study's printed numbers) gets no curve
    assert len(report.roc_curves_figure([*rows, study_results[0]]).axes[0].lines) == 3
    with pytest.raises(ValueError, match="y_prob"):
        report.roc_curves_figure(study_results)
    out = report.plot_roc_curves(rows, tmp_path / "f" / "roc_curves.png")
    assert out == tmp_path / "f" / "roc_curves.png"
    _assert_image(out)


def _trials() -> list[dict]:
    lrs = [3e-5, 1e-3, 2e-4, 8e-3, 5e-4]
    values = [0.55, 0.8, 0.7, 0.5, 0.8]  # a tie: the lower trial number is the best
    rows = [
        {"study": "s", "number": i, "lr": lr, "value": v, "state": "COMPLETE"}
        for i, (lr, v) in enumerate(zip(lrs, values, strict=True))
    ]
    rows.append({"study": "s", "number": 5, "lr": 6e-5, "value": None, "state": "PRUNED"})
    return rows


def test_lr_search_plots_accuracy_against_lr_on_a_log_axis(tmp_path):
    pytest.importorskip("matplotlib")
    search = {"protocol": "study", "best_lr": 1e-3, "best_value": 0.8, "trials": _trials()}
    fig = report.lr_search_figure(search)
    [ax] = fig.axes
    assert ax.get_xscale() == "log"
    trials, best = ax.lines
    assert list(trials.get_xdata()) == [3e-5, 1e-3, 2e-4, 8e-3, 5e-4]  # one point per trial
    np.testing.assert_allclose(trials.get_ydata(), [55.0, 80.0, 70.0, 50.0, 80.0])
    assert trials.get_linestyle() == "None"
    assert list(best.get_xdata()) == [1e-3] and list(best.get_ydata()) == [80.0]
    assert "best" in best.get_label() and "1.00e-03" in best.get_label()
    assert "1 pruned" in ax.get_title()
    out = report.plot_lr_search(search, tmp_path / "lr_search.png")
    _assert_image(out)
    # nested: the trials of each outer fold, and the LR each fold chose marked
    nested = [dict(t, outer_fold=k) for k in (1, 2) for t in _trials()[:3]]
    fig = report.lr_search_figure(
        {"protocol": "nested", "best_lr": 4e-4, "fold_lrs": [1e-3, 1e-3], "trials": nested}
    )
    lines = fig.axes[0].lines
    assert [line.get_label() for line in lines[:2]] == ["outer fold 1", "outer fold 2"]
    assert list(lines[2].get_xdata()) == [1e-3, 1e-3]
    with pytest.raises(ValueError, match="no trial"):
        report.lr_search_figure({"protocol": "study", "best_lr": 1e-3, "trials": _trials()[5:]})


def test_plots_do_not_switch_the_global_backend(tmp_path, study_results):
    mpl = pytest.importorskip("matplotlib")
    before = mpl.get_backend()
    report.plot_confusion_matrix(_resnet50_ft(study_results), tmp_path / "cm.png")
    assert mpl.get_backend() == before


def test_plots_without_matplotlib(tmp_path, study_results, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    monkeypatch.setitem(sys.modules, "matplotlib.backends.backend_agg", None)
    with pytest.raises(ImportError, match=re.escape("pip install 'fakezoo[plots]'")):
        report.plot_confusion_matrix(_resnet50_ft(study_results), tmp_path / "cm.png")
    assert not (tmp_path / "cm.png").exists()
    search = {"protocol": "study", "best_lr": 1e-3, "trials": _trials()}
    for draw in (
        lambda: report.plot_roc_curves([prob_result()], tmp_path / "roc_curves.png"),
        lambda: report.plot_lr_search(search, tmp_path / "lr_search.png"),
    ):
        with pytest.raises(ImportError, match=re.escape("pip install 'fakezoo[plots]'")):
            draw()
    assert not list(tmp_path.iterdir())


# --------------------------------------------------------------------------- docs


@pytest.mark.parametrize("name", [n for n in report.__all__ if callable(getattr(report, n))])
def test_docstring_examples_run(name):
    obj = getattr(report, name)
    assert obj.__doc__ and "Example:" in obj.__doc__
    blocks = [textwrap.dedent(b) for b in re.findall(r"```python\n(.*?)```", obj.__doc__, re.S)]
    assert blocks, f"{name} has no ```python example"
    if name.startswith("plot_"):
        pytest.importorskip("matplotlib")
    for block in blocks:
        exec(compile(block, f"<{name} example>", "exec"), {})


def test_custom_trainable_list_and_cv_shape():
    """finetune=None (a user-given trainable list) and the extra keys CVResult.to_dict() has."""
    result = dict(
        prob_result(),
        finetune=None,
        trainable=["layer4", "fc"],
        settings={"epochs": 3},
        timings={"total": 1.0},
    )
    for fold in result["folds"]:
        fold.update(history=[0.5, 0.4], val_files=["a.jpg"])
    text = cv_report(result)
    assert text.startswith("# VIT (Vision Transformer) custom fine-tuning")
    assert "| trainable modules | `layer4`, `fc` |" in text
    assert "Compared with the study" not in text
    assert study_table([result])[0]["fine_tuning"] == "Custom"


@pytest.mark.parametrize(
    ("finetune", "name"), [(False, "linear probe"), (True, "LayerNorm tuning")]
)
def test_an_additions_reports_use_its_own_policy_names(study_results, finetune, name):
    """clip_vit_l14's policies are named as its zoo entry names them, in the report's title and
    settings, the per-fold block, the study table and its Markdown; the study's models keep
    its "With"/"Without" in the same table."""
    clip = dict(prob_result(), model="clip_vit_l14", finetune=finetune)
    text = cv_report(clip)
    assert text.startswith(f"# CLIP ViT-L/14 {name}\n")
    assert re.search(rf"^\| fine-tuning \| {name} \((trains|only)", text, re.MULTILINE), text
    assert fold_block(clip).startswith(f"### CLIP ViT-L/14 {name}\n")
    assert "With" not in text and "Without" not in text
    resnet_head = next(r for r in study_results if r["model"] == "resnet50" and not r["finetune"])
    rows = study_table([clip, _resnet50_ft(study_results), resnet_head])
    assert [(r["model"], r["fine_tuning"]) for r in rows] == [
        ("CLIP ViT-L/14", name),
        ("ResNet-50", "With"),
        ("ResNet-50", "Without"),
    ]
    md = table_markdown(rows)
    assert f"| CLIP ViT-L/14 | {name} |" in md
    assert "| ResNet-50 | With |" in md and "| ResNet-50 | Without |" in md
    assert f"| CLIP ViT-L/14 | {name} |" in study_comparison_markdown(rows)
