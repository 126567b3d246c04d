"""Faces in the wild: a real detector (MTCNN) on a real face photo placed, rotated and tiled."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

av = pytest.importorskip("av")
pytest.importorskip("facenet_pytorch")
skdata = pytest.importorskip("skimage.data")

from face_images import (  # noqa: E402
    CANVAS,
    OFFSET,
    SIDE,
    TOL,
    VIDEO_SIZE,
    astronaut,
    no_face,
    placed,
    save_with_exif_rotation,
    write_video,
)

from fakezoo import load_dataset  # noqa: E402
from fakezoo.errors import FacesError  # noqa: E402
from fakezoo.faces import (  # noqa: E402
    CropPolicy,
    crop,
    crop_dataset,
    find_faces,
    load_image,
    sample_frames,
)
from fakezoo.faces.policy import policy_from_dict  # noqa: E402

pytestmark = pytest.mark.usefixtures("one_torch_thread")


@pytest.fixture(scope="module")
def reference_box() -> np.ndarray:
    """Where MTCNN puts the face in the astronaut photo at SIDE px (offset 0)."""
    faces = find_faces(astronaut(SIDE))
    assert len(faces) == 1
    box = np.array(faces[0].box)
    # the reference: about (181, 62)-(268, 172) in the 512 px original
    assert np.allclose(box * 512 / SIDE, [181, 62, 268, 172], atol=12)
    return box


def test_offcentre_exif_rotated_face_is_found_where_it_was_placed(tmp_path, reference_box):
    upright = placed()
    path = tmp_path / "rotated.jpg"
    save_with_exif_rotation(upright, path)
    assert Image.open(path).size == (CANVAS[1], CANVAS[0])  # stored sideways
    image = load_image(path)
    assert image.shape == (CANVAS[1], CANVAS[0], 3)  # upright after EXIF
    faces = find_faces(image)
    assert len(faces) == 1
    expected = reference_box + np.array([OFFSET[0], OFFSET[1], OFFSET[0], OFFSET[1]])
    assert np.abs(np.array(faces[0].box) - expected).max() <= TOL
    assert faces[0].score > 0.95
    assert faces[0].landmarks is not None and len(faces[0].landmarks) == 5
    (lx, ly), (rx, _) = faces[0].landmarks[:2]
    assert lx < rx and faces[0].box[1] < ly < faces[0].box[3]


def test_finders_mtcnn_called_the_plain_way_gives_the_same_box(reference_box):
    """FaceFinder.mtcnn is the MTCNN it runs (benchmarks/faces_speed.py times it plainly)."""
    from facenet_pytorch import MTCNN

    from fakezoo.faces.finder import default_finder

    mtcnn = default_finder().mtcnn
    assert isinstance(mtcnn, MTCNN) and not mtcnn.training
    boxes, probs = mtcnn.detect(astronaut(SIDE))
    assert len(boxes) == 1 and probs[0] > 0.95
    assert np.allclose(boxes[0], reference_box, atol=1e-3)


def test_two_faces_and_no_face():
    two = np.concatenate([placed(), placed()], axis=1)
    faces = find_faces(two)
    assert len(faces) == 2
    xs = sorted(f.box[0] for f in faces)
    assert abs((xs[1] - xs[0]) - CANVAS[0]) <= TOL
    assert find_faces(no_face()) == []


def test_crop_policy_region_and_padding():
    policy = CropPolicy(margin=0.25, square=True, size=64)
    assert policy.region((100, 50, 180, 150)) == (65, 25, 215, 175)
    image = np.full((100, 100, 3), 200, np.uint8)
    patch = crop(image, (-20, -20, 40, 40), policy)  # region leaves the image: black padding
    assert patch.shape == (64, 64, 3) and patch.dtype == np.uint8
    assert patch[0, 0].tolist() == [0, 0, 0] and patch[-1, -1].tolist() == [200, 200, 200]
    assert policy_from_dict(policy.to_dict()) == policy
    with pytest.raises(ValueError, match="margin"):
        CropPolicy(margin=-1)


def test_video_frames_are_evenly_spaced_and_follow_the_face(tmp_path):
    path = tmp_path / "clip.mp4"
    xs = write_video(path)
    got = list(sample_frames(path, 4))
    assert [i for i, _ in got] == [0, 4, 7, 11]
    assert all(f.shape == (VIDEO_SIZE[1], VIDEO_SIZE[0], 3) for _, f in got)
    lefts = [find_faces(frame)[0].box[0] for _, frame in got]
    moved = [xs[i] - xs[0] for i, _ in got]
    assert np.abs(np.array(lefts) - lefts[0] - moved).max() <= TOL


def test_weights_load_with_weights_only():
    import facenet_pytorch
    import torch

    data = Path(facenet_pytorch.__file__).parent / "data"
    for name in ("pnet.pt", "rnet.pt", "onet.pt"):
        state = torch.load(data / name, weights_only=True)
        assert all(isinstance(v, torch.Tensor) for v in state.values())


@pytest.fixture(scope="module")
def mixed_folder(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("mixed")
    (root / "real").mkdir()
    (root / "fake").mkdir()
    save_with_exif_rotation(placed(), root / "real" / "rotated.jpg")
    Image.fromarray(np.concatenate([placed(), placed()], axis=1)).save(root / "real" / "two.png")
    write_video(root / "real" / "clip.mp4", n_frames=8)
    write_video(root / "fake" / "clip2.avi", n_frames=8)
    Image.fromarray(no_face()).save(root / "fake" / "empty.png")
    (root / "fake" / "broken.jpg").write_bytes(b"not a jpeg")
    (root / "fake" / "broken.mp4").write_bytes(b"not a video either")
    return root


def test_crop_dataset_writes_crops_manifest_and_report(tmp_path, mixed_folder):
    dst = tmp_path / "faces"
    policy = CropPolicy(size=64)
    report = crop_dataset(mixed_folder, dst, frames=3, min_size=30, policy=policy, workers=2)
    assert report.sources == 7 and report.resumed == 0
    assert report.no_face == ["fake/empty.png"]
    assert sorted(report.undecodable) == ["fake/broken.jpg", "fake/broken.mp4"]
    assert report.several_faces == ["real/two.png"]
    assert report.crops == 1 + 1 + 3 + 3  # largest face of each photo, 3 frames per video
    with (dst / "report.csv").open() as f:
        statuses = {r["source"]: r["status"] for r in csv.DictReader(f)}
    assert statuses == {
        "real/rotated.jpg": "ok",
        "real/two.png": "several_faces",
        "real/clip.mp4": "ok",
        "fake/clip2.avi": "ok",
        "fake/empty.png": "no_face",
        "fake/broken.jpg": "undecodable",
        "fake/broken.mp4": "undecodable",
    }
    assert json.loads((dst / "crop.json").read_text())["policy"]["size"] == 64
    with (dst / "manifest.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == report.crops
    video_rows = [r for r in rows if r["source"] == "real/clip.mp4"]
    assert [r["frame"] for r in video_rows] == ["0", "4", "7"]
    for row in rows:
        assert Image.open(dst / row["path"]).size == (64, 64)
    # the crop stored for a photo is the crop of the detected face in the decoded photo
    row = next(r for r in rows if r["source"] == "real/rotated.jpg")
    image = load_image(mixed_folder / "real" / "rotated.jpg")
    stored = np.asarray(Image.open(dst / row["path"]))
    assert np.array_equal(stored, crop(image, find_faces(image)[0], policy))
    # the manifest is a dataset with one group per video / photo
    ds = load_dataset(dst / "manifest.csv")
    assert len(ds) == report.crops and ds.groups is not None
    assert len(set(ds.groups)) == 4
    # a second run resumes: nothing left to do; other settings are refused
    again = crop_dataset(mixed_folder, dst, frames=3, min_size=30, policy=policy)
    assert again.resumed == 7 and again.crops == 0
    with pytest.raises(FacesError, match="frames"):
        crop_dataset(mixed_folder, dst, frames=5, min_size=30, policy=policy)


def test_cli_crop_all_faces(tmp_path, mixed_folder, capsys):
    from fakezoo.cli import main

    src = tmp_path / "src"
    for label, name in (("real", "two.png"), ("fake", "rotated.jpg")):
        (src / label).mkdir(parents=True)
        (src / label / name).write_bytes((mixed_folder / "real" / name).read_bytes())
    out = tmp_path / "out"
    assert main(["crop", str(src), str(out), "--all-faces", "--size", "32"]) == 0
    assert "3 face crops from 2 sources" in capsys.readouterr().out
    with (out / "manifest.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert sorted((r["label"], r["face"]) for r in rows) == [
        ("fake", "0"),
        ("real", "0"),
        ("real", "1"),
    ]
    assert Image.open(out / rows[0]["path"]).size == (32, 32)
