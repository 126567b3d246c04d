"""fakezoo export: one self-contained ONNX file that gives fakezoo.predict's probabilities."""

import json

import numpy as np
import onnx
import pytest

from fakezoo.cli import main
from fakezoo.data import load_dataset
from fakezoo.data.decode import decode_image
from fakezoo.errors import ExportCheckError
from fakezoo.inference.api import clear_cache, load, predict
from fakezoo.inference.export import export_onnx, run_onnx
from fakezoo.train.cv import CrossValidator

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny models: one thread (conftest)

SIZE = 32


@pytest.fixture(scope="module")
def run_dir(demo_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("export-run") / "run"
    cv = CrossValidator(
        n_splits=2,
        epochs=1,
        batch_size=8,
        pretrained=False,
        image_size=SIZE,
        device="cpu",
        progress=False,
    )
    cv.run("mobilenet_v2", load_dataset(demo_dir), finetune=True, lr=1e-3, out_dir=out)
    return out


def test_exported_file_alone_gives_the_predictions(run_dir, demo_dir, tmp_path, capsys):
    out = tmp_path / "detector.onnx"
    code = main(
        [
            "export",
            str(run_dir),
            "--format",
            "onnx",
            "--out",
            str(out),
            "--check-images",
            str(demo_dir / "real"),
        ]
    )
    assert code == 0
    assert "2 folds, 1 trunk pass(es); checked on 12 images" in capsys.readouterr().out

    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    pre = json.loads(meta["preprocessing"])
    assert (pre["image_size"], pre["mean"], pre["std"]) == (SIZE, [0.5] * 3, [0.5] * 3)
    assert (pre["resize"], pre["interpolation"]) == ("square", "bilinear")
    assert json.loads(meta["fold_names"]) == ["fold_1", "fold_2"]
    assert json.loads(meta["shared_trunks"]) == [["fold_1", "fold_2"]]  # the trunk once
    assert json.loads(meta["labels"]) == ["real", "fake"] and meta["threshold"] == "0.5"

    # decode as the metadata says, run the file, compare with the one-liner on the folder
    files = sorted(demo_dir.rglob("*.jpg"))
    images = np.stack([decode_image(f, pre["image_size"]) for f in files]).transpose(0, 3, 1, 2)
    got = run_onnx(out, np.ascontiguousarray(images))
    clear_cache()
    preds = predict(demo_dir, model=run_dir, device="cpu")
    assert [p.path for p in preds] == [str(f) for f in files]
    want = np.array([p.fold_probs for p in preds])
    assert got.shape == want.shape == (len(files), 2)
    assert np.abs(got - want).max() <= 1e-4


def test_a_file_that_does_not_match_is_not_kept(run_dir, tmp_path):
    out = tmp_path / "never.onnx"
    with pytest.raises(ExportCheckError, match="nothing was written"):
        export_onnx(load(run_dir, device="cpu"), out, atol=-1.0)  # no difference is <= -1
    assert not out.exists() and not list(tmp_path.iterdir())


def test_evaluate_scores_the_exported_file_like_its_run(run_dir, demo_dir, tmp_path):
    from fakezoo.evaluation import evaluate

    out = tmp_path / "detector.onnx"
    assert main(["export", str(run_dir), "--format", "onnx", "--out", str(out)]) == 0
    by_file = evaluate(out, demo_dir, perturb="jpeg:50", bootstrap=0, num_workers=1)
    by_run = evaluate(run_dir, demo_dir, perturb="jpeg:50", bootstrap=0, num_workers=1)
    assert by_file.run["name"] == "detector" and by_file.settings["device"] == "cpu"
    assert by_file.thresholds == by_run.thresholds  # chosen on the CV predictions it carries
    assert by_file.predictions["paths"] == by_run.predictions["paths"]
    for cond in ("clean", "jpeg:50"):
        got = np.array(by_file.predictions["fold_probs"][cond])
        want = np.array(by_run.predictions["fold_probs"][cond])
        assert got.shape == want.shape and np.abs(got - want).max() <= 1e-4
    assert by_file.run["fingerprint"] == by_run.run["fingerprint"]


def test_evaluate_refuses_files_it_cannot_score(run_dir, demo_dir, tmp_path):
    from fakezoo.errors import EvalRunError, ExportReadError
    from fakezoo.evaluation import evaluate

    bare = tmp_path / "bare.onnx"  # exported from Python without the run's results.json
    export_onnx(load(run_dir, device="cpu"), bare)
    with pytest.raises(EvalRunError, match=r"carries no CV predictions.*fakezoo export"):
        evaluate(bare, demo_dir, bootstrap=0)
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"not a model")
    with pytest.raises(ExportReadError, match=r"junk\.onnx.*not a readable ONNX file"):
        evaluate(junk, demo_dir, bootstrap=0)
    with pytest.raises(EvalRunError, match="not an exported model"):
        evaluate(run_dir / "config.json", demo_dir, bootstrap=0)
