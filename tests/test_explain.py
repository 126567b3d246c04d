"""fakezoo.explain: Grad-CAM over the folds looks where the fake class is marked."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import fakezoo
from fakezoo.explain import cam_layer, explain, explain_many, overlay

SIZE = 64
PATCH = 16


pytestmark = pytest.mark.usefixtures("one_torch_thread")  # from conftest


def _corner_data(root: Path, n: int = 24, seed: int = 0) -> Path:
    """Noisy colour images; every fake carries a white-and-black patch in its top-left corner."""
    rng = np.random.default_rng(seed)
    for label in ("real", "fake"):
        (root / label).mkdir(parents=True)
        for i in range(n):
            base = rng.integers(40, 200, size=3)
            img = np.clip(base + rng.normal(0, 25, (SIZE, SIZE, 3)), 0, 255).astype(np.uint8)
            if label == "fake":
                img[:PATCH, :PATCH] = 255
                img[4 : PATCH - 4, 4 : PATCH - 4] = 0
            Image.fromarray(img).save(root / label / f"{label}_{i:03d}.png")
    return root


@pytest.fixture(scope="module")
def corner_run(tmp_path_factory) -> Path:
    tmp = tmp_path_factory.mktemp("explain")
    data = _corner_data(tmp / "data")
    cv = fakezoo.CrossValidator(
        n_splits=3,
        epochs=15,
        batch_size=16,
        pretrained=False,
        image_size=SIZE,
        device="cpu",
        progress=False,
        num_workers=1,
    )
    torch.manual_seed(0)
    cv.run("resnet50", fakezoo.load_dataset(data), finetune=False, lr=3e-3, out_dir=tmp / "run")
    return tmp


@pytest.fixture(scope="module")
def det(corner_run):
    return fakezoo.load(corner_run / "run", device="cpu")


def test_heatmap_mass_sits_on_the_marked_corner(corner_run, det):
    fakes = sorted((corner_run / "data" / "fake").glob("*.png"))[:6]
    shares = []
    predictions = fakezoo.predict(fakes, model=det)
    for e, p in zip(explain_many(det, fakes), predictions, strict=True):
        assert e.prediction == p  # the same numbers as predict
        assert e.heatmap.shape == (SIZE, SIZE) and e.fold_heatmaps.shape == (3, SIZE, SIZE)
        assert e.heatmap.min() >= 0.0 and e.heatmap.max() <= 1.0 + 1e-6
        np.testing.assert_allclose(e.heatmap, e.fold_heatmaps.mean(0), atol=1e-6)
        assert e.layer == "layer4" and e.target == "fake"
        quarter = e.heatmap[: SIZE // 2, : SIZE // 2].sum()
        shares.append(quarter / max(e.heatmap.sum(), 1e-9))
    assert det.predict(fakes[0]).label == "fake"
    # a quarter of the image would hold a quarter of an unfocused map's mass
    assert np.median(shares) > 0.5, shares


def test_save_writes_the_overlay_and_the_raw_map(corner_run, det, tmp_path):
    image = Image.open(sorted((corner_run / "data" / "fake").glob("*.png"))[0])
    e = explain(det, image, target="predicted")
    png, npy = e.save(tmp_path / "out", "face", caption=False)
    assert np.array_equal(np.load(npy), e.heatmap)
    shown = np.asarray(Image.open(png))
    assert shown.shape == (256, 256, 3) and shown.dtype == np.uint8
    assert np.array_equal(shown, e.overlay())  # without its caption: the overlay alone
    assert e.image.shape == (256, 256, 3)
    assert e.target == e.prediction.label


def test_saved_overlays_carry_a_caption_and_a_colour_bar(corner_run, det, tmp_path, monkeypatch):
    pytest.importorskip("matplotlib")
    e = explain(det, sorted((corner_run / "data" / "fake").glob("*.png"))[0])
    p = e.prediction
    fig = e.figure()
    image_ax, bar_ax = fig.axes
    assert bar_ax.get_label() == "<colorbar>" and image_ax.images
    assert bar_ax.get_ylim() == (0.0, 1.0)
    caption = image_ax.get_title()
    assert p.label in caption and f"P(fake) {p.prob_fake:.3f}" in caption
    assert "mean of 3 folds" in caption
    one = e.figure(fold=2)  # fold 2's own map, with fold 2's probability
    caption = one.axes[0].get_title()
    assert "fold 2 of 3" in caption and f"P(fake) {p.fold_probs[1]:.3f}" in caption
    np.testing.assert_allclose(one.axes[0].images[1].get_array(), e.fold_heatmaps[1])
    with pytest.raises(ValueError, match="fold=4"):
        e.figure(fold=4)
    png, _ = e.save(tmp_path, "face")
    with Image.open(png) as img:  # the captioned figure: larger than the 256 px overlay
        assert img.format == "PNG" and img.size[0] > 256 and img.size[1] > 256
    # without matplotlib the overlay is saved as before, without its caption
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    png, _ = e.save(tmp_path / "bare", "face")
    assert np.array_equal(np.asarray(Image.open(png)), e.overlay())


def test_explain_many_reports_bad_files_and_goes_on(corner_run, det, tmp_path):
    bad = tmp_path / "bad.png"
    bad.write_bytes(b"not an image")
    good = sorted((corner_run / "data" / "real").glob("*.png"))[:2]
    out = list(explain_many(det, [good[0], bad, good[1]], batch_size=2))
    assert [e.ok for e in out] == [True, False, True]
    assert "bad.png" in out[1].prediction.path and out[1].heatmap is None
    with pytest.raises(ValueError, match="target="):
        explain(det, good[0], target="everything")


def test_every_zoo_model_names_a_layer_that_exists():
    for name in fakezoo.list_models():
        with torch.device("meta"):
            model = fakezoo.create(name, pretrained=False)
        layer, module = cam_layer(model)
        assert layer == fakezoo.get_spec(name).cam_layer and isinstance(module, torch.nn.Module)


def test_vit_tokens_are_reshaped_to_a_grid():
    import timm

    from fakezoo.inference.detector import Detector
    from fakezoo.models.preprocessing import Preprocessing

    # a small ViT with the same module names as vit_b_16 (12 blocks), for speed
    model = timm.create_model(
        "vit_tiny_patch16_224", pretrained=False, img_size=32, num_classes=2
    ).eval()
    model.spec = fakezoo.get_spec("vit_b_16")
    det = Detector([model], Preprocessing(32), device="cpu")
    x = torch.randint(0, 256, (3, 32, 32), dtype=torch.uint8)
    e = explain(det, x)
    assert e.layer == "blocks.11.norm1" and e.heatmap.shape == (32, 32)
    assert np.isfinite(e.heatmap).all()


def test_overlay_resizes_the_map_and_checks_alpha():
    image = np.full((40, 40, 3), 128, np.uint8)
    heat = np.zeros((8, 8), np.float32)
    heat[:4, :4] = 1
    out = overlay(image, heat)
    assert out.shape == (40, 40, 3)
    assert out[:10, :10, 0].mean() > out[30:, 30:, 0].mean()  # jet: hot is red
    with pytest.raises(ValueError, match="alpha"):
        overlay(image, heat, alpha=2)


def test_cli_predict_explain_writes_a_png_and_a_map_per_image(corner_run, det, tmp_path, capsys):
    import json
    import shutil

    from fakezoo.cli import EXIT_PARTIAL, main

    photos = tmp_path / "photos"
    (photos / "sub").mkdir(parents=True)
    fake = sorted((corner_run / "data" / "fake").glob("*.png"))[0]
    shutil.copy(fake, photos / "sub" / "x.png")
    shutil.copy(fake, photos / "x.png")
    (photos / "broken.jpg").write_text("not an image")
    out = tmp_path / "maps"
    code = main(
        [
            "predict",
            str(photos),
            "--model",
            str(corner_run / "run"),
            "--device",
            "cpu",
            "--explain",
            str(out),
            "--format",
            "json",
        ]
    )
    printed, err = capsys.readouterr()
    rows = {Path(r["path"]).relative_to(photos).as_posix(): r for r in json.loads(printed)}
    assert code == EXIT_PARTIAL and rows["broken.jpg"]["error"]
    assert "wrote 2 heatmap overlays" in err
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*.*")) == [
        "sub/x.cam.npy",
        "sub/x.cam.png",
        "x.cam.npy",
        "x.cam.png",
    ]
    e = explain(det, photos / "x.png")
    assert rows["x.png"]["prob_fake"] == pytest.approx(e.prediction.prob_fake, abs=1e-6)
    np.testing.assert_allclose(np.load(out / "x.cam.npy"), e.heatmap, atol=1e-6)
