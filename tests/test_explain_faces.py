"""Grad-CAM per face (fakezoo.explain.faces): the real MTCNN finds the faces of a generated
photo and video, real Grad-CAM explains each crop, through the API and `predict --explain`."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("av")
pytest.importorskip("facenet_pytorch")
pytest.importorskip("skimage")
pytest.importorskip("pytorch_grad_cam")

from face_images import face_media

import fakezoo
from fakezoo.errors import VideoDecodeError
from fakezoo.explain import BOX_COLOUR, draw_faces, explain, explain_faces
from fakezoo.faces import faces_in_images
from fakezoo.faces.finder import default_finder
from fakezoo.inference.faces import NO_FACE, crop_policy

FRAMES = 2

pytestmark = pytest.mark.usefixtures("one_torch_thread")  # from conftest


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> dict:
    return face_media(tmp_path_factory.mktemp("media") / "in")


@pytest.fixture(scope="module")
def det(tiny_run):
    return fakezoo.load(tiny_run, device="cpu")


def test_each_face_of_a_photo_gets_its_own_map(det, media, tmp_path):
    fx = explain_faces(det, media["two"])
    p = det.predict(media["two"], faces=True)
    assert fx.ok and fx.prediction.prob_fake == pytest.approx(p.prob_fake, abs=1e-6)
    assert [f.number for f in fx.faces] == [1, 2] and [f.frame for f in fx.faces] == [None] * 2
    assert [f.face.box for f in fx.faces] == [f.box for f in p.faces]
    # each map is Grad-CAM of that face's crop, the crop predict scored
    policy = crop_policy(det.preprocessing)
    [[(_, _, crops)]] = list(faces_in_images(media["two"], default_finder(), policy))
    for f, c in zip(fx.faces, crops, strict=True):
        alone = explain(det, Image.fromarray(c.pixels))
        np.testing.assert_allclose(f.heatmap, alone.heatmap, atol=1e-5)
        assert f.face.prob_fake == pytest.approx(alone.prediction.prob_fake, abs=1e-6)
        assert f.region == policy.region(c.face.box) and f.heatmap.shape == (64, 64)
    # the overview: the whole photo, each box drawn, each map placed in its own crop region
    photo = np.asarray(Image.open(media["two"]).convert("RGB"))
    shown = fx.overview()
    assert shown.shape == photo.shape
    for f in fx.faces:
        x0, y0, _, y1 = (round(v) for v in f.face.box)
        assert shown[(y0 + y1) // 2, x0].tolist() == list(BOX_COLOUR)  # left edge of the box
        rx0, _, rx1, ry1 = f.region
        inside = (slice(ry1 - 8, ry1 - 2), slice(rx0 + 2, rx1 - 2))  # below the box, in region
        assert not np.array_equal(shown[inside], photo[inside])
    assert np.array_equal(shown[-30:], photo[-30:])  # nothing drawn far from the faces
    names = sorted(p.name for p in fx.save(tmp_path, "two"))
    assert names == [
        "two.face1.cam.npy",
        "two.face1.cam.png",
        "two.face2.cam.npy",
        "two.face2.cam.png",
        "two.faces.png",
    ]
    np.testing.assert_array_equal(np.load(tmp_path / "two.face2.cam.npy"), fx.faces[1].heatmap)


def test_video_frames_no_face_and_broken_files(det, media):
    fx = explain_faces(det, media["clip"], frames=FRAMES)
    p = det.predict(media["clip"], faces=True, frames=FRAMES)
    assert fx.prediction.prob_fake == pytest.approx(p.prob_fake, abs=1e-6)
    assert [f.name for f in fx.faces] == ["f00000.face1", "f00005.face1"]
    assert sorted(fx.images) == [0, 5] and fx.overview(5).shape == (240, 320, 3)
    empty = explain_faces(det, media["empty"])
    assert empty.prediction.error == NO_FACE and empty.faces == [] and not empty.ok
    with pytest.raises(VideoDecodeError, match=r"broken\.mp4"):
        explain_faces(det, media["broken"])
    with pytest.raises(ValueError, match="is a folder"):
        explain_faces(det, media["two"].parent)


def test_cli_predict_faces_explain_writes_a_map_per_face(det, tiny_run, media, tmp_path, capsys):
    from fakezoo.cli import EXIT_PARTIAL, main

    out = tmp_path / "maps"
    code = main(
        [
            "predict",
            str(media["two"].parent),
            "--faces",
            "--frames",
            str(FRAMES),
            "--model",
            str(tiny_run),
            "--device",
            "cpu",
            "--explain",
            str(out),
            "--format",
            "json",
        ]
    )
    printed, err = capsys.readouterr()
    rows = {r["path"].rsplit("/", 1)[-1]: r for r in json.loads(printed)}
    assert code == EXIT_PARTIAL
    assert rows["empty.png"]["error"] == NO_FACE and "Invalid" in rows["broken.mp4"]["error"]
    assert len(rows["two.png"]["faces"]) == 2 and len(rows["clip.mp4"]["frames"]) == FRAMES
    assert "wrote 4 face heatmaps" in err and "3 overviews" in err
    assert sorted(p.name for p in out.iterdir()) == [
        "clip.f00000.face1.cam.npy",
        "clip.f00000.face1.cam.png",
        "clip.f00000.faces.png",
        "clip.f00005.face1.cam.npy",
        "clip.f00005.face1.cam.png",
        "clip.f00005.faces.png",
        "two.face1.cam.npy",
        "two.face1.cam.png",
        "two.face2.cam.npy",
        "two.face2.cam.png",
        "two.faces.png",
    ]
    fx = explain_faces(det, media["two"])
    np.testing.assert_allclose(np.load(out / "two.face1.cam.npy"), fx.faces[0].heatmap, atol=1e-5)


def test_draw_faces_puts_the_caption_inside_at_the_top_edge():
    image = np.zeros((60, 80, 3), np.uint8)
    out = draw_faces(image, [((10, 0, 50, 40), "1: 0.50")])
    assert out[20, 10].tolist() == list(BOX_COLOUR) and out[3, 12].tolist() == list(BOX_COLOUR)
    assert out[50:, :].max() == 0 and image.max() == 0  # below untouched; input not changed
