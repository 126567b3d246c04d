"""Self-Blended Images whose mask follows the face's five landmarks, the landmarks file that
holds them, and `fakezoo crop` writing it (the real MTCNN, one run)."""

from __future__ import annotations

import csv

import numpy as np
import pytest
from PIL import Image

from fakezoo.data.dataset import Dataset
from fakezoo.errors import DatasetError
from fakezoo.faces import LANDMARKS_FILE, read_landmarks, write_landmarks
from fakezoo.faces.finder import Face
from fakezoo.faces.landmarks import landmarks_to_fractions, landmarks_to_pixels
from fakezoo.faces.policy import AlignedCropPolicy, CropPolicy
from fakezoo.synth.blend import self_blend

SIZE = 256
# an upright face in the upper left quarter: eyes 40 px apart, mouth 45 px below them
FACE = np.array([[60.0, 70.0], [100.0, 70.0], [80.0, 92.0], [66.0, 115.0], [94.0, 115.0]])
EYES, MOUTH = 40.0, 45.0
FOREHEAD_CHIN = np.array([[80.0, 70.0 - 0.25 * MOUTH], [80.0, 115.0 + 0.3 * MOUTH]])


def _image(size: int = SIZE, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    ramp = np.linspace(20, 220, size, dtype=np.float32)
    image = (
        ramp[None, :, None] * 0.7 + ramp[:, None, None] * 0.3 + rng.normal(0, 10, (size, size, 3))
    )
    return np.clip(image, 0, 255).astype(np.uint8)


def _at(mask: np.ndarray, points: np.ndarray) -> np.ndarray:
    xy = np.round(points).astype(int)
    return mask[xy[:, 1], xy[:, 0]]


def _centroid(mask: np.ndarray) -> np.ndarray:
    ys, xs = np.nonzero(mask)
    weights = mask[ys, xs]
    return np.array([np.average(xs, weights=weights), np.average(ys, weights=weights)])


def test_mask_lies_inside_the_face_and_covers_its_centre():
    image = _image()
    eye_centre = FACE[:2].mean(axis=0)
    for seed in range(12):
        _, mask = self_blend(image, seed, FACE)
        ys, xs = np.nonzero(mask > 0)
        # within two eye distances of the eye centre across, from forehead to below the chin
        assert abs(xs - eye_centre[0]).max() <= 2.0 * EYES, seed
        assert (ys - eye_centre[1]).min() >= -1.8 * MOUTH, seed
        assert (ys - eye_centre[1]).max() <= 2.7 * MOUTH, seed
        assert (mask > 0).mean() < 0.25  # a face's worth, not the centre region of the image
        # the nose and the middle of eyes and mouth are blended; the image corners never
        assert (_at(mask, np.vstack([FACE[2], FACE.mean(axis=0)])) > 0).all(), seed
        assert (_at(mask, FOREHEAD_CHIN) > 0).all(), seed  # above the eyes, below the mouth
        for corner in (mask[:24, :24], mask[:24, -24:], mask[-24:, :24], mask[-24:, -24:]):
            assert not corner.any(), seed
        assert np.abs(_centroid(mask) - FACE[2]).max() < 0.5 * EYES, seed
    # points of a mirrored image whose left and right were not swapped: still the face
    swapped = FACE[[1, 0, 2, 4, 3]]
    for seed in range(4):
        _, mask = self_blend(image, seed, swapped)
        ys, _ = np.nonzero(mask)
        assert (ys - eye_centre[1]).min() >= -1.8 * MOUTH and _at(mask, FACE[2:3])[0] > 0
        assert (_at(mask, FOREHEAD_CHIN) > 0).all(), seed
        assert (ys - eye_centre[1]).max() <= 2.7 * MOUTH, seed
    # without landmarks the region is around the image's centre, which this face is not
    _, centred = self_blend(image, 0)
    assert np.abs(_centroid(centred) - SIZE / 2).max() < 0.1 * SIZE


def test_mask_moves_with_the_landmarks():
    image = _image()
    _, mask = self_blend(image, 5, FACE)
    _, moved = self_blend(image, 5, FACE + np.array([90.0, 60.0]))
    assert np.allclose(_centroid(moved) - _centroid(mask), (90.0, 60.0), atol=2.0)
    # a small face in the lower right corner: the mask is there and only there
    small = (FACE - FACE[2]) * 0.3 + (225.0, 228.0)
    for seed in range(4):
        _, corner = self_blend(image, seed, small)
        ys, xs = np.nonzero(corner)
        assert len(xs) > 20 and xs.min() > 190 and ys.min() > 190, seed
        assert _at(corner, small[2:3])[0] > 0


def test_seeded_and_outside_the_mask_untouched():
    image = _image()
    original = image.copy()
    fake, mask = self_blend(image, 11, FACE)
    again, mask_again = self_blend(image, np.random.default_rng(11), [tuple(p) for p in FACE])
    assert np.array_equal(fake, again) and np.array_equal(mask, mask_again)
    other, other_mask = self_blend(image, 12, FACE)
    assert not np.array_equal(fake, other) and not np.array_equal(mask, other_mask)
    assert np.array_equal(image, original)
    outside = mask == 0
    assert np.array_equal(fake[outside], image[outside])
    assert (fake[~outside] != image[~outside]).any()
    assert mask.dtype == np.float32 and mask.min() >= 0.0 and mask.max() in (0.25, 0.5, 0.75, 1.0)


def test_bad_landmarks_are_refused_and_unknown_ones_mean_none():
    image = _image(64)
    for bad in (FACE[:4], FACE[:, :1], FACE.ravel(), np.zeros((5, 3)), "eyes"):
        with pytest.raises(ValueError, match=r"landmarks must be a \(5, 2\) array"):
            self_blend(image, 0, bad)
    unknown = FACE.copy()
    unknown[1] = np.nan
    for none in (unknown, np.full((5, 2), np.nan)):
        fake, mask = self_blend(image, 3, none)
        plain, plain_mask = self_blend(image, 3)
        assert np.array_equal(fake, plain) and np.array_equal(mask, plain_mask)


def _dataset(root, names=("real/a.png", "real/b.png", "fake/c.png")) -> Dataset:
    labels = [0 if n.startswith("real") else 1 for n in names]
    return Dataset(root=root, paths=[root / n for n in names], labels=labels)


def test_landmarks_file_round_trip_and_unlisted_images(tmp_path):
    ds = _dataset(tmp_path)
    assert read_landmarks(ds) is None  # no file next to the dataset
    a = landmarks_to_fractions(FACE, SIZE, SIZE)
    c = np.array([[0.3, 0.4], [0.7, 0.4], [0.5, 0.55], [-0.1, 0.8], [1.2, 0.8]])
    written = write_landmarks(tmp_path / LANDMARKS_FILE, {"real/a.png": a, "fake/c.png": c})
    assert written == tmp_path / LANDMARKS_FILE
    with written.open(newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["path", "x1", "y1", "x2", "y2", "x3", "y3", "x4", "y4", "x5", "y5"]
    assert [r[0] for r in rows[1:]] == ["real/a.png", "fake/c.png"]
    got = read_landmarks(ds)
    assert got.shape == (3, 5, 2) and got.dtype == np.float64
    assert np.allclose(got[0], a, atol=1e-6) and np.allclose(got[2], c, atol=1e-6)
    assert np.isnan(got[1]).all()  # b.png is not listed
    assert np.allclose(landmarks_to_pixels(got[0], SIZE, SIZE), FACE, atol=1e-3)
    # an explicit path; the file's rows follow the dataset's order, whatever theirs
    other = tmp_path / "elsewhere.csv"
    write_landmarks(other, [("fake/c.png", c), ("real/b.png", a), ("real/a.png", None)])
    got = read_landmarks(ds, other)
    assert np.isnan(got[0]).all() and np.allclose(got[1], a, atol=1e-6)
    with pytest.raises(DatasetError, match=r"missing\.csv does not exist"):
        read_landmarks(ds, tmp_path / "missing.csv")
    with pytest.raises(ValueError, match="five finite"):
        write_landmarks(tmp_path / "x.csv", {"real/a.png": a * 10})
    with pytest.raises(ValueError, match="listed twice"):
        write_landmarks(tmp_path / "x.csv", [("real/a.png", a), ("real/a.png", a)])


GOOD = "real/a.png," + ",".join(["0.5"] * 10)


@pytest.mark.parametrize(
    ("body", "line", "says"),
    [
        ("path,x1,y1\n", 1, "header"),
        (f"{GOOD}\nreal/b.png,0.1,0.2\n", 3, "3 columns, not 11"),
        ("real/b.png," + ",".join(["0.5"] * 9) + ",eye\n", 2, "'eye' is not a number"),
        ("real/b.png," + ",".join(["0.5"] * 9) + ",1.7\n", 2, "1.7 is not a fraction"),
        ("real/b.png," + ",".join(["0.5"] * 9) + ",nan\n", 2, "nan is not a fraction"),
        (f"{GOOD}\n\n{GOOD}\n", 4, "listed twice"),
    ],
)
def test_a_bad_landmarks_line_is_one_error_naming_file_and_line(tmp_path, body, line, says):
    path = tmp_path / LANDMARKS_FILE
    header = (
        ""
        if body.startswith("path")
        else ",".join(["path", "x1", "y1", "x2", "y2", "x3", "y3", "x4", "y4", "x5", "y5"]) + "\n"
    )
    path.write_text(header + body)
    with pytest.raises(DatasetError) as caught:
        read_landmarks(_dataset(tmp_path))
    message = str(caught.value)
    assert f"{path}, line {line}:" in message and says in message and "\n" not in message


def _dots(size: tuple[int, int], points: np.ndarray) -> np.ndarray:
    """A black image with a 5 x 5 white square centred on each point."""
    image = np.zeros((size[1], size[0], 3), np.uint8)
    for x, y in np.round(points).astype(int):
        image[y - 2 : y + 3, x - 2 : x + 3] = 255
    return image


def _dot_centres(crop: np.ndarray, guesses: np.ndarray) -> np.ndarray:
    """The brightness-weighted centre of the dot near each guessed `(x, y)`."""
    weight = crop.astype(np.float64).sum(axis=2)
    ys, xs = np.mgrid[0 : crop.shape[0], 0 : crop.shape[1]]
    out = []
    for gx, gy in guesses:
        near = weight * ((xs - gx) ** 2 + (ys - gy) ** 2 <= 36)
        out.append([(near * xs).sum() / near.sum(), (near * ys).sum() / near.sum()])
    return np.array(out)


@pytest.mark.parametrize(
    "policy",
    [
        CropPolicy(margin=0.25, size=96),
        CropPolicy(margin=0.9, size=96),  # the region leaves the image: padded black
        CropPolicy(margin=0.125, square=False, size=96, outside="clip"),  # SBI's
        AlignedCropPolicy(size=96),
    ],
    ids=["box", "padded", "clipped", "aligned"],
)
def test_landmarks_in_crop_are_where_the_crop_shows_them(policy):
    canvas = (200, 160)
    points = FACE * 0.9 + (20.0, 10.0)
    rotation = np.deg2rad(12)  # a tilted face, so the aligned crop rotates it
    turn = np.array([[np.cos(rotation), -np.sin(rotation)], [np.sin(rotation), np.cos(rotation)]])
    points = np.round((points - points[2]) @ turn.T + points[2])  # dots centred on them
    lo, hi = points.min(axis=0), points.max(axis=0)
    face = Face((lo[0] - 14, lo[1] - 25, hi[0] + 14, hi[1] + 20), 0.99, tuple(map(tuple, points)))
    fractions = policy.landmarks_in_crop(face, canvas)
    assert fractions.shape == (5, 2) and ((fractions > 0) & (fractions < 1)).all()
    crop = policy.cut(_dots(canvas, points), face)
    expected = landmarks_to_pixels(fractions, policy.size, policy.size)
    assert np.allclose(_dot_centres(crop, expected), expected, atol=0.3)  # < half a pixel
    assert policy.landmarks_in_crop(Face(face.box, 0.99, None), canvas) is None


def test_crop_writes_the_crops_landmarks_and_keeps_them_on_resume(
    tmp_path, one_torch_thread, caplog
):
    pytest.importorskip("facenet_pytorch")
    pytest.importorskip("skimage.data")
    from face_images import astronaut, placed

    from fakezoo import load_dataset
    from fakezoo.faces import crop_dataset

    src, dst = tmp_path / "src", tmp_path / "faces"
    (src / "real").mkdir(parents=True)
    (src / "fake").mkdir()
    Image.fromarray(placed()).save(src / "real" / "placed.png")
    Image.fromarray(np.ascontiguousarray(astronaut(200)[:, ::-1])).save(src / "fake" / "flip.png")
    report = crop_dataset(src, dst, min_size=30, policy=CropPolicy(size=64), workers=1)
    assert report.crops == 2 and report.landmarks == dst / LANDMARKS_FILE
    landmarks_text = report.landmarks.read_text()
    ds = load_dataset(dst / "manifest.csv")
    points = read_landmarks(ds)
    assert points.shape == (2, 5, 2) and np.isfinite(points).all()  # every crop listed
    for each in points:
        assert ((each > 0.05) & (each < 0.95)).all()  # on the face, inside the crop
        assert each[0, 0] < each[1, 0]  # the left eye left of the right eye
        assert max(each[0, 1], each[1, 1]) < min(each[3, 1], each[4, 1])  # eyes above mouth
        assert each[0, 1] < each[2, 1] < each[3, 1]  # the nose between them
    # a resumed run keeps the file; one whose last source did not finish redoes only that
    assert crop_dataset(src, dst, min_size=30, policy=CropPolicy(size=64)).resumed == 2
    assert report.landmarks.read_text() == landmarks_text
    report_rows = (dst / "report.csv").read_text().splitlines()
    (dst / "report.csv").write_text("\n".join(report_rows[:-1]) + "\n")
    again = crop_dataset(src, dst, min_size=30, policy=CropPolicy(size=64))
    assert again.resumed == 1 and again.crops == 1
    rows = list(csv.reader(report.landmarks.open(newline="")))[1:]
    assert sorted(r[0] for r in rows) == sorted(ds.relpaths())
    assert np.allclose(read_landmarks(load_dataset(dst / "manifest.csv")), points, atol=1e-6)
    # a folder cropped before crops had landmarks: resumed without them, and said so
    report.landmarks.unlink()
    (dst / "report.csv").write_text("\n".join(report_rows[:-1]) + "\n")
    with caplog.at_level("WARNING", logger="fakezoo"):
        assert crop_dataset(src, dst, min_size=30, policy=CropPolicy(size=64)).crops == 1
    assert not report.landmarks.exists() and "no landmarks.csv" in caplog.text
