"""Issue 14, inputs: one decode for training, transform and predict; tensors that are plainly
not normalised are refused; duplicate files are kept in one fold; mixed precision recorded."""

import dataclasses
import logging
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

import fakezoo
from fakezoo.data.decode import decode_image
from fakezoo.errors import DatasetError
from fakezoo.inference.detector import Detector
from fakezoo.train.engine import amp_mode

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # tiny models: one thread (conftest)


@pytest.fixture(scope="module")
def model():
    torch.manual_seed(0)
    return fakezoo.create("mobilenet_v2", finetune=False, pretrained=False, image_size=32).eval()


def _rotated_jpeg(path):
    rng = np.random.default_rng(0)
    img = Image.fromarray(rng.integers(0, 255, (40, 64, 3), dtype=np.uint8))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° on display
    img.save(path, exif=exif)
    return path


def test_transform_decodes_like_training(model, tmp_path):
    jpeg = _rotated_jpeg(tmp_path / "phone.jpg")
    rgba = tmp_path / "alpha.png"
    Image.new("RGBA", (50, 30), (200, 10, 10, 128)).save(rgba)
    for path in (jpeg, rgba):
        trained = model.preprocessing.normalize(
            torch.from_numpy(decode_image(path, 32)).permute(2, 0, 1)[None]
        )[0]
        with Image.open(path) as img:
            assert torch.equal(model.transform(img), trained)


def test_detector_gives_the_same_numbers_for_a_pil_image_and_its_file(model, tmp_path):
    jpeg = _rotated_jpeg(tmp_path / "phone.jpg")
    det = Detector([model], model.preprocessing, device="cpu")
    with Image.open(jpeg) as img:
        from_pil = det.predict(img).prob_fake
    assert from_pil == det.predict(jpeg).prob_fake
    with Image.open(jpeg) as img:
        x = model.transform(img)[None]
    assert det.predict_tensor(x, normalized=True)[0, 0].item() == pytest.approx(from_pil, abs=1e-6)


def test_predict_tensor_refuses_floats_that_are_not_normalised(model):
    det = Detector([model], model.preprocessing, device="cpu")
    pixels = torch.randint(0, 256, (2, 3, 32, 32), dtype=torch.uint8)
    unit = pixels.float() / 255  # what ToTensor() gives
    with pytest.raises(ValueError, match="normalized="):
        det.predict_tensor(unit)
    with pytest.raises(ValueError, match="normalized="):
        det.predict_tensor(pixels.float())  # 0..255 floats
    expected = det.predict_tensor(pixels)
    assert torch.allclose(det.predict_tensor(unit, normalized=False), expected, atol=1e-6)
    normed = model.preprocessing.normalize(pixels)
    assert torch.allclose(det.predict_tensor(normed), expected, atol=1e-6)
    assert torch.allclose(det.predict_tensor(normed, normalized=True), expected, atol=1e-6)


@pytest.fixture
def with_duplicates(demo_dir, tmp_path):
    root = tmp_path / "dups"
    shutil.copytree(demo_dir, root)
    reals = sorted((root / "real").iterdir())
    shutil.copy(reals[0], root / "real" / "copy_a.jpg")
    shutil.copy(reals[0], root / "real" / "copy_b.jpg")
    return root, reals[0].name


def test_identical_files_land_in_one_fold(with_duplicates, caplog):
    root, original = with_duplicates
    ds = fakezoo.load_dataset(root)
    with caplog.at_level(logging.INFO, logger="fakezoo"):
        folds = fakezoo.make_folds(ds.labels, 3, seed=0, content=ds.sha256())
    assert folds.duplicates == 3 and "3 files" in caplog.text
    names = ds.relpaths()
    group = {f"real/{original}", "real/copy_a.jpg", "real/copy_b.jpg"}
    holding = [k for k, (_, val) in enumerate(folds) if group & {names[i] for i in val}]
    assert len(holding) == 1 and group <= {names[i] for i in folds[holding[0]][1]}


def test_the_same_bytes_under_both_labels_is_an_error(demo_dir, tmp_path):
    root = tmp_path / "clash"
    shutil.copytree(demo_dir, root)
    real = sorted((root / "real").iterdir())[0]
    shutil.copy(real, root / "fake" / "sneaky.jpg")
    ds = fakezoo.load_dataset(root)
    with pytest.raises(
        DatasetError,
        match=rf"fake/sneaky\.jpg.*real/{real.name}|"
        rf"real/{real.name}.*fake/sneaky\.jpg",
    ):
        fakezoo.make_folds(ds.labels, 3, content=ds.sha256(), names=ds.relpaths())
    with pytest.raises(DatasetError, match="sneaky"):
        fakezoo.CrossValidator(epochs=1, pretrained=False, image_size=32, device="cpu").run(
            "mobilenet_v2", root, finetune=False, lr=1e-3
        )


def test_groups_still_keep_an_identity_on_one_side(demo_dir):
    ds = fakezoo.load_dataset(demo_dir)
    ds = dataclasses.replace(ds, groups=np.arange(len(ds)) // 2)  # pairs: one identity each
    folds = fakezoo.make_folds(ds.labels, 3, seed=0, groups=ds.groups, content=ds.sha256())
    for train, val in folds:
        assert not set(ds.groups[train]) & set(ds.groups[val])


def test_amp_mode_is_recorded_and_off_on_cpu():
    assert amp_mode(torch.device("cpu"), True) == "off"
    assert amp_mode(torch.device("cpu"), False) == "off"


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_amp_on_cuda_uses_bf16_or_a_grad_scaler(demo_dir):
    mode = amp_mode(torch.device("cuda"), True)
    assert mode == ("bf16" if torch.cuda.is_bf16_supported() else "fp16+scaler")
    cv = fakezoo.CrossValidator(
        epochs=1, batch_size=8, pretrained=False, image_size=32, device="cuda"
    )
    result = cv.run("mobilenet_v2", demo_dir, finetune=False, lr=1e-3)
    assert result.settings["amp"] == mode
    assert all(np.isfinite(f.y_prob).all() for f in result.folds)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_fp16_training_with_a_grad_scaler_learns(demo_dir, monkeypatch):
    import fakezoo.train.engine as engine

    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    assert engine.amp_mode(torch.device("cuda"), True) == "fp16+scaler"
    cv = fakezoo.CrossValidator(
        epochs=3, batch_size=8, pretrained=False, image_size=32, device="cuda"
    )
    result = cv.run("mobilenet_v2", demo_dir, finetune=True, lr=1e-3)
    assert result.settings["amp"] == "fp16+scaler"
    assert all(np.isfinite(f.y_prob).all() for f in result.folds)
