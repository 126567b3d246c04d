"""Issue 27, items 7-10: a bad entry in a dataset folder never stops or hangs a batch, every
file left out is reported (and recorded in the run and the evaluation report), and file names
that are not UTF-8 never crash an output."""

import csv
import io
import json
import logging
import os
import shutil
import sys

import numpy as np
import pytest
from PIL import Image

import fakezoo
from fakezoo.cli import EXIT_OK, main

NOT_UTF8 = b"caf\xe9.jpg"  # a Latin-1 name: not valid UTF-8
SHOWN = "caf\\xe9.jpg"  # how fakezoo prints and records it


def _image(path, seed):
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 255, (40, 40, 3), dtype=np.uint8)).save(path, "JPEG")


@pytest.fixture
def hostile(demo_dir, tmp_path):
    """The demo data plus one of each bad entry, and files named in unusual but valid ways."""
    root = tmp_path / "data"
    shutil.copytree(demo_dir, root)
    real, fake = root / "real", root / "fake"
    os.symlink(tmp_path / "gone.jpg", real / "dangling.jpg")  # points nowhere
    os.symlink("loop.jpg", real / "loop.jpg")  # points to itself
    os.mkfifo(fake / "pipe.jpg")  # reading it would block forever
    _image(os.path.join(os.fsencode(real), NOT_UTF8), 1)
    _image(real / "phone.jfif", 2)  # JPEG under its other extension: used
    _image(real / "no_extension", 3)  # reported: no image extension
    (fake / "notes.txt").write_text("labels checked by hand\n")  # reported
    linked = tmp_path / "elsewhere"
    linked.mkdir()
    _image(linked / "linked.jpg", 4)
    os.symlink(linked, fake / "more")  # a symlinked subfolder: followed
    os.symlink(fake, fake / "again")  # a symlink back up: reported once, never walked in
    return root


EXPECTED_SKIPS = {  # relative path -> words its reason must hold
    "real/dangling.jpg": "broken symbolic link",
    "real/loop.jpg": "symbolic link loop",
    "fake/pipe.jpg": "not a regular file",
    f"real/{SHOWN}": "not valid UTF-8",
    "real/no_extension": "no file extension",
    "fake/notes.txt": "not an image file extension",
    "fake/again": "already listed",
}


def test_load_dataset_uses_or_reports_every_entry(hostile):
    ds = fakezoo.load_dataset(hostile)
    names = ds.relpaths()
    assert "real/phone.jfif" in names and "fake/more/linked.jpg" in names
    assert not any("again" in n for n in names)
    reasons = {s.path.relative_to(hostile).as_posix(): s.reason for s in ds.skipped}
    for name in ("real/no_extension", "fake/notes.txt", "fake/again"):  # found by the listing
        assert EXPECTED_SKIPS[name] in reasons[name], (name, reasons)


@pytest.mark.timeout(300)  # before the fix the named pipe made training hang forever
def test_training_skips_bad_entries_and_records_them(hostile, tmp_path, caplog):
    out = tmp_path / "run"
    cv = fakezoo.CrossValidator(
        n_splits=2,
        epochs=1,
        batch_size=8,
        pretrained=False,
        image_size=32,
        device="cpu",
        progress=False,
        num_workers=1,
    )
    with caplog.at_level(logging.WARNING, logger="fakezoo"):
        result = cv.run("mobilenet_v2", hostile, finetune=False, lr=1e-3, out_dir=out)
    assert result.settings["n_images"] == 12 + 12 + 2  # the demo, phone.jfif and more/linked.jpg
    recorded = {s["path"]: s["reason"] for s in result.skipped}
    assert set(recorded) == set(EXPECTED_SKIPS)
    for name, words in EXPECTED_SKIPS.items():
        assert words in recorded[name], (name, recorded[name])
    assert "notes.txt" in caplog.text and "pipe.jpg" in caplog.text  # logged as well
    stored = json.loads((out / "results.json").read_text(encoding="utf-8"))
    assert {s["path"]: s["reason"] for s in stored["skipped"]} == recorded
    report = (out / "report.md").read_text(encoding="utf-8")
    assert "7 files were left out" in report
    for name, reason in recorded.items():
        assert f"`{name}`: {reason}" in report


def test_prediction_follows_the_same_rule(hostile, tiny_run, caplog):
    det = fakezoo.load(tiny_run, device="cpu")
    folder = hostile / "fake"
    with caplog.at_level(logging.WARNING, logger="fakezoo"):
        rows = det.predict(hostile / "real") + det.predict(folder)
    by_name = {os.path.basename(r.path): r for r in rows}
    assert by_name["phone.jfif"].label in {"real", "fake"}
    assert by_name["linked.jpg"].label in {"real", "fake"}
    for bad in ("dangling.jpg", "loop.jpg", "pipe.jpg"):
        assert by_name[bad].error and by_name[bad].label is None
    assert "not a regular file" in by_name["pipe.jpg"].error
    assert "broken symbolic link" in by_name["dangling.jpg"].error
    assert os.fsdecode(NOT_UTF8) in by_name and by_name[os.fsdecode(NOT_UTF8)].error is None
    assert "no_extension" not in by_name and "notes.txt" not in by_name
    assert "no_extension" in caplog.text and "notes.txt" in caplog.text and "again" in caplog.text


def strict_utf8(monkeypatch):
    """Make standard output UTF-8 that raises on anything it cannot encode (as a pipe does
    under PYTHONIOENCODING=utf-8); return the stream. Called in the test itself: pytest puts
    its own capture back between a fixture and the test."""
    stream = io.TextIOWrapper(io.BytesIO(), encoding="utf-8", errors="strict")
    monkeypatch.setattr(sys, "stdout", stream)
    return stream


@pytest.mark.parametrize("fmt", ["table", "csv"])
def test_predict_prints_names_that_are_not_utf8(monkeypatch, tiny_run, demo_dir, tmp_path, fmt):
    folder = tmp_path / "photos"
    folder.mkdir()
    first = sorted((demo_dir / "real").iterdir())[0]
    for name in (b"a.jpg", NOT_UTF8, b"z.jpg"):
        shutil.copy(first, os.path.join(os.fsencode(folder), name))
    stdout = strict_utf8(monkeypatch)
    # main() itself, not the cli fixture: its capsys would replace the strict stream
    code = main(["-q", "predict", str(folder), "--model", str(tiny_run), "--format", fmt])
    stdout.flush()
    text = stdout.buffer.getvalue().decode("utf-8")
    assert code == EXIT_OK
    assert "a.jpg" in text and SHOWN in text and "z.jpg" in text  # nothing lost after it
    if fmt == "csv":
        assert len(list(csv.DictReader(io.StringIO(text)))) == 3


def test_evaluate_writes_its_report_with_names_that_are_not_utf8(cli, hostile, tiny_run, tmp_path):
    out = tmp_path / "eval"
    code, _, err = cli("-q", "evaluate", tiny_run, hostile, "--bootstrap", "0", "--out", out)
    assert code == EXIT_OK, err
    [table] = (out / "predictions").glob("*.csv")
    rows = list(csv.DictReader(io.StringIO(table.read_text(encoding="utf-8"))))
    assert any(SHOWN in r["path"] for r in rows)
    report = (out / "evaluate.md").read_text(encoding="utf-8")
    for name, words in EXPECTED_SKIPS.items():
        if name == f"real/{SHOWN}":
            continue  # evaluation scores it: only a run's records need text names
        line = next(x for x in report.splitlines() if f"{name}`" in x)
        assert words in line, line
