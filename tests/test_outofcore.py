"""Out-of-core caches: decoded images and trunk outputs past the memory budget live in
memory-mapped files, written atomically and resumably, with the same numbers as in memory."""

import json
import shutil
import subprocess
import uuid
from pathlib import Path

import numpy as np
import pytest
import torch

import fakezoo
from fakezoo.data import MappedArray, decode_dataset, load_dataset
from fakezoo.errors import CacheSpaceError
from fakezoo.memory import default_memory_budget, parse_size
from fakezoo.models.stages import split_trunk_tail
from fakezoo.train.settings import TrainSettings

pytestmark = pytest.mark.usefixtures("one_torch_thread")

SETTINGS = dict(
    n_splits=2,
    epochs=1,
    batch_size=8,
    pretrained=False,
    image_size=32,
    device="cpu",
    trunk_backend="torch",
)
TINY, LARGE = "1KB", "8GB"  # out of core for anything; in memory for these tiny sets


@pytest.fixture(scope="module")
def many_dir(tmp_path_factory):
    """200 images at 32 px: with the trunk's batches of 64, a pass of four batches."""
    from fakezoo.synth.demo import make_demo_dataset

    folder = tmp_path_factory.mktemp("many")
    return make_demo_dataset(folder, n_per_class=100, seed=1, image_size=32, num_workers=1)


def _cv(cache, budget, **changes):
    settings = TrainSettings(**{**SETTINGS, **changes, "memory_budget": budget})
    return fakezoo.CrossValidator(settings, cache_dir=cache, progress=False, num_workers=1)


def _count_trunk_batches(cv, model_name, finetune, fail_at=None):
    """Count the trunk's forward passes on ``cv``'s template; raise on pass ``fail_at``."""
    template = cv.template(model_name, finetune)
    first = next(s.fn for s in split_trunk_tail(template)[0] if isinstance(s.fn, torch.nn.Module))
    calls = []

    def hook(module, inputs):
        calls.append(len(inputs[0]))
        if fail_at is not None and len(calls) == fail_at:
            raise KeyboardInterrupt("killed mid-pass")

    return template, calls, first.register_forward_pre_hook(hook)


def test_sizes_parse_with_units():
    assert parse_size("2GB") == 2 * 10**9
    assert parse_size("512MiB") == 512 * 2**20
    assert parse_size("1.5 g") == 1_500_000_000
    assert parse_size("3") == 3 * 10**9  # a bare number is GB, as the protocol's flag
    assert parse_size(4096) == 4096  # a number from Python is bytes
    for bad in ("lots", "-1GB", "0", "2 parsecs"):
        with pytest.raises(ValueError, match="memory budget"):
            parse_size(bad)
    assert default_memory_budget() > 0
    assert TrainSettings(memory_budget="2GB").memory_budget == 2 * 10**9
    assert TrainSettings().memory_budget is None  # the machine's default, found when used


def test_a_bad_memory_budget_flag_is_a_usage_error(cli, demo_dir, tmp_path):
    code, _, err = cli("cv", demo_dir, "--model", "mobilenet_v2", "--lr", "1e-3", "--out",
                       tmp_path / "run", "--memory-budget", "lots")  # fmt: skip
    last = err.strip().splitlines()[-1]
    assert code == 2 and last.endswith(
        "memory budget 'lots': give a size such as 2GB or 512MB (a bare number is GB)"
    )


def test_decoded_images_past_the_budget_are_mapped_and_equal(demo_dir, tmp_path):
    data = load_dataset(demo_dir)
    in_memory = decode_dataset(data, 32, num_workers=1, progress=False)
    mapped = decode_dataset(
        data, 32, cache_dir=tmp_path, num_workers=1, progress=False, memory_budget=TINY
    )
    assert isinstance(in_memory.images, torch.Tensor)
    assert isinstance(mapped.images, MappedArray) and mapped.images.shape == (24, 3, 32, 32)
    assert torch.equal(mapped.images[np.arange(24)], in_memory.images)
    assert torch.equal(mapped.images[3:9], in_memory.images[3:9])
    assert mapped.images.path.is_relative_to(tmp_path)
    again = decode_dataset(
        data, 32, cache_dir=tmp_path, num_workers=1, progress=False, memory_budget=TINY
    )
    assert again.n_decoded == 0 and again.images.path == mapped.images.path  # reused whole
    assert torch.equal(again.images[:24], in_memory.images)


@pytest.mark.parametrize(
    "finetune, mode", [(False, "fast"), (True, "fast"), (False, "study")], ids=str
)
def test_out_of_core_equals_in_memory_bit_for_bit(demo_dir, tmp_path, finetune, mode):
    runs = {}
    for name, budget in (("memory", LARGE), ("disk", TINY)):
        cv = _cv(tmp_path / f"cache-{name}", budget, mode=mode)
        result = cv.run("mobilenet_v2", demo_dir, finetune, 3e-3, tmp_path / name)
        decoded = next(iter(cv._decoded.values()))
        runs[name] = (result, decoded)
    (memory, in_ram), (disk, on_disk) = runs["memory"], runs["disk"]
    assert isinstance(in_ram.images, torch.Tensor) and isinstance(on_disk.images, MappedArray)
    if mode == "fast":  # the trunk output went to disk too
        assert isinstance(_cv_trunk(tmp_path / "cache-disk"), list)
    for a, b in zip(memory.folds, disk.folds, strict=True):
        assert a.y_prob == b.y_prob and a.y_true == b.y_true and a.history == b.history
    for k in (1, 2):
        weights = [(tmp_path / n / f"fold_{k}" / "model.safetensors").read_bytes() for n in runs]
        assert weights[0] == weights[1]


def _cv_trunk(cache):
    """The finished trunk caches in a cache folder (their completion markers)."""
    found = sorted((cache / "trunk").glob("*/complete.json"))
    assert found, f"no finished trunk cache under {cache}"
    return found


def test_a_killed_trunk_pass_resumes_without_recomputing_finished_batches(many_dir, tmp_path):
    cache = tmp_path / "cache"
    reference = _cv(None, LARGE)
    ref_template = reference.template("mobilenet_v2", False)
    expected = reference.trunk_output(ref_template, reference.decode(many_dir, 32))
    assert len(expected) == 200  # four batches of 64, 64, 64, 8

    first = _cv(cache, TINY)
    decoded = first.decode(many_dir, 32)
    template, calls, _ = _count_trunk_batches(first, "mobilenet_v2", False, fail_at=3)
    with pytest.raises(KeyboardInterrupt):
        first.trunk_output(template, decoded)
    assert calls == [64, 64, 64]  # the third was in flight when it stopped
    assert not list((cache / "trunk").glob("*/complete.json"))

    rerun = _cv(cache, TINY)  # a new process: nothing kept in memory
    template, calls, _ = _count_trunk_batches(rerun, "mobilenet_v2", False)
    features = rerun.trunk_output(template, rerun.decode(many_dir, 32))
    assert calls == [64, 8]  # the two finished batches were not run again
    assert isinstance(features, MappedArray) and features.dtype == expected.dtype
    assert torch.equal(features[np.arange(200)], expected)
    assert len(_cv_trunk(cache)) == 1 and not list((cache / "trunk").glob("*/*.partial"))

    third = _cv(cache, TINY)  # finished: read, not computed
    template, calls, _ = _count_trunk_batches(third, "mobilenet_v2", False)
    assert torch.equal(third.trunk_output(template, third.decode(many_dir, 32))[:200], expected)
    assert calls == []


def test_another_model_or_data_gets_its_own_trunk_cache(many_dir, demo_dir, tmp_path):
    cache = tmp_path / "cache"
    for data, finetune in ((demo_dir, False), (demo_dir, True), (many_dir, False)):
        cv = _cv(cache, TINY)
        cv.trunk_output(cv.template("mobilenet_v2", finetune), cv.decode(data, 32))
    assert len(_cv_trunk(cache)) == 3
    marker = json.loads(_cv_trunk(cache)[0].read_text())
    assert {"shape", "dtype", "key"} <= set(marker)


@pytest.fixture
def small_disk(tmp_path):
    """A real 1 MB filesystem (tmpfs), mounted for the test; skipped where mounting is refused."""
    mount = tmp_path / f"small-{uuid.uuid4().hex[:6]}"
    mount.mkdir()
    if shutil.which("mount") is None:
        pytest.skip("no mount command")
    done = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True
    )
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {done.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=False)


def test_a_cache_that_does_not_fit_fails_up_front_and_loses_nothing(many_dir, small_disk):
    earlier = small_disk / "earlier.bin"  # earlier work on that disk: 600 KB of its 1 MB
    earlier.write_bytes(bytes(range(256)) * 2400)
    before = sorted(p.relative_to(small_disk) for p in small_disk.rglob("*"))

    # 200 decoded images at 32 px need 614 KB: more than is left.
    cv = _cv(small_disk, TINY)
    with pytest.raises(CacheSpaceError) as err:
        cv.decode(many_dir, 32)
    message = str(err.value)
    assert "decoded images" in message and "needs 614.4 kB" in message
    assert str(small_disk) in message and len(message.splitlines()) == 1
    assert sorted(p.relative_to(small_disk) for p in small_disk.rglob("*") if p.is_file()) == [
        p for p in before if (small_disk / p).is_file()
    ]

    # Decoded in memory, the trunk's output (200 x 1280 values, 512 KB or more) does not fit.
    decoded = _cv(None, "1MB").decode(many_dir, 32)
    assert isinstance(decoded.images, torch.Tensor)
    cv = _cv(small_disk, TINY)
    template, calls, _ = _count_trunk_batches(cv, "mobilenet_v2", False)
    with pytest.raises(CacheSpaceError, match=r"trunk output .* needs [\d.]+ [kM]B in /"):
        cv.trunk_output(template, decoded)
    assert len(calls) <= 1  # at most the batch that measures the output's size
    assert earlier.read_bytes() == bytes(range(256)) * 2400
    assert not [p for p in small_disk.rglob("*") if p.is_file() and p != earlier]


def test_the_cli_fails_with_one_line_when_the_cache_does_not_fit(
    cli, many_dir, small_disk, tmp_path, monkeypatch
):
    monkeypatch.setenv("FAKEZOO_CACHE", str(small_disk))
    (small_disk / "earlier.bin").write_bytes(b"\0" * 600_000)
    code, _, err = cli("cv", many_dir, "--model", "mobilenet_v2", "--no-finetune", "--lr",
                       "1e-3", "--out", tmp_path / "run", "--epochs", "1", "--image-size", "32",
                       "--no-pretrained", "--device", "cpu", "--memory-budget", "1KB")  # fmt: skip
    assert code != 0
    lines = err.strip().splitlines()
    assert len(lines) == 1 and "needs 614.4 kB in " + str(small_disk) in lines[0], err


def test_a_batch_whose_log_line_a_kill_cut_short_is_not_done(tmp_path):
    from fakezoo.data.outofcore import BatchWriter

    folder = tmp_path / "array"
    writer = BatchWriter.start(folder, (10, 3), "float16", 4, "test array")
    rows = np.arange(30, dtype=np.float16).reshape(10, 3)
    for batch, start in enumerate(range(0, 8, 4)):
        writer.write(start, rows[start : start + 4])
        writer.mark_done(batch)
    writer.close()
    with open(folder / "done.log", "a") as log:
        log.write("2")  # killed while logging batch 2: no newline, not done
    again = BatchWriter.resume(folder, 4)
    assert again.done == {0, 1}
    assert BatchWriter.resume(folder, 5) is None  # another batch size: start afresh
    again.write(8, rows[8:])
    again.mark_done(2)
    array = again.finish()
    assert torch.equal(array[:10], torch.from_numpy(rows))
    assert sorted(p.name for p in folder.iterdir()) == ["complete.json", "data.bin"]


def test_float16_overflow_midway_widens_the_file_as_in_memory_and_resumes(build, tmp_path):
    """Batches 2 and 3 overflow float16: in memory the earlier ones are widened to float32;
    on disk the file is widened the same way, and a pass killed after it resumes in float32."""
    from fakezoo.train.engine import Spill, compute_trunk

    model = build("mobilenet_v2", finetune=False, image_size=32)
    modules = [s.fn for s in split_trunk_tail(model)[0] if isinstance(s.fn, torch.nn.Module)]
    bright, calls = [], []

    def look(module, inputs):
        bright.append(bool(inputs[0].mean() > 0))
        calls.append(len(inputs[0]))
        if len(calls) == fail_at[0]:
            raise KeyboardInterrupt("killed mid-pass")

    modules[0].register_forward_pre_hook(look)
    modules[-1].register_forward_hook(lambda m, i, out: out * 1e6 if bright[-1] else out)
    dark = torch.randint(0, 10, (8, 3, 32, 32), dtype=torch.uint8)
    images = torch.cat([dark, dark, 255 - dark, 255 - dark[:3]])  # batches of 8, 8, 8, 3
    run = dict(device="cpu", batch_size=8, backend="torch")

    fail_at = [0]
    expected = compute_trunk(model, images, **run)
    assert expected.dtype == torch.float32 and expected.abs().max() > 65504
    spill = Spill(tmp_path / "trunk", budget=0)
    calls.clear()
    fail_at = [4]  # killed in batch 3, after the widening in batch 2
    with pytest.raises(KeyboardInterrupt):
        compute_trunk(model, images, **run, spill=spill)
    calls.clear()
    fail_at = [0]
    resumed = compute_trunk(model, images, **run, spill=spill)
    assert calls == [3] and resumed.dtype == torch.float32
    assert torch.equal(resumed[np.arange(27)], expected)


KILLED_PASS = """
import os, signal, sys
import torch
import fakezoo
from fakezoo.models.stages import split_trunk_tail
from fakezoo.train.settings import TrainSettings

torch.set_num_threads(1)
data, cache = sys.argv[1], sys.argv[2]
settings = TrainSettings(**{settings}, memory_budget="1KB")
cv = fakezoo.CrossValidator(settings, cache_dir=cache, progress=False, num_workers=1)
template = cv.template("mobilenet_v2", False)
first = next(s.fn for s in split_trunk_tail(template)[0] if isinstance(s.fn, torch.nn.Module))
calls = []

def hook(module, inputs):
    calls.append(1)
    if len(calls) == 3:
        os.kill(os.getpid(), signal.SIGKILL)  # no cleanup of any kind

first.register_forward_pre_hook(hook)
cv.trunk_output(template, cv.decode(data, 32))
"""


def test_a_trunk_pass_killed_with_sigkill_resumes(many_dir, tmp_path):
    import os
    import signal
    import sys

    cache = tmp_path / "cache"
    script = KILLED_PASS.replace("{settings}", repr(SETTINGS))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run(
        [sys.executable, "-c", script, str(many_dir), str(cache)], env=env, capture_output=True
    )
    assert done.returncode == -signal.SIGKILL, done.stderr.decode()[-2000:]
    (log,) = (cache / "trunk").glob("*/done.log")
    assert log.read_text() == "0\n1\n"

    rerun = _cv(cache, TINY)
    template, calls, _ = _count_trunk_batches(rerun, "mobilenet_v2", False)
    features = rerun.trunk_output(template, rerun.decode(many_dir, 32))
    assert calls == [64, 8]
    reference = _cv(None, LARGE)
    expected = reference.trunk_output(
        reference.template("mobilenet_v2", False), reference.decode(many_dir, 32)
    )
    assert torch.equal(features[np.arange(200)], expected)


def _resident_kb() -> int:
    with open("/proc/self/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


@pytest.mark.skipif(not Path("/proc/self/status").exists(), reason="reads /proc (Linux)")
def test_reading_a_mapped_array_keeps_resident_memory_flat(tmp_path):
    from fakezoo.data.outofcore import BatchWriter

    rows, width = 128, 2**20  # 128 MB of uint8 rows of 1 MB
    writer = BatchWriter.start(tmp_path / "big", (rows, width), "uint8", 8, "test array")
    chunk = np.full((8, width), 7, dtype=np.uint8)
    for batch, start in enumerate(range(0, rows, 8)):
        writer.write(start, chunk)
        writer.mark_done(batch)
    array = writer.finish()
    before, peak = _resident_kb(), 0
    order = np.random.default_rng(0).permutation(rows)
    for _epoch in range(2):
        for start in range(0, rows, 4):
            batch = array[torch.as_tensor(order[start : start + 4])]
            assert int(batch[0, 0]) == 7
            del batch
            peak = max(peak, _resident_kb() - before)
    assert peak < 48 * 1024, f"resident memory grew by {peak} kB reading a 128 MB file"


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32], ids=str)
def test_every_cache_dtype_is_stored_exactly(build, tmp_path, dtype):
    from fakezoo.train.engine import Spill, compute_trunk

    model = build("mobilenet_v2", finetune=True, image_size=32)
    images = torch.randint(0, 256, (19, 3, 32, 32), dtype=torch.uint8)
    run = dict(device="cpu", batch_size=8, backend="torch", dtype=dtype)
    expected = compute_trunk(model, images, **run)
    mapped = compute_trunk(model, images, **run, spill=Spill(tmp_path / "t", budget=0))
    assert isinstance(mapped, MappedArray) and mapped.dtype == expected.dtype == dtype
    assert torch.equal(mapped[torch.arange(19)], expected) and torch.equal(
        mapped[5:9], expected[5:9]
    )
    reopened = compute_trunk(model, images, **run, spill=Spill(tmp_path / "t", budget=0))
    assert reopened.path == mapped.path and torch.equal(reopened[:19], expected)


def test_the_space_of_an_unfinished_file_counts_as_free(small_disk):
    from fakezoo.data.outofcore import BatchWriter

    folder = small_disk / "array"
    BatchWriter.start(folder, (6, 100_000), "uint8", 6, "test array").close()  # 600 kB, left
    again = BatchWriter.start(folder, (7, 100_000), "uint8", 7, "test array")  # 700 kB of 1 MB
    again.write(0, np.ones((7, 100_000), dtype=np.uint8))
    assert again.finish()[6:7].sum() == 100_000
    with pytest.raises(CacheSpaceError, match=r"needs 1\.1 MB in"):
        BatchWriter.start(small_disk / "other", (11, 100_000), "uint8", 11, "test array")
