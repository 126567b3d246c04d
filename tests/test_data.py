"""Tests for fakezoo.data: discovery, robust decoding, cache, folds, demo data, self-blending."""

from __future__ import annotations

import io
import json
import logging
import pickle
import struct
import time
import zlib
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fakezoo.data import (
    Dataset,
    SkippedFile,
    cache,
    decode_dataset,
    decode_image,
    load_dataset,
    load_folds,
    make_folds,
    save_folds,
)
from fakezoo.errors import DatasetError, ImageDecodeError
from fakezoo.synth.blend import self_blend
from fakezoo.synth.demo import make_demo_dataset

# --------------------------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------------------------


def _rgb(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8))


def _png_bytes(width: int = 4, height: int = 4, seed: int = 0) -> bytes:
    buffer = io.BytesIO()
    _rgb(width, height, seed).save(buffer, "PNG")
    return buffer.getvalue()


def _touch(root: Path, *relpaths: str) -> None:
    """Write a tiny valid PNG at each relative path (extension notwithstanding)."""
    for i, rel in enumerate(relpaths):
        path = root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(_png_bytes(seed=i))


def _png_chunk(tag: bytes, payload: bytes) -> bytes:
    crc = zlib.crc32(tag + payload) & 0xFFFFFFFF
    return struct.pack(">I", len(payload)) + tag + payload + struct.pack(">I", crc)


def _bomb_png(width: int = 100_000, height: int = 100_000) -> bytes:
    """A tiny, well-formed PNG whose header declares a huge canvas."""
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + _png_chunk(b"IHDR", header)
        + _png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + _png_chunk(b"IEND", b"")
    )


def _exif_jpeg(path: Path, orientation: int) -> None:
    """40x20 blue image with a red marker in its 10 leftmost columns, and an EXIF orientation."""
    image = Image.new("RGB", (40, 20), (0, 0, 255))
    image.paste((255, 0, 0), (0, 0, 10, 20))
    exif = Image.Exif()
    exif[0x0112] = orientation
    image.save(path, "JPEG", quality=95, exif=exif.tobytes())


def _build_corpus(root: Path) -> tuple[set[str], set[str]]:
    """Good and bad files under root/real and root/fake; returns (good names, bad names)."""
    real, fake = root / "real", root / "fake"
    real.mkdir(parents=True)
    fake.mkdir(parents=True)

    _rgb(32, 24).save(real / "good.jpg", quality=95)
    _rgb(30, 30, seed=3).save(fake / "fälschung bild 1.jpg", quality=95)
    Image.new("RGBA", (16, 16), (10, 200, 30, 0)).save(real / "alpha.png")
    palette = Image.new("P", (16, 16), 1)
    palette.putpalette([0, 0, 0, 200, 100, 50] + [0] * 762)
    palette.save(real / "palette_transparent.png", transparency=0)
    gradient = (np.arange(32 * 32, dtype=np.uint16).reshape(32, 32) * 64).astype(np.uint16)
    Image.fromarray(gradient).save(real / "sixteen_bit.png")
    Image.fromarray(np.full((16, 16), 77, np.uint8)).save(real / "gray.png")
    Image.new("CMYK", (16, 16), (255, 0, 0, 0)).save(fake / "cmyk.jpg", quality=95)
    _exif_jpeg(fake / "exif_rotated.jpg", orientation=6)
    frames = [Image.new("RGB", (16, 16), c) for c in ((255, 0, 0), (0, 255, 0))]
    frames[0].save(fake / "animated.gif", save_all=True, append_images=frames[1:], duration=50)
    Image.new("RGB", (1, 1), (5, 150, 250)).save(fake / "one_pixel.png")
    Image.fromarray(np.full((8, 8), 0.5, np.float32)).save(fake / "float.tif")

    full = io.BytesIO()
    _rgb(64, 64, seed=9).save(full, "JPEG", quality=95)
    (real / "truncated.jpg").write_bytes(full.getvalue()[: len(full.getvalue()) // 2])
    (real / "empty.jpg").write_bytes(b"")
    (fake / "text.jpg").write_text("this is not an image\n")
    (fake / "bomb.png").write_bytes(_bomb_png())

    (real / "notes.txt").write_text("not an image extension: reported\n")
    _touch(real, ".hidden.jpg")
    good = {
        "good.jpg",
        "fälschung bild 1.jpg",
        "alpha.png",
        "palette_transparent.png",
        "sixteen_bit.png",
        "gray.png",
        "cmyk.jpg",
        "exif_rotated.jpg",
        "animated.gif",
        "one_pixel.png",
        "float.tif",
    }
    bad = {"truncated.jpg", "empty.jpg", "text.jpg", "bomb.png"}
    return good, bad


# --------------------------------------------------------------------------------------------
# decoding
# --------------------------------------------------------------------------------------------


def test_decode_corpus_keeps_good_files_and_skips_bad_ones(tmp_path, caplog):
    good, bad = _build_corpus(tmp_path)
    dataset = load_dataset(tmp_path)
    assert {p.name for p in dataset.paths} == good | bad  # hidden files ignored
    assert [(s.path.name, s.reason.split(";")[0]) for s in dataset.skipped] == [
        ("notes.txt", "not an image file extension (.txt)")
    ]

    with caplog.at_level(logging.WARNING, logger="fakezoo"):
        decoded = decode_dataset(dataset, 32, num_workers=1, progress=False)

    assert decoded.images.shape == (len(good), 3, 32, 32)
    assert decoded.images.dtype == torch.uint8 and decoded.images.is_contiguous()
    assert decoded.labels.dtype == torch.int64
    assert decoded.labels.tolist() == decoded.dataset.labels.tolist()
    assert {p.name for p in decoded.dataset.paths} == good
    skipped = {s.path.name: s.reason for s in decoded.dataset.skipped}
    assert set(skipped) == bad | {"notes.txt"}
    assert "truncated" in skipped["truncated.jpg"]
    assert "empty" in skipped["empty.jpg"]
    assert "not a recognised image" in skipped["text.jpg"]
    assert "decompression bomb" in skipped["bomb.png"]
    assert decoded.n_decoded == len(good)
    assert "skipped 4" in caplog.text and "bomb.png" in caplog.text


def test_decode_special_modes(tmp_path):
    _build_corpus(tmp_path)
    real, fake = tmp_path / "real", tmp_path / "fake"

    sixteen = decode_image(real / "sixteen_bit.png", 32)  # same size: no resampling
    source = np.arange(32 * 32).reshape(32, 32) * 64
    assert sixteen.shape == (32, 32, 3) and sixteen.dtype == np.uint8
    assert np.array_equal(sixteen[..., 0], (source >> 8).astype(np.uint8))
    assert 0 < sixteen.mean() < 255 and len(np.unique(sixteen)) > 100

    alpha = decode_image(real / "alpha.png", 8)  # alpha dropped, colour kept
    assert np.array_equal(alpha, np.broadcast_to(np.array([10, 200, 30], np.uint8), (8, 8, 3)))
    palette = decode_image(real / "palette_transparent.png", 8)
    assert np.array_equal(palette[0, 0], [200, 100, 50])

    gray = decode_image(real / "gray.png", 8)
    assert np.all(gray == 77)

    cmyk = decode_image(fake / "cmyk.jpg", 8).reshape(-1, 3).mean(0)
    assert cmyk[0] < 60 and cmyk[1] > 190 and cmyk[2] > 190  # cyan

    gif = decode_image(fake / "animated.gif", 8).reshape(-1, 3).mean(0)
    assert gif[0] > 240 and gif[1] < 15  # first frame (red), not the second (green)

    one = decode_image(fake / "one_pixel.png", 8)
    assert np.all(one == np.array([5, 150, 250], np.uint8))

    floats = decode_image(fake / "float.tif", 8)
    assert np.all(np.abs(floats.astype(int) - 128) <= 1)  # 0.5 in [0, 1] -> 127.5

    name = decode_image(fake / "fälschung bild 1.jpg", 16)
    assert name.shape == (16, 16, 3)


def test_exif_orientation_is_applied(tmp_path):
    _exif_jpeg(tmp_path / "rotated.jpg", orientation=6)
    image = decode_image(tmp_path / "rotated.jpg", 32).astype(int)
    red = (image[..., 0] > 150) & (image[..., 2] < 100)
    # stored 40x20 with a red left quarter; orientation 6 turns it into 20x40 with a red top
    # quarter, which the square resize stretches to rows 0..7 of 32
    assert red[:6].mean() > 0.95
    assert red[12:].mean() < 0.02  # an unrotated image would be red in its left columns here
    assert red[:, :6].mean() < 0.4


def test_decode_matches_torchvision_resize(tmp_path):
    from torchvision import transforms

    path = tmp_path / "photo.jpg"
    _rgb(50, 37, seed=1).save(path, quality=90)
    with Image.open(path) as img:
        expected = np.asarray(transforms.Resize((24, 24))(img.convert("RGB")))
    assert np.array_equal(decode_image(path, 24), expected)


def test_decode_errors_name_file_and_reason(tmp_path):
    bomb = tmp_path / "bomb.png"
    bomb.write_bytes(_bomb_png())
    start = time.perf_counter()
    with pytest.raises(ImageDecodeError, match="decompression bomb") as info:
        decode_image(bomb, 32)
    assert time.perf_counter() - start < 1.0
    assert info.value.path == bomb and str(bomb) in str(info.value)

    small = tmp_path / "small.png"
    _rgb(40, 20).save(small)
    with pytest.raises(ImageDecodeError, match="max_pixels=100"):
        decode_image(small, 8, max_pixels=100)
    with pytest.raises(ImageDecodeError, match="file not found"):
        decode_image(tmp_path / "missing.jpg", 8)
    with pytest.raises(ImageDecodeError, match="directory"):
        decode_image(tmp_path, 8)
    with pytest.raises(ValueError, match="image_size"):
        decode_image(small, 0)

    error = pickle.loads(pickle.dumps(ImageDecodeError(small, "some reason")))
    assert error.path == small and error.reason == "some reason"


def test_decode_dataset_nothing_decodable(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "fake").mkdir()
    (tmp_path / "real" / "a.jpg").write_bytes(b"")
    (tmp_path / "fake" / "b.jpg").write_text("nope")
    with pytest.raises(DatasetError, match="none of the 2 files"):
        decode_dataset(load_dataset(tmp_path), 8, num_workers=1, progress=False)


def test_cache_hits_and_changed_files(tmp_path):
    root = tmp_path / "data"
    for i in range(3):
        for cls in ("real", "fake"):
            (root / cls).mkdir(parents=True, exist_ok=True)
            _rgb(20, 20, seed=i + (10 if cls == "fake" else 0)).save(root / cls / f"{i}.png")
    dataset = load_dataset(root)
    cache = tmp_path / "cache"

    first = decode_dataset(dataset, 16, cache_dir=cache, num_workers=1, progress=False)
    assert first.n_decoded == 6
    assert len(list(cache.rglob("*.npy"))) == 6
    second = decode_dataset(dataset, 16, cache_dir=cache, num_workers=1, progress=False)
    assert second.n_decoded == 0
    assert torch.equal(first.images, second.images) and torch.equal(first.labels, second.labels)

    changed = root / "real" / "1.png"
    _rgb(20, 20, seed=99).save(changed)
    third = decode_dataset(dataset, 16, cache_dir=cache, num_workers=1, progress=False)
    assert third.n_decoded == 1
    index = third.dataset.paths.index(changed)
    assert not torch.equal(third.images[index], first.images[index])
    expected = torch.from_numpy(decode_image(changed, 16)).permute(2, 0, 1)
    assert torch.equal(third.images[index], expected)

    other_size = decode_dataset(dataset, 8, cache_dir=cache, num_workers=1, progress=False)
    assert other_size.n_decoded == 6  # image_size is part of the key


def test_parallel_decode_matches_serial(tmp_path, monkeypatch):
    root = tmp_path / "data"
    for i in range(70):
        cls = "real" if i % 2 else "fake"
        (root / cls).mkdir(parents=True, exist_ok=True)
        _rgb(12, 10, seed=i).save(root / cls / f"{i:03d}.png")
    (root / "fake" / "broken.png").write_bytes(b"\x89PNG broken")
    dataset = load_dataset(root)

    serial = decode_dataset(dataset, 16, num_workers=1, progress=False)

    pools = []

    class CountingPool(cache.ProcessPoolExecutor):
        def __init__(self, *args, **kwargs):
            pools.append(kwargs.get("max_workers"))
            super().__init__(*args, **kwargs)

    monkeypatch.setattr(cache, "ProcessPoolExecutor", CountingPool)
    parallel = decode_dataset(dataset, 16, num_workers=2, progress=False)

    assert pools == [2]
    assert torch.equal(serial.images, parallel.images)
    assert torch.equal(serial.labels, parallel.labels)
    assert serial.dataset.paths == parallel.dataset.paths
    assert serial.dataset.skipped == parallel.dataset.skipped
    assert [s.path.name for s in parallel.dataset.skipped] == ["broken.png"]


# --------------------------------------------------------------------------------------------
# discovery
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("real", "fake"),
    [("real", "fake"), ("Real", "Fake"), ("0_real", "1_fake"), ("original", "Manipulated")],
)
def test_class_folder_names(tmp_path, real, fake):
    _touch(tmp_path, f"{real}/a.jpg", f"{real}/sub/b.PNG", f"{fake}/c.jpeg")
    _touch(tmp_path, f"{real}/.hidden.jpg", f"{real}/.cache/d.jpg")
    (tmp_path / real / "readme.md").write_text("ignored")
    dataset = load_dataset(tmp_path)
    expected = {f"{fake}/c.jpeg": 1, f"{real}/a.jpg": 0, f"{real}/sub/b.PNG": 0}
    assert dataset.relpaths() == sorted(expected)  # deterministic order
    assert dataset.labels.tolist() == [expected[rel] for rel in dataset.relpaths()]
    assert dataset.labels.dtype == np.int64
    assert dataset.class_counts() == {"real": 2, "fake": 1}
    assert dataset.splits is None and dataset.groups is None
    assert all(p.is_absolute() for p in dataset.paths)


def test_kaggle_split_folders(tmp_path):
    root = tmp_path / "archive" / "Dataset"  # a wrapper folder, as Kaggle zips unpack
    _touch(root, "Train/Real/r1.jpg", "Train/Real/r2.jpg", "Train/Fake/f1.jpg", "Train/Fake/f2.jpg")
    _touch(root, "Validation/Real/r3.jpg", "Validation/Fake/f3.jpg")
    _touch(root, "Test/Real/r4.jpg", "Test/Fake/f4.jpg")
    merged = load_dataset(tmp_path / "archive")
    assert len(merged) == 8 and merged.class_counts() == {"real": 4, "fake": 4}
    assert sorted(set(merged.splits)) == ["test", "train", "validation"]
    by_name = dict(zip([p.name for p in merged.paths], merged.splits, strict=True))
    assert by_name["r1.jpg"] == "train" and by_name["f3.jpg"] == "validation"

    train = load_dataset(root, split="train")
    assert sorted(p.name for p in train.paths) == ["f1.jpg", "f2.jpg", "r1.jpg", "r2.jpg"]
    assert set(train.splits) == {"train"}
    assert load_dataset(root, split="Training").relpaths() == train.relpaths()
    assert len(load_dataset(root, split="val")) == 2

    with pytest.raises(ValueError, match="unknown split"):
        load_dataset(root, split="holdout")


def test_split_errors(tmp_path):
    _touch(tmp_path / "a", "train/real/x.jpg", "train/fake/y.jpg")
    with pytest.raises(DatasetError, match="no 'test' split"):
        load_dataset(tmp_path / "a", split="test")
    _touch(tmp_path / "b", "real/x.jpg", "fake/y.jpg")
    with pytest.raises(DatasetError, match="no split folders"):
        load_dataset(tmp_path / "b", split="train")
    _touch(tmp_path / "c", "real/x.jpg", "train/real/x.jpg", "train/fake/y.jpg")
    with pytest.raises(DatasetError, match="both class folders"):
        load_dataset(tmp_path / "c")


def test_unknown_layout_and_empty_folders(tmp_path):
    _touch(tmp_path / "pets", "cats/a.jpg", "dogs/b.jpg")
    with pytest.raises(DatasetError, match="cannot find real/fake") as info:
        load_dataset(tmp_path / "pets")
    assert "cats, dogs" in str(info.value) and "Expected" in str(info.value)
    assert "0_real" in str(info.value)

    (tmp_path / "empty" / "real").mkdir(parents=True)
    (tmp_path / "empty" / "fake").mkdir()
    with pytest.raises(DatasetError, match="no images"):
        load_dataset(tmp_path / "empty")
    with pytest.raises(DatasetError, match="does not exist"):
        load_dataset(tmp_path / "nowhere")
    (tmp_path / "list.txt").write_text("x")
    with pytest.raises(DatasetError, match=r"not a \.csv"):
        load_dataset(tmp_path / "list.txt")


def test_csv_labels_groups_and_missing_files(tmp_path, caplog):
    _touch(tmp_path, "imgs/a.jpg", "imgs/b.jpg", "imgs/c.jpg", "other/d.jpg")
    absolute = (tmp_path / "other" / "d.jpg").resolve()
    (tmp_path / "labels.csv").write_text(
        "Path,LABEL,Group\n"
        "imgs/a.jpg,real,alice\n"
        "imgs/b.jpg,Fake,alice\n"
        f"{absolute},0,bob\n"
        "imgs/gone.jpg,1,carol\n"
        "\n"
        "imgs/c.jpg,1,bob\n",
        encoding="utf-8",
    )
    with caplog.at_level(logging.WARNING, logger="fakezoo"):
        dataset = load_dataset(tmp_path / "labels.csv")
    assert dataset.root == tmp_path.absolute()
    assert [p.name for p in dataset.paths] == ["a.jpg", "b.jpg", "d.jpg", "c.jpg"]
    assert dataset.labels.tolist() == [0, 1, 0, 1]
    assert dataset.groups.tolist() == ["alice", "alice", "bob", "bob"]
    assert dataset.relpaths()[0] == "imgs/a.jpg"
    gone = tmp_path.absolute() / "imgs" / "gone.jpg"
    assert dataset.skipped == [SkippedFile(gone, "file not found")]
    assert "gone.jpg" in caplog.text

    (tmp_path / "numeric.csv").write_text("path,label\nimgs/a.jpg,0\nimgs/b.jpg,1\n")
    numeric = load_dataset(tmp_path / "numeric.csv")
    assert numeric.labels.tolist() == [0, 1] and numeric.groups is None


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("path,label\nimgs/a.jpg,real\nimgs/b.jpg,maybe\n", "line 3: label 'maybe'"),
        ("path,kind\nimgs/a.jpg,real\n", "no label column"),
        ("", "is empty"),
        ("path,label\nimgs/a.jpg,real\nimgs/a.jpg,fake\n", "listed twice"),
        ("path,label,group\nimgs/a.jpg,real,\n", "line 2: the group is empty"),
        ("path,label\nimgs/missing.jpg,real\n", "no existing image files"),
    ],
)
def test_csv_errors(tmp_path, content, message):
    _touch(tmp_path, "imgs/a.jpg", "imgs/b.jpg")
    (tmp_path / "bad.csv").write_text(content)
    with pytest.raises(DatasetError, match=message):
        load_dataset(tmp_path / "bad.csv")


# --------------------------------------------------------------------------------------------
# Dataset methods
# --------------------------------------------------------------------------------------------


def _fake_dataset(tmp_path: Path, n_real: int, n_fake: int, groups=None) -> Dataset:
    n = n_real + n_fake
    return Dataset(
        root=tmp_path,
        paths=[tmp_path / f"img_{i:03d}.jpg" for i in range(n)],
        labels=np.array([0] * n_real + [1] * n_fake),
        groups=groups,
    )


def test_subsample_is_balanced_and_seeded(tmp_path):
    dataset = _fake_dataset(tmp_path, 30, 20)
    dataset.skipped.append(SkippedFile(tmp_path / "x.jpg", "file not found"))
    a = dataset.subsample(10, seed=0)
    assert a.class_counts() == {"real": 10, "fake": 10}
    assert a.relpaths() == dataset.subsample(10, seed=0).relpaths()
    assert a.relpaths() != dataset.subsample(10, seed=1).relpaths()
    assert a.relpaths() == sorted(a.relpaths())  # dataset order kept
    assert len(a.skipped) == 1
    with pytest.raises(DatasetError, match="only 20 fake"):
        dataset.subsample(25)

    _touch(tmp_path / "d", *[f"{c}/{i}.jpg" for c in ("real", "fake") for i in range(4)])
    drawn = load_dataset(tmp_path / "d", n_per_class=3, seed=2)
    assert drawn.class_counts() == {"real": 3, "fake": 3}


def test_subset_indices_and_mask(tmp_path):
    dataset = _fake_dataset(tmp_path, 3, 3, groups=np.array(list("aabbcc")))
    picked = dataset.subset([4, 0])
    assert [p.name for p in picked.paths] == ["img_004.jpg", "img_000.jpg"]
    assert picked.labels.tolist() == [1, 0] and picked.groups.tolist() == ["c", "a"]
    masked = dataset.subset(dataset.labels == 1)
    assert masked.labels.tolist() == [1, 1, 1]
    assert len(dataset.subset([])) == 0
    with pytest.raises(IndexError):
        dataset.subset([6])


def test_check_for_cv(tmp_path):
    _fake_dataset(tmp_path, 3, 3).check_for_cv(3)
    with pytest.raises(DatasetError, match="empty"):
        _fake_dataset(tmp_path, 0, 0).check_for_cv(3)
    with pytest.raises(DatasetError, match=r"only real images.*add fake"):
        _fake_dataset(tmp_path, 5, 0).check_for_cv(3)
    with pytest.raises(DatasetError, match="only 2 fake images, fewer than n_splits=3"):
        _fake_dataset(tmp_path, 5, 2).check_for_cv(3)
    with pytest.raises(DatasetError, match="2 distinct groups"):
        _fake_dataset(tmp_path, 3, 3, groups=np.array(list("aaabbb"))).check_for_cv(3)
    with pytest.raises(ValueError, match="n_splits"):
        _fake_dataset(tmp_path, 3, 3).check_for_cv(1)


# --------------------------------------------------------------------------------------------
# folds
# --------------------------------------------------------------------------------------------


def test_stratified_folds():
    labels = np.array([0] * 31 + [1] * 26)
    folds = make_folds(labels, n_splits=3, seed=0)
    assert len(folds) == 3
    seen = np.concatenate([val for _, val in folds])
    assert sorted(seen.tolist()) == list(range(len(labels)))  # each item validated once
    ratio = labels.mean()
    for train, val in folds:
        assert train.dtype == np.int64 and val.dtype == np.int64
        assert np.array_equal(train, np.sort(train)) and np.array_equal(val, np.sort(val))
        assert not set(train) & set(val)
        assert len(train) + len(val) == len(labels)
        assert abs(labels[val].sum() - len(val) * ratio) <= 1
    again = make_folds(labels, n_splits=3, seed=0)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, again, strict=True))
    other = make_folds(labels, n_splits=3, seed=1)
    assert any(not np.array_equal(a[1], b[1]) for a, b in zip(folds, other, strict=True))

    with pytest.raises(DatasetError, match="fewer than n_splits=5"):
        make_folds(np.array([0] * 10 + [1] * 4), n_splits=5)


def test_group_folds_keep_groups_together():
    groups = np.repeat(np.arange(24), 3)
    labels = (groups % 2).astype(np.int64)
    folds = make_folds(labels, n_splits=3, seed=0, groups=groups)
    seen = np.concatenate([val for _, val in folds])
    assert sorted(seen.tolist()) == list(range(len(labels)))
    for train, val in folds:
        assert not set(groups[train]) & set(groups[val])
        assert set(labels[val]) == {0, 1}
    again = make_folds(labels, n_splits=3, seed=0, groups=groups)
    assert all(np.array_equal(a[1], b[1]) for a, b in zip(folds, again, strict=True))


def test_folds_round_trip_and_mismatch(tmp_path):
    dataset = _fake_dataset(tmp_path, 10, 8)
    folds = make_folds(dataset.labels, n_splits=3, seed=4)
    path = tmp_path / "run" / "folds.json"
    save_folds(path, dataset, folds, seed=4)
    document = json.loads(path.read_text())
    assert document["n_splits"] == 3 and document["seed"] == 4
    assert document["folds"][0]["val"] == sorted(document["folds"][0]["val"])

    loaded = load_folds(path, dataset)
    for (train_a, val_a), (train_b, val_b) in zip(folds, loaded, strict=True):
        assert np.array_equal(train_a, train_b) and np.array_equal(val_a, val_b)

    with pytest.raises(DatasetError, match="not in the dataset"):
        load_folds(path, dataset.subset(np.arange(len(dataset) - 1)))
    bigger = _fake_dataset(tmp_path, 11, 8)
    with pytest.raises(DatasetError, match="in no fold"):
        load_folds(path, bigger)
    (tmp_path / "junk.json").write_text('{"hello": 1}')
    with pytest.raises(DatasetError, match="not a fakezoo folds file"):
        load_folds(tmp_path / "junk.json", dataset)
    with pytest.raises(ValueError, match="exactly once"):
        save_folds(tmp_path / "x.json", dataset, folds[:2])  # fold 3's items are in no fold


# --------------------------------------------------------------------------------------------
# demo data and self-blending
# --------------------------------------------------------------------------------------------


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*.jpg"))}


def test_demo_dataset_is_deterministic(tmp_path):
    a = make_demo_dataset(tmp_path / "a", 3, seed=0, image_size=64, num_workers=1)
    b = make_demo_dataset(tmp_path / "b", 3, seed=0, image_size=64, num_workers=1)
    c = make_demo_dataset(tmp_path / "c", 3, seed=1, image_size=64, num_workers=1)
    files_a = _files(a)
    assert sorted(files_a) == [f"{c}/{c}_0000{i}.jpg" for c in ("fake", "real") for i in range(3)]
    assert files_a == _files(b)
    assert all(files_a[name] != content for name, content in _files(c).items())

    dataset = load_dataset(a)
    assert dataset.class_counts() == {"real": 3, "fake": 3}
    for path in dataset.paths:
        with Image.open(path) as img:
            assert img.size == (64, 64) and img.format == "JPEG" and img.mode == "RGB"
    pixels = [np.asarray(Image.open(p), dtype=np.float32) for p in dataset.paths]
    assert all(img.std() > 10 for img in pixels)  # not flat colours
    fake0, real0 = (np.asarray(Image.open(a / n), np.float32) for n in files_a if "00000" in n)
    assert np.abs(real0 - fake0).mean() > 5  # each fake has its own base image


def test_demo_dataset_reuse_and_regenerate(tmp_path):
    root = make_demo_dataset(tmp_path / "demo", 1, seed=0, num_workers=1)
    with Image.open(root / "real" / "real_00000.jpg") as img:
        assert img.size == (256, 256)
    manifest = json.loads((root / "demo.json").read_text())
    assert manifest["complete"] is True and manifest["n_per_class"] == 1
    before = {p: p.stat().st_mtime_ns for p in root.rglob("*.jpg")}
    assert make_demo_dataset(root, 1, seed=0) == root
    assert {p: p.stat().st_mtime_ns for p in root.rglob("*.jpg")} == before

    make_demo_dataset(root, 2, seed=0, image_size=32, num_workers=1)
    assert len(list(root.rglob("*.jpg"))) == 4
    make_demo_dataset(root, 1, seed=0, image_size=32, num_workers=1)
    assert len(list(root.rglob("*.jpg"))) == 2  # stale files of the bigger set removed

    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "mine.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match=r"no demo\.json"):
        make_demo_dataset(tmp_path / "busy", 1)


def test_demo_dataset_parallel_matches_serial(tmp_path):
    serial = make_demo_dataset(tmp_path / "s", 16, seed=3, image_size=32, num_workers=1)
    parallel = make_demo_dataset(tmp_path / "p", 16, seed=3, image_size=32, num_workers=2)
    assert _files(serial) == _files(parallel)


def _test_image(size: int = 64) -> np.ndarray:
    rng = np.random.default_rng(5)
    ramp = np.linspace(0, 200, size, dtype=np.float32)
    image = ramp[None, :, None] + ramp[:, None, None] * 0.2 + rng.normal(0, 12, (size, size, 3))
    return np.clip(image, 0, 255).astype(np.uint8)


@pytest.mark.parametrize("seed", range(5))
def test_self_blend_changes_only_the_masked_region(seed):
    image = _test_image()
    original = image.copy()
    fake, mask = self_blend(image, seed)
    assert np.array_equal(image, original)  # input untouched
    assert fake.shape == image.shape and fake.dtype == np.uint8
    assert mask.shape == image.shape[:2] and mask.dtype == np.float32
    assert mask.min() >= 0.0 and mask.max() <= 1.0
    assert mask.max() in (0.25, 0.5, 0.75, 1.0)  # peak normalised, times the blend ratio
    outside = mask == 0
    assert np.array_equal(fake[outside], image[outside])
    assert 0.02 < (~outside).mean() < 0.8  # non-trivial, roughly central region
    assert not outside[image.shape[0] // 2, image.shape[1] // 2]
    assert (fake[~outside] != image[~outside]).any()
    changed = (fake != image).any(axis=2)
    assert not (changed & outside).any()


def test_self_blend_is_seeded_and_validates_input():
    image = _test_image()
    first, mask = self_blend(image, 7)
    again, mask_again = self_blend(image, np.random.default_rng(7))
    assert np.array_equal(first, again) and np.array_equal(mask, mask_again)
    other, _ = self_blend(image, 8)
    assert not np.array_equal(first, other)
    with pytest.raises(ValueError, match="uint8"):
        self_blend(image.astype(np.float32))
    with pytest.raises(ValueError, match="at least 8x8"):
        self_blend(image[:4, :4])
