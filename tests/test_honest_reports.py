"""What the reports say about how their numbers were made (issue 27, items 14 to 16).

- a nested search names its protocol and each outer fold's own learning rate, never one rate
  that no fold used (item 14);
- an evaluation counts the images it shares with the run's training data, and the study
  protocol's reports say that its learning rate was chosen on the folds they report, with the
  search's settings (item 15);
- a run from random initial weights is a pipeline check: it is never set beside the study's
  numbers (item 16).
"""

from __future__ import annotations

import json
import logging
import shutil

import pytest
from conftest import tiny_flags

import fakezoo
from fakezoo import hub

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny models: one thread (conftest)

TINY_ARGS = tiny_flags("--no-finetune")


# -- item 14: the nested protocol's report --------------------------------------------------------


def test_a_nested_search_reports_each_folds_own_lr_and_no_other(cli, demo_dir, tmp_path):
    out = tmp_path / "nested"
    code, stdout, err = cli(
        "tune",
        demo_dir,
        "--model",
        "mobilenet_v2",
        "--protocol",
        "nested",
        "--trials",
        "2",
        "--pruner",
        "none",
        "--out",
        out,
        *TINY_ARGS,
    )
    assert code == 0, err
    lrs = [
        json.loads((out / f"fold_{k}" / "config.json").read_text())["fakezoo"]["lr"]
        for k in (1, 2, 3)
    ]
    results = json.loads((out / "results.json").read_text())
    # No single rate stands for the run: each fold has its own.
    assert results["lr"] is None and results["settings"]["lr"] is None
    assert results["settings"]["lr_per_fold"] == lrs
    assert json.loads((out / "config.json").read_text())["lr"] is None
    assert json.loads((out / "search.json").read_text())["best_lr"] is None
    report = (out / "report.md").read_text()
    card = hub.model_card(out, "org/nested")
    for text in (report, stdout, card):
        assert "nested" in text and "geometric" not in text
        assert ", ".join(f"{lr:.3g}" for lr in lrs) in text
    for text in (report, stdout):
        assert "| learning rate | each outer fold its own (nested protocol): " in text
        # The folds table gives each fold's own rate beside its numbers.
        for k, lr in enumerate(lrs, start=1):
            assert f"| {k} | 8 | {lr:.3g} |" in text
    assert "best lr" not in stdout
    assert fakezoo.load(out, device="cpu").n_folds == 3


# -- item 15: evaluating on the training data; the study protocol's optimism --------------------


def test_evaluate_counts_the_images_of_the_runs_training_data(head_run, demo_dir, tmp_path, caplog):
    """Shared files are found by content (renamed copies count), whatever the folder."""
    data = tmp_path / "mixed"
    other = fakezoo.make_demo_dataset(tmp_path / "other", n_per_class=5, seed=7, image_size=64)
    for label in ("real", "fake"):
        (data / label).mkdir(parents=True)
        for path in sorted((demo_dir / label).glob("*.jpg"))[:3]:
            shutil.copy(path, data / label / f"copy_{path.name}")
        for path in (other / label).glob("*.jpg"):
            shutil.copy(path, data / label / path.name)
    with caplog.at_level(logging.WARNING, logger="fakezoo"):
        result = fakezoo.evaluate(head_run, data, bootstrap=0, device="cpu", num_workers=1)
    said = "6 of 16 images were in the run's training data"
    assert said in caplog.text
    shared = result.run["trained_on"]["shared"]
    assert shared["n"] == 6 and shared["of"] == 16
    assert all(p.split("/")[-1].startswith("copy_") for p in shared["paths"])
    result.save(tmp_path / "eval")
    assert said in (tmp_path / "eval" / "evaluate.md").read_text()

    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="fakezoo"):
        fresh = fakezoo.evaluate(head_run, other, bootstrap=0, device="cpu", num_workers=1)
    assert fresh.run["trained_on"]["shared"]["n"] == 0 and "training data" not in caplog.text


def test_the_study_protocol_says_its_lr_was_chosen_on_the_reported_folds(tiny_study):
    """tiny_study: 1 trial per row, the default range 1e-5..1e-2, seed 0, median pruner."""
    said = "chosen on the same folds that are reported"
    search = (
        "protocol `study`, 1 trial, log-uniform lr range 1e-05 to 0.01, "
        "sampler `tpe-per-trial(seed=0)`, pruner `median`"
    )
    for row in ("mobilenet_v2-head", "mobilenet_v2-finetune"):
        report = (tiny_study / "rows" / row / "report.md").read_text()
        assert said in report and search in report
    study = (tiny_study / "study.md").read_text()
    assert "## Learning-rate search" in study and said in study
    assert f"| MobileNet | Without | {search} |" in study
    assert f"| MobileNet | With | {search} |" in study


# -- item 16: random initial weights are a pipeline check ----------------------------------------


def test_a_random_init_run_is_a_pipeline_check_not_compared_with_the_study(head_run, tiny_study):
    report = (head_run / "report.md").read_text()
    assert "Compared with the study" not in report and "the study (printed)" not in report
    assert "70.39%" not in report  # the study's MobileNet (without fine-tuning) accuracy
    assert "pipeline check" in report
    study = (tiny_study / "study.md").read_text()
    beside = study.split("## Beside the study's table")[1].split("## Per-fold results")[0]
    assert "70.39%" not in beside and "pipeline check" in beside


def test_search_settings_read_from_a_run_file_never_break_a_report():
    """settings.search comes back from results.json: a malformed range is left out."""
    from fakezoo.report.text import search_text

    good = {"protocol": "nested", "n_trials": 1, "lr_range": [1e-4, 1e-2], "inner_splits": 2}
    assert search_text(good) == (
        "protocol `nested`, 1 trial per outer fold, log-uniform lr range 0.0001 to 0.01, "
        "2 inner folds"
    )
    assert search_text({"protocol": "study", "lr_range": ["a", None]}) == "protocol `study`"
