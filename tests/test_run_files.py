"""Issue 27, items 12, 13, 17 and 18: run files are checked as data, a malformed one gives one
line naming it (never a traceback), an exported .onnx file predicts like its run, and a
mistaken model path is called what it is."""

import json
import shutil

import onnx
import pytest
import torch
from safetensors.torch import load_file, save_file

import fakezoo
from fakezoo.cli import EXIT_ERROR, EXIT_OK, main
from fakezoo.errors import FakezooError, RunFormatError
from fakezoo.inference.api import MODEL_ENV, clear_cache


@pytest.fixture
def run(tiny_run, tmp_path):
    """A copy of the session's tiny run, free to corrupt."""
    clear_cache()
    return shutil.copytree(tiny_run, tmp_path / "run")


@pytest.fixture(scope="module")
def image(demo_dir):
    return str(sorted((demo_dir / "real").glob("*.jpg"))[0])


def one_line_error(cli, *argv):
    """Run the CLI in-process; assert it failed with exit 1 and one line; return the line."""
    code, _, err = cli(*argv)
    err = err.strip()
    assert code == EXIT_ERROR and len(err.splitlines()) == 1, (code, err)
    return err


def edit_json(path, change):
    data = json.loads(path.read_text(encoding="utf-8"))
    path.write_text(json.dumps(change(data)), encoding="utf-8")


# -- item 12: weights are data --------------------------------------------------------------------


def _head_name(run):
    names = load_file(run / "fold_1" / "model.safetensors")
    return next(k for k in names if k.startswith("classifier") and k.endswith("weight"))


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (lambda t: torch.full_like(t, float("nan")), "not finite"),
        (lambda t: t.index_fill(1, torch.tensor([3]), float("inf")), "not finite"),
        (lambda t: t.double(), "float64"),
        (lambda t: t.mul(100).to(torch.int8), "int8"),
    ],
    ids=["nan", "inf", "float64", "int8"],
)
def test_weights_that_are_not_the_runs_numbers_are_refused(run, change, words):
    path = run / "fold_1" / "model.safetensors"
    tensors = load_file(path)
    name = _head_name(run)
    tensors[name] = change(tensors[name])
    save_file(tensors, path)
    with pytest.raises(RunFormatError) as info:
        fakezoo.load(run, device="cpu")
    message = str(info.value)
    assert words in message and name in message and "fold_1" in message, message
    if words in ("float64", "int8"):
        assert "float32" in message  # the run's dtype


def test_predict_refuses_a_nan_fold_in_one_line(run, image, cli):
    path = run / "fold_2" / "model.safetensors"
    tensors = load_file(path)
    name = _head_name(run)
    tensors[name] = torch.full_like(tensors[name], float("nan"))
    save_file(tensors, path)
    err = one_line_error(cli, "predict", image, "--model", str(run))
    assert name in err and "fold_2" in err


# -- item 13: malformed run files -----------------------------------------------------------------


@pytest.mark.parametrize("key", ["settings", "metrics", "metrics_std"])
def test_an_index_field_of_the_wrong_type_is_one_line(run, image, demo_dir, cli, key, tmp_path):
    edit_json(run / "config.json", lambda c: {**c, key: [1, 2]})
    with pytest.raises(RunFormatError, match=rf"config\.json.*'{key}'"):
        fakezoo.load(run, device="cpu")
    assert f"'{key}'" in one_line_error(cli, "predict", image, "--model", str(run))
    err = one_line_error(
        cli,
        "evaluate",
        str(run),
        str(demo_dir),
        "--bootstrap",
        "0",
        "--out",
        str(tmp_path / "eval"),
    )
    assert f"'{key}'" in err


def test_a_fold_metrics_list_is_one_line(run):
    edit_json(
        run / "fold_1" / "config.json", lambda c: c | {"fakezoo": c["fakezoo"] | {"metrics": [1]}}
    )
    with pytest.raises(RunFormatError, match=r"fold_1.config\.json.*'metrics'"):
        fakezoo.load(run, device="cpu")


def test_the_app_reports_a_malformed_run_in_one_line(run):
    pytest.importorskip("gradio")
    from fakezoo.app import build_app

    edit_json(run / "config.json", lambda c: {**c, "settings": ["x"]})
    with pytest.raises(RunFormatError, match="'settings'"):
        build_app(str(run), device="cpu")


@pytest.mark.parametrize(
    "content",
    ["[]", '{"folds": 3}', '{"folds": [[1, 2]]}', '{"folds": [{"fold": 1, "y_true": 5}]}'],
    ids=["list", "folds-not-a-list", "fold-not-an-object", "y_true-not-a-list"],
)
def test_malformed_results_json_is_one_line(run, demo_dir, cli, content, tmp_path):
    (run / "results.json").write_text(content, encoding="utf-8")
    err = one_line_error(
        cli,
        "evaluate",
        str(run),
        str(demo_dir),
        "--bootstrap",
        "0",
        "--out",
        str(tmp_path / "eval"),
    )
    assert "results.json" in err


@pytest.mark.parametrize("name", ["config.json", "results.json", "fold_1/config.json"])
def test_json_nested_too_deep_is_one_line(run, demo_dir, cli, name, tmp_path):
    (run / name).write_text("[" * 100_000 + "]" * 100_000, encoding="utf-8")
    with pytest.raises(FakezooError, match=name.replace(".", r"\.")):
        fakezoo.evaluate(run, demo_dir, bootstrap=0, device="cpu")
    err = one_line_error(
        cli,
        "evaluate",
        str(run),
        str(demo_dir),
        "--bootstrap",
        "0",
        "--out",
        str(tmp_path / "eval"),
    )
    assert name in err


@pytest.mark.parametrize("text", ["1e999", "-1e999", "NaN", "Infinity"])
def test_a_learning_rate_that_is_not_finite_is_refused(run, text):
    index = run / "config.json"
    raw = index.read_text(encoding="utf-8")
    lr = json.loads(raw)["lr"]
    index.write_text(raw.replace(f'"lr": {json.dumps(lr)}', f'"lr": {text}', 1), encoding="utf-8")
    assert json.loads(index.read_text())["lr"] != lr
    with pytest.raises(RunFormatError, match=r"config\.json.*'lr'"):
        fakezoo.load(run, device="cpu")


@pytest.mark.parametrize("content", ["[]", '{"val_files": ["a"], "y_tr'], ids=["list", "truncated"])
def test_resuming_over_a_malformed_predictions_file_names_it(run, demo_dir, content):
    (run / "fold_2" / "predictions.json").write_text(content, encoding="utf-8")
    cv = fakezoo.CrossValidator(
        n_splits=3,
        epochs=1,
        batch_size=8,
        pretrained=False,
        image_size=64,
        device="cpu",
        progress=False,
        num_workers=1,
    )
    with pytest.raises(RunFormatError, match=r"fold_2.predictions\.json"):
        cv.run("mobilenet_v2", demo_dir, finetune=False, lr=1e-3, out_dir=run)


# -- exported files ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def exported(tiny_run, tmp_path_factory):
    """The tiny run exported to ONNX once (with its CV predictions)."""
    out = tmp_path_factory.mktemp("onnx") / "tiny.onnx"
    assert main(["-q", "export", str(tiny_run), "--format", "onnx", "--out", str(out)]) == EXIT_OK
    return out


def _with_metadata(exported, tmp_path, **changes):
    model = onnx.load(str(exported))
    for entry in model.metadata_props:
        if entry.key in changes:
            entry.value = changes[entry.key]
    path = tmp_path / "changed.onnx"
    onnx.save(model, str(path))
    return path


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("preprocessing", "[1, 2]"),
        ("preprocessing", '{"image_size": "big", "mean": [0.5, 0.5, 0.5], "std": [0.5, 0.5, 0.5]}'),
        ("run_config", '"text"'),
        ("run_config", '{"settings": [1]}'),
        ("cv_results", "[]"),
        ("cv_results", '{"folds": {"a": 1}}'),
        ("fold_names", '{"a": 1}'),
    ],
)
def test_onnx_metadata_of_the_wrong_type_is_one_line(exported, tmp_path, demo_dir, cli, key, value):
    path = _with_metadata(exported, tmp_path, **{key: value})
    err = one_line_error(
        cli,
        "evaluate",
        str(path),
        str(demo_dir),
        "--bootstrap",
        "0",
        "--out",
        str(tmp_path / "eval"),
    )
    assert path.name in err and key in err, err


def test_an_onnx_image_size_that_disagrees_with_the_graph_is_refused_before_decoding(
    exported, tmp_path, demo_dir, monkeypatch
):
    pre = json.loads(
        {p.key: p.value for p in onnx.load(str(exported)).metadata_props}["preprocessing"]
    )
    path = _with_metadata(exported, tmp_path, preprocessing=json.dumps(pre | {"image_size": 4000}))
    import fakezoo.data.decode as decode

    def no_decoding(*args, **kwargs):
        raise AssertionError("an image was decoded before the file was checked")

    monkeypatch.setattr(decode, "_decode", no_decoding)
    with pytest.raises(FakezooError, match=r"image_size.*4000.*64|64.*4000"):
        fakezoo.evaluate(path, demo_dir, bootstrap=0)
    with pytest.raises(FakezooError, match=r"image_size.*4000.*64|64.*4000"):
        fakezoo.predict(demo_dir, model=path)


# -- item 17: predict with an exported file -------------------------------------------------------


def test_predict_with_an_onnx_file_gives_the_runs_outputs(
    exported, tiny_run, demo_dir, tmp_path, cli
):
    folder = tmp_path / "photos"
    shutil.copytree(demo_dir / "fake", folder)
    (folder / "broken.jpg").write_text("not an image")
    clear_cache()
    want = fakezoo.predict(folder, model=tiny_run, device="cpu")
    got = fakezoo.predict(folder, model=exported)
    assert [p.path for p in got] == [p.path for p in want]
    for a, b in zip(got, want, strict=True):
        assert a.label == b.label and (a.error is None) == (b.error is None)
        if b.error is None:
            assert a.prob_fake == pytest.approx(b.prob_fake, abs=1e-4)
            assert a.fold_probs == pytest.approx(b.fold_probs, abs=1e-4)
    good = next(p for p in want if p.error is None)
    single = fakezoo.predict(good.path, model=exported)
    assert single.prob_fake == pytest.approx(good.prob_fake, abs=1e-4)

    by_name = {p.path.rsplit("/", 1)[-1]: p for p in want}
    code, out, _ = cli(
        "predict", folder / "fake_00000.jpg", "--model", exported, "--format", "json"
    )
    [row] = json.loads(out)
    assert code == EXIT_OK
    assert row["prob_fake"] == pytest.approx(by_name["fake_00000.jpg"].prob_fake, abs=1e-4)
    assert len(row["fold_probs"]) == 3


# -- item 18: mistaken model paths ----------------------------------------------------------------


def test_a_mistyped_local_run_is_called_a_missing_path(tmp_path, image, cli, monkeypatch):
    (tmp_path / "runs").mkdir()
    monkeypatch.chdir(tmp_path)
    for given in ("runs/nope", "./nope", str(tmp_path / "nope"), "runs/a/b"):
        err = one_line_error(cli, "predict", image, "--model", given)
        assert given in err and "does not exist" in err, err
        assert "Hugging Face" not in err and "cache" not in err, err
        with pytest.raises(FileNotFoundError, match="does not exist"):
            fakezoo.load(given)


def test_an_org_name_id_still_goes_to_the_hub(tmp_path, image, cli, monkeypatch):
    monkeypatch.chdir(tmp_path)  # no local folder "some-org"
    err = one_line_error(cli, "predict", image, "--model", "some-org/some-model")
    assert "some-org/some-model" in err and "Hugging Face" in err


def test_no_model_says_how_to_give_one(image, cli, monkeypatch):
    monkeypatch.delenv(MODEL_ENV, raising=False)
    err = one_line_error(cli, "predict", image)
    assert "--model" in err and MODEL_ENV in err
