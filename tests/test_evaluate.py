"""fakezoo.evaluate: cross-dataset and robustness evaluation of trained runs."""

from __future__ import annotations

import csv
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    balanced_accuracy_score,
    confusion_matrix,
    precision_recall_fscore_support,
    roc_auc_score,
)

import fakezoo
from fakezoo.data import load_dataset
from fakezoo.errors import EvalRunError, PerturbationError
from fakezoo.evaluation import Perturbation, evaluate, evaluate_many, parse_perturbations
from fakezoo.evaluation.stats import _auc_rows, bootstrap_ci, eer_threshold, group_scores
from fakezoo.synth.demo import make_demo_dataset
from fakezoo.train.cv import CrossValidator

SIZE = 32


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # from conftest


def _train(data, out: Path, epochs: int = 1, lr: float = 1e-3, finetune: bool = False) -> Path:
    cv = CrossValidator(
        n_splits=3,
        epochs=epochs,
        batch_size=8,
        pretrained=False,
        image_size=SIZE,
        device="cpu",
        progress=False,
        num_workers=1,
    )
    cv.run("mobilenet_v2", load_dataset(data), finetune=finetune, lr=lr, out_dir=out)
    return out


@pytest.fixture(scope="module")
def dirs(tmp_path_factory, demo_dir, head_run):
    """A run trained on a demo dataset (seed 0): the session's `head_run` on `demo_dir`, which
    `_train` would make; and a demo dataset made with seed 1 plus one broken file."""
    tmp = tmp_path_factory.mktemp("evaluate")
    test = make_demo_dataset(tmp / "test", n_per_class=10, seed=1, image_size=64)
    (test / "fake" / "zz_broken.jpg").write_bytes(b"not a jpeg")
    return {"tmp": tmp, "train": demo_dir, "test": test, "run": head_run}


@pytest.fixture(scope="module")
def result(dirs):
    return evaluate(
        dirs["run"],
        dirs["test"],
        perturb="jpeg:50 resize:0.5",
        bootstrap=200,
        seed=0,
        device="cpu",
        num_workers=1,
    )


def _arrays(result, condition="clean"):
    pred = result.predictions
    return (
        np.asarray(pred["y_true"]),
        np.asarray(pred["prob"][condition]),
        np.asarray(pred["fold_probs"][condition]),
    )


# -- metrics ------------------------------------------------------------------------------------


def test_metrics_agree_with_sklearn(result):
    y, prob, folds = _arrays(result)
    assert len(y) == 20 and folds.shape == (20, 3)
    np.testing.assert_allclose(prob, folds.mean(axis=1))
    blocks = [(result.condition()["ensemble"], prob)]
    blocks += [(result.condition()["folds"][f"fold_{k + 1}"], folds[:, k]) for k in range(3)]
    for block, p in blocks:
        for m in block.values():
            pred = (p >= m["threshold"]).astype(int)
            w = precision_recall_fscore_support(y, pred, average="weighted", zero_division=0)
            assert m["accuracy"] == pytest.approx(accuracy_score(y, pred))
            assert (m["precision"], m["recall"], m["f1"]) == pytest.approx(w[:3])
            assert m["balanced_accuracy"] == pytest.approx(balanced_accuracy_score(y, pred))
            assert m["roc_auc"] == pytest.approx(roc_auc_score(y, p))
            assert m["average_precision"] == pytest.approx(average_precision_score(y, p))
            assert m["confusion_matrix"] == confusion_matrix(y, pred, labels=[0, 1]).tolist()


def test_clean_scores_are_those_of_predict(result, dirs):
    """Same prediction path as `fakezoo predict`: the same files give the same numbers."""
    paths = [str(dirs["test"] / p) for p in result.predictions["paths"]]
    preds = fakezoo.predict(paths, model=str(dirs["run"]), device="cpu")
    np.testing.assert_allclose([p.prob_fake for p in preds], _arrays(result)[1], atol=1e-5)
    np.testing.assert_allclose([p.fold_probs for p in preds], _arrays(result)[2], atol=1e-5)


def test_data_description_lists_counts_and_skipped_files(result):
    assert result.data["class_counts"] == {"real": 10, "fake": 10}
    (skipped,) = result.data["skipped"]
    assert skipped["path"].endswith("zz_broken.jpg") and "not a recognised" in skipped["reason"]
    assert result.run["fingerprint"]["value"]
    assert result.run["cv_mean"]["accuracy"] is not None


# -- bootstrap ------------------------------------------------------------------------------------


def test_bootstrap_interval_covers_the_estimate_and_is_seeded(result):
    y, prob, _ = _arrays(result)
    ci = result.condition()["ci"]
    m = result.condition()["ensemble"]
    low, high = ci["roc_auc"]
    assert low <= m["cv_eer"]["roc_auc"] <= high
    for name in ("0.5", "cv_eer"):
        low, high = ci[f"accuracy@{name}"]
        assert low <= m[name]["accuracy"] <= high
    thresholds = {"0.5": 0.5, "cv_eer": result.thresholds["cv_eer"]}
    again = bootstrap_ci(y, prob, thresholds, n_resamples=200, seed=0)
    assert again == ci
    other = bootstrap_ci(y, prob, thresholds, n_resamples=200, seed=1)
    assert other != ci


def test_bootstrap_auc_is_sklearns():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 2, (50, 30))
    p = np.round(rng.uniform(size=(50, 30)), 1)  # with ties
    aucs = _auc_rows(y, p)
    for row in range(50):
        if 0 < y[row].sum() < 30:
            assert aucs[row] == pytest.approx(roc_auc_score(y[row], p[row]))
    assert np.isnan(_auc_rows(np.ones((1, 4), int), p[:1, :4])).all()


# -- thresholds -----------------------------------------------------------------------------------


def test_eer_threshold_comes_from_the_cv_predictions(result, dirs):
    results = json.loads((dirs["run"] / "results.json").read_text())
    y = np.concatenate([f["y_true"] for f in results["folds"]])
    p = np.concatenate([f["y_prob"] for f in results["folds"]])
    assert result.thresholds["cv_eer"] == pytest.approx(eer_threshold(y, p))
    for fold in results["folds"]:
        expected = eer_threshold(fold["y_true"], fold["y_prob"])
        assert result.thresholds["folds"][f"fold_{fold['fold']}"]["cv_eer"] == pytest.approx(
            expected
        )
    # The test data's own EER threshold is another number, and is not the one used.
    y_test, p_test, _ = _arrays(result)
    assert result.condition()["test_eer_threshold"] == pytest.approx(eer_threshold(y_test, p_test))
    assert result.condition()["ensemble"]["cv_eer"]["threshold"] == result.thresholds["cv_eer"]
    # Other test data: the same threshold.
    other = evaluate(dirs["run"], dirs["train"], bootstrap=0, device="cpu", num_workers=1)
    assert other.thresholds == result.thresholds


def test_eer_threshold_sits_at_the_equal_error_point():
    rng = np.random.default_rng(0)
    y = np.repeat([0, 1], 200)
    p = np.clip(np.concatenate([rng.normal(0.35, 0.15, 200), rng.normal(0.6, 0.15, 200)]), 0, 1)
    t = eer_threshold(y, p)
    fpr = np.mean(p[y == 0] >= t)
    fnr = np.mean(p[y == 1] < t)
    assert abs(fpr - fnr) <= 0.01
    assert fakezoo.metrics.equal_error_rate(y, p) == pytest.approx((fpr + fnr) / 2, abs=0.01)


def test_runs_without_cv_predictions_are_refused(dirs, tmp_path):
    old = shutil.copytree(dirs["run"], tmp_path / "old")
    results = json.loads((old / "results.json").read_text())
    for fold in results["folds"]:
        del fold["y_prob"]
    (old / "results.json").write_text(json.dumps(results))
    with pytest.raises(EvalRunError, match=r"no out-of-fold CV predictions.*never on the test"):
        evaluate(old, dirs["test"], bootstrap=0, device="cpu", num_workers=1)


# -- robustness -----------------------------------------------------------------------------------


def test_perturbations_parse_and_are_seeded():
    ps = parse_perturbations(["jpeg:90,75", "blur:1 resize:0.5 noise:0.02"])
    assert [p.name for p in ps] == ["jpeg:90", "jpeg:75", "blur:1", "resize:0.5", "noise:0.02"]
    for bad, words in [
        ("jpeg", "no strength"),
        ("jpeg:0", "out of range"),
        ("sharpen:1", "unknown"),
        ("blur:x", "not a number"),
        ("resize:2", "out of range"),
    ]:
        with pytest.raises(PerturbationError, match=words):
            parse_perturbations(bad)
    img = np.random.default_rng(0).integers(0, 256, (40, 50, 3), dtype=np.uint8)
    noise = Perturbation("noise", 0.05)
    assert (noise(img, seed=3, index=1) == noise(img, seed=3, index=1)).all()
    assert (noise(img, seed=3, index=1) != noise(img, seed=4, index=1)).any()
    assert (noise(img, seed=3, index=1) != noise(img, seed=3, index=2)).any()
    assert Perturbation("resize", 0.5)(img).shape == (20, 25, 3)
    blurred = Perturbation("blur", 2)(img)
    assert blurred.shape == img.shape and blurred.std() < img.std()


def test_robustness_table_has_every_condition(result):
    assert result.condition_names == ["clean", "jpeg:50", "resize:0.5"]
    jpeg = result.condition("jpeg:50")
    assert (jpeg["kind"], jpeg["strength"]) == ("jpeg", 50)
    assert not np.allclose(_arrays(result)[1], _arrays(result, "jpeg:50")[1])
    # The same thresholds for every condition.
    assert jpeg["ensemble"]["cv_eer"]["threshold"] == result.thresholds["cv_eer"]


def _checkerboard_data(root: Path, n: int, seed: int) -> Path:
    """Smooth random images; the fake ones carry a faint one-pixel checkerboard."""
    rng = np.random.default_rng(seed)
    board = (np.indices((SIZE, SIZE)).sum(axis=0) % 2) * 2.0 - 1.0
    for label in ("real", "fake"):
        (root / label).mkdir(parents=True)
        for i in range(n):
            small = rng.uniform(-12, 12, (4, 4, 3)) + rng.uniform(90, 160)
            base = np.asarray(
                Image.fromarray(small.astype(np.uint8)).resize((SIZE, SIZE), Image.BILINEAR),
                np.float64,
            )
            if label == "fake":
                base = base + 32.0 * board[..., None]
            Image.fromarray(np.clip(base, 0, 255).astype(np.uint8)).save(
                root / label / f"{i:03d}.png"
            )
    return root


def test_jpeg_10_lowers_confidence_on_high_frequency_fakes(tmp_path):
    train = _checkerboard_data(tmp_path / "train", 18, seed=0)
    test = _checkerboard_data(tmp_path / "test", 10, seed=1)
    run = _train(train, tmp_path / "run", epochs=4, lr=3e-3)
    res = evaluate(run, test, perturb="jpeg:10", bootstrap=0, device="cpu", num_workers=1)
    clean, jpeg = res.condition("clean"), res.condition("jpeg:10")
    assert clean["ensemble"]["cv_eer"]["roc_auc"] >= 0.9
    # Measured: mean P(fake) on the fakes 0.83 clean, 0.35 at JPEG quality 10; AUC 0.99 -> 0.15.
    assert jpeg["mean_prob_fake"]["fake"] < clean["mean_prob_fake"]["fake"] - 0.2
    assert jpeg["ensemble"]["cv_eer"]["roc_auc"] < clean["ensemble"]["cv_eer"]["roc_auc"] - 0.2


def test_clean_images_are_decoded_once(dirs, monkeypatch, tmp_path):
    from fakezoo.evaluation import images

    calls = []
    real = images.decode_image
    monkeypatch.setattr(images, "decode_image", lambda p, s: calls.append(p) or real(p, s))
    where = (dirs["tmp"], dirs["run"])
    before = [sorted(root.rglob("*")) for root in where]
    suite = evaluate_many(
        [dirs["run"], dirs["run"]],
        dirs["test"],
        perturb="noise:0.02",
        bootstrap=0,
        device="cpu",
        num_workers=1,
    )
    assert len(suite.results) == 2 and len(calls) == 21  # 20 images + the broken file, once
    assert [sorted(root.rglob("*")) for root in where] == before  # nothing written to disk


# -- groups ---------------------------------------------------------------------------------------


def test_grouped_metrics_aggregate_by_group(dirs, tmp_path):
    ds = load_dataset(dirs["test"])
    ds = ds.subset([i for i, p in enumerate(ds.paths) if p.name != "zz_broken.jpg"])
    rows = [("path", "label", "group", "video")]
    for i, (path, label) in enumerate(zip(ds.paths, ds.labels, strict=True)):
        rows.append((str(path), int(label), f"g{i // 2}", f"v{label}-{i % 3}"))
    csv_path = tmp_path / "faces.csv"
    with csv_path.open("w", newline="") as fh:
        csv.writer(fh).writerows(rows)
    res = evaluate(dirs["run"], csv_path, bootstrap=0, device="cpu", num_workers=1)
    y, prob, _ = _arrays(res)
    groups = res.predictions["groups"]
    assert res.data["n_groups"] == 10
    g = res.condition()["groups"]
    ids = sorted(set(groups))
    means = {k: prob[[i for i, x in enumerate(groups) if x == k]].mean() for k in ids}
    gy = np.array([y[groups.index(k)] for k in ids])
    gp = np.array([means[k] for k in ids])
    assert g["n_groups"] == 10 and g["aggregate"] == "mean"
    assert g["cv_eer"]["roc_auc"] == pytest.approx(roc_auc_score(gy, gp))
    t = res.thresholds["cv_eer"]
    assert g["cv_eer"]["accuracy"] == pytest.approx(np.mean((gp >= t) == gy))
    # Another column of the CSV, named by groups=.
    res2 = evaluate(dirs["run"], csv_path, groups="video", bootstrap=0, device="cpu", num_workers=1)
    assert res2.condition()["groups"]["n_groups"] == 6
    assert res2.metric("roc_auc", level="group") is not None
    # A `fakezoo crop` output folder: its manifest.csv gives the groups (source files).
    crops = tmp_path / "crops"
    crops.mkdir()
    shutil.copy(csv_path, crops / "manifest.csv")
    res3 = evaluate(dirs["run"], crops, bootstrap=0, device="cpu", num_workers=1)
    assert res3.data["name"] == "crops" and res3.condition()["groups"]["n_groups"] == 10


def test_group_scores_leave_out_groups_with_both_labels():
    ids, _, p, mixed = group_scores(
        ["a", "b", "b", "a"], np.array([1, 0, 1, 1]), np.array([0.8, 0.1, 0.9, 0.6])
    )
    assert ids == ["a"] and mixed == ["b"] and p[0] == pytest.approx(0.7)


# -- reports --------------------------------------------------------------------------------------

REPORT_FILES = ["evaluate.md", "evaluate.json", "metrics.csv", "comparison.csv", "robustness.csv"]


def test_save_writes_every_file(result, tmp_path):
    out = result.save(tmp_path / "eval")
    for name in [*REPORT_FILES, "predictions/run.csv", "reliability_run.png", "robustness_run.png"]:
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    md = (out / "evaluate.md").read_text()
    assert "zz_broken.jpg" in md and "10 real, 10 fake" in md
    assert f"{result.thresholds['cv_eer']:.4f}" in md and "jpeg:50" in md
    payload = json.loads((out / "evaluate.json").read_text())
    assert payload["runs"][0]["thresholds"] == result.thresholds
    rows = list(csv.DictReader((out / "metrics.csv").open()))
    # 3 conditions x (ensemble + 3 folds) x 2 thresholds
    assert len(rows) == 24 and {r["threshold_name"] for r in rows} == {"0.5", "cv_eer"}
    preds = list(csv.DictReader((out / "predictions" / "run.csv").open()))
    assert len(preds) == 20 and "prob_fake[jpeg:50]" in preds[0]


def test_the_report_reads_as_text(result, tmp_path):
    """Percentages with percent intervals, the fingerprint as a digest (not a Python dict),
    one deviation per line."""
    import re

    md = (result.save(tmp_path / "eval") / "evaluate.md").read_text()
    comparison = md[md.index("## Comparison") :].splitlines()[4]
    assert re.search(r"\d+\.\d\d% \[\d+\.\d\d%, \d+\.\d\d%\]", comparison), comparison
    assert not re.search(r"% \[0\.", md)  # never "83.33% [0.6667, 0.9583]"
    (line,) = [line for line in md.splitlines() if line.startswith("- fingerprint")]
    assert "{" not in line and re.search(r"`[0-9a-f]{16}`", line), line
    assert ".;" not in md
    deviations = result.run["deviations"]
    assert len(deviations) > 1 and all(f"  - {d}" in md.splitlines() for d in deviations)


def test_the_cli_writes_every_file(dirs, tmp_path, capsys):
    from fakezoo.cli import main

    out = tmp_path / "cli"
    code = main(
        [
            "-q",
            "evaluate",
            str(dirs["run"]),
            str(dirs["test"]),
            "--out",
            str(out),
            "--perturb",
            "jpeg:50",
            "blur:1",
            "--bootstrap",
            "50",
            "--seed",
            "3",
            "--device",
            "cpu",
            "--batch-size",
            "8",
        ]
    )
    assert code == 0
    printed = capsys.readouterr()
    assert "| run |" in printed.out and "evaluate.md" in printed.out
    assert "1 files" in printed.err
    for name in [*REPORT_FILES, "predictions/run.csv", "reliability_run.png", "robustness_run.png"]:
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    payload = json.loads((out / "evaluate.json").read_text())
    (run,) = payload["runs"]
    assert run["settings"]["perturb"] == ["jpeg:50", "blur:1"]
    assert run["conditions"][0]["ci"]["n_resamples"] == 50 and run["settings"]["seed"] == 3
    robust = list(csv.DictReader((out / "robustness.csv").open()))
    assert [r["condition"] for r in robust] == ["clean", "jpeg:50", "blur:1"]
    assert (
        main(
            [
                "-q",
                "evaluate",
                str(dirs["run"]),
                str(dirs["test"]),
                "--out",
                str(out),
                "--perturb",
                "sharpen:2",
            ]
        )
        == 1
    )
    assert "unknown perturbation 'sharpen'" in capsys.readouterr().err


def test_a_study_directory_gives_one_comparison_table(dirs, tmp_path):
    study = tmp_path / "study"
    for row in ("mobilenet_v2-head", "mobilenet_v2-finetune", "resnet50-head"):
        shutil.copytree(dirs["run"], study / "rows" / row)
    for fold in (study / "rows" / "resnet50-head").glob("fold_*"):
        (fold / "model.safetensors").unlink()  # a row kept without weights
    suite = evaluate_many([study], dirs["test"], bootstrap=0, device="cpu", num_workers=1)
    assert [r.run["name"] for r in suite.results] == ["mobilenet_v2-finetune", "mobilenet_v2-head"]
    (skipped,) = suite.skipped_runs
    assert "resnet50-head" in skipped["run"] and "--save-weights" in skipped["reason"]
    out = suite.save(tmp_path / "eval")
    table = list(csv.DictReader((out / "comparison.csv").open()))
    assert [r["run"] for r in table] == ["mobilenet_v2-finetune", "mobilenet_v2-head"]
    md = (out / "evaluate.md").read_text()
    assert md.count("## Comparison") == 1 and "resnet50-head" in md
    with pytest.raises(EvalRunError, match="study directory"):
        evaluate(study, dirs["test"], device="cpu")


def test_push_eval_adds_the_cross_dataset_results_to_the_card(
    result, dirs, tmp_path, monkeypatch, capsys
):
    from huggingface_hub import ModelCard

    from fakezoo.cli import main
    from fakezoo.hub.card import model_card

    out = result.save(tmp_path / "eval")
    card = ModelCard(model_card(dirs["run"], "org/name", evaluations=[out]))
    got = {
        (r.dataset_name, r.dataset_split, r.metric_type): r.metric_value
        for r in card.data.eval_results
    }
    assert got[("test", "test", "roc_auc")] == pytest.approx(result.metric("roc_auc"))
    assert got[("test", "test", "accuracy")] == pytest.approx(result.metric("accuracy"))
    assert got[("test", "test, jpeg:50", "roc_auc")] == pytest.approx(
        result.metric("roc_auc", condition="jpeg:50")
    )
    assert ("custom", "cv_mean", "accuracy") in got  # the CV results stay
    assert "## Cross-dataset evaluation" in card.text and "| test | jpeg:50 | 20 |" in card.text
    # Another run's evaluation is refused, before any network access or token check.
    # (An evaluation whose recorded run is elsewhere and has another fingerprint.)
    other = shutil.copytree(out, tmp_path / "other-eval")
    report = json.loads((other / "evaluate.json").read_text())
    for entry in report["runs"]:
        entry["run"]["path"] = str(tmp_path / "elsewhere")
        entry["run"]["fingerprint"]["value"] = "0" * 64
    (other / "evaluate.json").write_text(json.dumps(report))
    monkeypatch.delenv("HF_TOKEN", raising=False)
    assert main(["push", str(dirs["run"]), "org/x", "--eval", str(other)]) == 1
    assert "holds no results for the run" in capsys.readouterr().err
    assert main(["push", str(dirs["run"]), "org/x", "--eval", str(out)]) == 1
    assert "token" in capsys.readouterr().err
