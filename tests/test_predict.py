"""fakezoo.predict: the fold ensemble on paths, folders, PIL images and tensors."""

import csv
import io
import json
import logging
import shutil
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

import fakezoo
import fakezoo.runs.loader
from fakezoo.data import decode_image
from fakezoo.errors import ImageDecodeError
from fakezoo.inference.api import DEFAULT_MODEL, MODEL_ENV, clear_cache, load, predict
from fakezoo.inference.detector import Detector
from fakezoo.inference.prediction import Prediction
from fakezoo.models.preprocessing import Preprocessing

SIZE = 32


pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="session")
def demo(demo_dir) -> Path:
    return demo_dir  # the session's demo data (conftest.py)


@pytest.fixture(scope="session")
def run_dir(head_run) -> Path:
    return head_run  # the session's head-only 32 px run on it (conftest.py)


@pytest.fixture(scope="session")
def detector(run_dir) -> Detector:
    return load(run_dir, device="cpu")


@pytest.fixture(scope="session")
def reference(run_dir):
    """The ensemble by hand: each fold's safetensors in a fresh model, mean of softmax[:, 1]."""
    models = []
    for fold in sorted(p for p in run_dir.iterdir() if p.name.startswith("fold_")):
        cfg = json.loads((fold / "config.json").read_text())["fakezoo"]
        pre = cfg["preprocessing"]
        model = fakezoo.create(
            cfg["model"], finetune=cfg["finetune"], pretrained=False, image_size=pre["image_size"]
        )
        model.load_state_dict(load_file(str(fold / "model.safetensors")), strict=True)
        models.append(model.eval())
    pre = Preprocessing.from_dict(pre)

    def fold_probs(paths) -> torch.Tensor:
        images = torch.from_numpy(np.stack([decode_image(p, pre.image_size) for p in paths]))
        x = pre.normalize(images.permute(0, 3, 1, 2))
        with torch.no_grad():
            return torch.stack([m(x).softmax(1)[:, 1] for m in models], dim=1)

    fold_probs.models = models
    fold_probs.preprocessing = pre
    return fold_probs


@pytest.fixture(scope="session")
def mixed(demo, tmp_path_factory) -> Path:
    """A folder with two good files, two bad ones and two images that need converting."""
    root = tmp_path_factory.mktemp("mixed")
    source = demo / "real" / "real_00000.jpg"
    shutil.copy(source, root / "a_valid.JPG")  # upper-case extension
    data = (demo / "fake" / "fake_00000.jpg").read_bytes()
    (root / "b_truncated.jpg").write_bytes(data[: len(data) // 2])
    (root / "c_text.jpg").write_text("this is not an image\n")
    (root / "sub").mkdir()
    gray = Image.open(source).convert("L")
    gray.save(root / "sub" / "d_gray.png")
    rgba = Image.open(source).convert("RGBA")
    rgba.putalpha(128)
    rgba.save(root / "sub" / "e_rgba.png")
    (root / "notes.txt").write_text("not an image extension: not an input\n")
    return root


def _assert_matches(preds, expected: torch.Tensor, atol: float = 1e-5) -> None:
    assert len(preds) == len(expected)
    for pred, folds in zip(preds, expected, strict=True):
        assert pred.error is None
        assert pred.fold_probs == pytest.approx(folds.tolist(), abs=atol)
        assert pred.prob_fake == pytest.approx(float(folds.mean()), abs=atol)


# -- each input kind ------------------------------------------------------------------------


def test_single_path_gives_one_prediction(detector, demo, reference):
    path = demo / "fake" / "fake_00003.jpg"
    pred = detector.predict(path)
    assert isinstance(pred, Prediction)
    assert pred.path == str(path)
    assert pred.label in ("real", "fake") and pred.error is None
    assert len(pred.fold_probs) == detector.n_folds == 3
    _assert_matches([pred], reference([path]))
    assert detector(str(path)) == pred  # __call__ and str paths


def test_directory_is_recursive_sorted_and_equals_the_ensemble_by_hand(detector, demo, reference):
    preds = detector.predict(demo, batch_size=5)
    expected_paths = sorted(demo.rglob("*.jpg"))
    assert len(expected_paths) == 24
    assert [p.path for p in preds] == [str(p) for p in expected_paths]
    _assert_matches(preds, reference(expected_paths))


def test_list_keeps_order_and_matches_folder(detector, demo):
    by_path = {p.path: p for p in detector.predict(demo)}
    paths = [
        demo / "real" / "real_00005.jpg",
        demo / "fake" / "fake_00001.jpg",
        str(demo / "real" / "real_00002.jpg"),
    ]
    for kind in (list, tuple):
        preds = detector.predict(kind(paths), batch_size=2)
        assert [p.path for p in preds] == [str(p) for p in paths]
        for pred in preds:
            assert pred.prob_fake == pytest.approx(by_path[pred.path].prob_fake, abs=1e-5)


def test_generator_input_is_streamed_in_bounded_chunks(detector, demo, monkeypatch):
    paths = sorted(demo.rglob("*.jpg"))[:10]
    pulled = []

    def items():
        for p in paths:
            pulled.append(p)
            yield p

    seen_at_forward = []
    forward = Detector._forward

    def spy(self, images):
        seen_at_forward.append(len(pulled))
        return forward(self, images)

    monkeypatch.setattr(Detector, "_forward", spy)
    preds = detector.predict(items(), batch_size=2)
    assert [p.path for p in preds] == [str(p) for p in paths]
    assert len(seen_at_forward) == 5
    # at the first forward pass only the current and the next chunk have been read
    assert seen_at_forward[0] <= 4
    assert all(a <= 2 * (i + 2) for i, a in enumerate(seen_at_forward))


def test_decoding_threads_do_not_change_results(detector, demo):
    threaded = detector.predict(demo, batch_size=7, num_workers=2)
    inline = detector.predict(demo, batch_size=7, num_workers=0)
    assert [p.to_dict() for p in threaded] == [p.to_dict() for p in inline]


def test_pil_image_is_converted_like_a_file(detector, demo, tmp_path):
    path = demo / "real" / "real_00004.jpg"
    with Image.open(path) as img:
        pred = detector.predict(img)
    assert pred.path is None
    assert pred.prob_fake == pytest.approx(detector.predict(path).prob_fake, abs=1e-5)

    # EXIF rotation, grayscale and a non-square image: same steps as decode_image
    rotated = tmp_path / "rotated.jpg"
    exif = Image.Exif()
    exif[0x0112] = 6  # orientation: rotate 90° clockwise to display
    Image.open(path).convert("L").resize((48, 30)).save(rotated, exif=exif)
    with Image.open(rotated) as img:
        from_pil = detector.predict([img])[0]
    from_file = detector.predict(rotated)
    assert from_pil.path is None and from_file.path == str(rotated)
    assert from_pil.fold_probs == pytest.approx(from_file.fold_probs, abs=1e-5)
    with Image.open(rotated) as img:
        unrotated = detector.predict(img.convert("RGB").resize((SIZE, SIZE)))
    assert unrotated.prob_fake != pytest.approx(from_file.prob_fake, abs=1e-5)


def test_uint8_tensor_single_and_batch(detector, demo):
    paths = sorted(demo.rglob("*.jpg"))[:5]
    images = torch.from_numpy(np.stack([decode_image(p, SIZE) for p in paths]))
    images = images.permute(0, 3, 1, 2).contiguous()
    preds = detector.predict(images, batch_size=2)
    assert isinstance(preds, list) and len(preds) == 5
    assert all(p.path is None for p in preds)
    from_files = detector.predict(paths)
    for a, b in zip(preds, from_files, strict=True):
        assert a.fold_probs == pytest.approx(b.fold_probs, abs=1e-5)
    single = detector.predict(images[2])
    assert isinstance(single, Prediction)
    assert single.prob_fake == pytest.approx(from_files[2].prob_fake, abs=1e-5)
    probs = detector.predict_tensor(images)
    assert probs.shape == (5, 3) and probs.dtype == torch.float32
    assert probs.mean(1).tolist() == pytest.approx([p.prob_fake for p in from_files], abs=1e-5)


def test_float_tensor_already_normalised(detector, demo):
    paths = sorted(demo.rglob("*.jpg"))[:4]
    transform = detector.preprocessing.transform()  # the torchvision path of training
    x = torch.stack([transform(Image.open(p).convert("RGB")) for p in paths])
    preds = detector.predict(x)
    from_files = detector.predict(paths)
    for a, b in zip(preds, from_files, strict=True):
        assert a.prob_fake == pytest.approx(b.prob_fake, abs=1e-5)
    assert detector.predict_tensor(x.double()).shape == (4, 3)


def test_bad_tensor_layouts_say_what_is_expected(detector):
    with pytest.raises(ValueError, match=r"permute\(0, 3, 1, 2\)"):
        detector.predict(torch.zeros(2, SIZE, SIZE, 3, dtype=torch.uint8))
    with pytest.raises(ValueError, match=r"permute\(2, 0, 1\)"):
        detector.predict(torch.zeros(SIZE, SIZE, 3, dtype=torch.uint8))
    with pytest.raises(ValueError, match=rf"\(N, 3, {SIZE}, {SIZE}\)"):
        detector.predict(torch.zeros(2, 3, SIZE + 8, SIZE + 8, dtype=torch.uint8))
    with pytest.raises(ValueError, match="3 colour channels"):
        detector.predict(torch.zeros(2, 1, SIZE, SIZE))
    with pytest.raises(ValueError, match="expected an image tensor"):
        detector.predict(torch.zeros(SIZE, SIZE))
    with pytest.raises(ValueError, match="uint8 pixels or a normalised float"):
        detector.predict(torch.zeros(2, 3, SIZE, SIZE, dtype=torch.int64))
    with pytest.raises(ValueError, match=rf"\(N, 3, {SIZE}, {SIZE}\)"):
        detector.predict_tensor(torch.zeros(3, SIZE, SIZE))  # predict_tensor wants a batch
    with pytest.raises(TypeError, match="numpy"):
        detector.predict(np.zeros((SIZE, SIZE, 3), dtype=np.uint8))


# -- broken inputs -----------------------------------------------------------------------------


def test_mixed_folder_marks_exactly_the_bad_files(detector, mixed, reference, caplog):
    with caplog.at_level(logging.WARNING, logger="fakezoo"):
        preds = detector.predict(mixed)
    names = [Path(p.path).name for p in preds]
    assert names == ["a_valid.JPG", "b_truncated.jpg", "c_text.jpg", "d_gray.png", "e_rgba.png"]
    by_name = dict(zip(names, preds, strict=True))
    for bad in ("b_truncated.jpg", "c_text.jpg"):
        assert by_name[bad].label is None and by_name[bad].prob_fake is None
        assert by_name[bad].fold_probs is None
    assert "truncated" in by_name["b_truncated.jpg"].error
    assert "not a recognised image format" in by_name["c_text.jpg"].error
    good = [by_name[n] for n in ("a_valid.JPG", "d_gray.png", "e_rgba.png")]
    _assert_matches(good, reference([p.path for p in good]))
    assert all(p.label in ("real", "fake") for p in good)
    warning = "\n".join(r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    assert "skipped 2 of 5" in warning and "b_truncated.jpg" in warning


def test_missing_file_in_a_list_is_an_error_entry(detector, demo, tmp_path):
    good = demo / "real" / "real_00001.jpg"
    preds = detector.predict([good, tmp_path / "gone.jpg", good])
    assert [p.error is None for p in preds] == [True, False, True]
    assert "file not found" in preds[1].error and preds[1].path == str(tmp_path / "gone.jpg")


def test_single_bad_path_raises_naming_the_file(detector, mixed, tmp_path):
    missing = tmp_path / "nope.jpg"
    with pytest.raises(FileNotFoundError, match=r"nope\.jpg"):
        detector.predict(missing)
    with pytest.raises(ImageDecodeError, match=r"b_truncated\.jpg") as info:
        detector.predict(mixed / "b_truncated.jpg")
    assert "truncated" in info.value.reason
    with pytest.raises(ImageDecodeError, match=r"c_text\.jpg"):
        predict(str(mixed / "c_text.jpg"), model=detector)


def test_empty_folder_and_wrong_types(detector, tmp_path, caplog):
    (tmp_path / "notes.txt").write_text("x")
    with caplog.at_level(logging.WARNING, logger="fakezoo"):
        assert detector.predict(tmp_path) == []
    assert "no image files" in caplog.text
    with pytest.raises(TypeError, match="paths or PIL images"):
        detector.predict([tmp_path / "a.jpg", 3])
    with pytest.raises(TypeError, match="cannot predict on a int"):
        detector.predict(3)
    with pytest.raises(ValueError, match="batch_size"):
        detector.predict(tmp_path, batch_size=0)


# -- thresholds and output ---------------------------------------------------------------------


def test_threshold_decides_labels(demo, run_dir, detector):
    probs = [p.prob_fake for p in detector.predict(demo)]
    cut = float(np.median(probs))
    for threshold in (0.0, cut, 0.5, 1.0):
        preds = detector.predict(demo, threshold=threshold)
        assert [p.label for p in preds] == [
            "fake" if p.prob_fake >= threshold else "real" for p in preds
        ]
    assert {p.label for p in detector.predict(demo, threshold=0.0)} == {"fake"}
    at_cut = detector.predict(demo, threshold=cut)
    assert {p.label for p in at_cut} == {"real", "fake"}
    strict = load(run_dir, device="cpu", threshold=cut)
    assert [p.label for p in strict.predict(demo)] == [p.label for p in at_cut]
    assert [p.label for p in predict(demo, model=strict)] == [p.label for p in at_cut]
    with pytest.raises(ValueError, match="threshold"):
        detector.predict(demo, threshold=1.5)


def test_predictions_serialise_to_json_and_csv(detector, mixed):
    rows = [p.to_dict() for p in detector.predict(mixed)]
    assert json.loads(json.dumps(rows)) == rows
    assert set(rows[0]) == {"path", "label", "prob_fake", "fold_probs", "error"}
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]))
    writer.writeheader()
    writer.writerows(rows)
    assert len(buffer.getvalue().splitlines()) == 6


def test_detector_from_plain_models(reference, demo):
    det = Detector(reference.models, Preprocessing(SIZE), device="cpu")
    paths = sorted(demo.rglob("*.jpg"))[:5]
    _assert_matches(det.predict(paths), reference(paths))
    one_at_a_time = Detector(
        reference.models, reference.preprocessing, device="cpu", forward_batch_size=2
    )
    _assert_matches(one_at_a_time.predict(paths), reference(paths))
    with pytest.raises(ValueError, match="at least one"):
        Detector([], reference.preprocessing)
    # One encoding of preprocessing: a config.json dict goes through Preprocessing.from_dict.
    with pytest.raises(TypeError, match=r"Preprocessing record, got dict .*from_dict"):
        Detector(reference.models, {"image_size": SIZE})


# -- the one-liner -----------------------------------------------------------------------------


def test_one_liner_loads_the_run_once(run_dir, demo, monkeypatch):
    calls = []
    real_load_run = fakezoo.runs.loader.load_run

    def counting(*args, **kwargs):
        calls.append(args)
        return real_load_run(*args, **kwargs)

    monkeypatch.setattr(fakezoo.runs.loader, "load_run", counting)
    clear_cache()
    paths = sorted(demo.rglob("*.jpg"))[:4]
    first = [predict(p, model=run_dir, device="cpu") for p in paths]
    again = [predict(p, model=str(run_dir), device="cpu") for p in paths]
    assert len(calls) == 1
    assert [p.prob_fake for p in first] == [p.prob_fake for p in again]
    one_fold = predict(paths[0], model=run_dir, device="cpu", folds=[1])
    assert len(calls) == 2 and len(one_fold.fold_probs) == 1
    assert one_fold.fold_probs[0] == pytest.approx(first[0].fold_probs[0], abs=1e-5)
    clear_cache()
    predict(paths[0], model=run_dir, device="cpu")
    assert len(calls) == 3
    clear_cache()


def test_environment_variable_names_the_default_model(run_dir, demo, monkeypatch):
    path = demo / "real" / "real_00000.jpg"
    monkeypatch.setenv(MODEL_ENV, str(run_dir))
    expected = load(run_dir, device="cpu").predict(path)
    assert predict(path, device="cpu").prob_fake == pytest.approx(expected.prob_fake)
    assert predict(path, model=run_dir, device="cpu", folds=2).fold_probs == pytest.approx(
        expected.fold_probs[1:2]
    )


@pytest.mark.parametrize("no_network", ["offline flag", "unreachable endpoint"])
def test_default_model_offline_fails_fast_and_clearly(demo, monkeypatch, no_network):
    monkeypatch.delenv(MODEL_ENV, raising=False)
    if no_network == "offline flag":
        monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    else:  # no offline flag: the endpoint probe must fail fast (nothing listens on port 9)
        monkeypatch.setenv("HF_HUB_OFFLINE", "0")
        monkeypatch.setenv("HF_ENDPOINT", "http://127.0.0.1:9")
    clear_cache()
    start = time.perf_counter()
    with pytest.raises(Exception) as info:
        predict(demo / "real" / "real_00000.jpg", device="cpu")
    assert time.perf_counter() - start < 10
    err = info.value
    assert type(err).__module__.startswith("fakezoo"), type(err)
    text = str(err) + "\n".join(getattr(err, "__notes__", []))
    assert DEFAULT_MODEL in text and MODEL_ENV in text
    assert "offline" in text.lower() or "cannot" in text.lower()


def test_the_default_model_is_the_documented_one():
    assert DEFAULT_MODEL == "fakezoo/resnet50-deepfake"
