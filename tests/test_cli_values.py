"""Every numeric flag is checked by the parser (issue 27, item 11): a bad value gives argparse's
one `error: argument --FLAG: ...` line and exit code 2 before anything heavy is imported or
anything is written to --out.

Errors reached from the command line name its flags, not the Python API's arguments (item 21).
"""

import json
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from fakezoo.cli import EXIT_USAGE

CV = ["cv", "DATA", "--model", "mobilenet_v2", "--lr", "1e-3", "--out", "OUT"]
TUNE = ["tune", "DATA", "--model", "mobilenet_v2", "--out", "OUT"]
BENCH = ["benchmark", "DATA", "--out", "OUT"]
PROTOCOL = ["protocol", "--models", "mobilenet_v2", "--out", "OUT"]
PREDICT = ["predict", "DATA", "--model", "OUT"]
CROP = ["crop", "DATA", "OUT"]
EVALUATE = ["evaluate", "RUN", "DATA", "--out", "OUT"]
APP = ["app", "--model", "RUN"]
CONVERT = ["convert-weights", "efficientnet_b4", "FFc23.tar", "--from", "sbi", "-o", "OUT"]

# (command, the bad flag and value(s), the flag named in the message)
BAD = [
    (CV, ["--lr", "0"], "--lr"),
    (CV, ["--lr", "-1e-3"], "--lr"),
    (CV, ["--lr", "nan"], "--lr"),
    (CV, ["--lr", "inf"], "--lr"),
    (CV, ["--lr", "1e999"], "--lr"),
    (CV, ["--lr", "fast"], "--lr"),
    (CV, ["--image-size", "0"], "--image-size"),
    (CV, ["--image-size", "-32"], "--image-size"),
    (CV, ["--image-size", "5000"], "--image-size"),
    (CV, ["--image-size", "20"], "--image-size"),  # mobilenet_v2 takes 32 px and more
    (CV, ["--image-size", "32.5"], "--image-size"),
    (CV, ["--epochs", "0"], "--epochs"),
    (CV, ["--folds", "1"], "--folds"),
    (CV, ["--batch-size", "0"], "--batch-size"),
    (CV, ["--seed", "-1"], "--seed"),
    (CV, ["--fold", "0"], "--fold"),
    (CV, ["--fold", "4"], "--fold"),  # of 3 folds
    (CV, ["--drop-rate", "1"], "--drop-rate"),
    (CV, ["--drop-rate", "nan"], "--drop-rate"),
    (CV, ["--weights", "missing.safetensors"], "--weights"),
    (CV, ["--model", "resnet5O"], "--model"),
    (TUNE, ["--lr-range", "1e-3", "inf"], "--lr-range"),
    (TUNE, ["--lr-range", "0", "1e-2"], "--lr-range"),
    (TUNE, ["--lr-range", "1e-2", "1e-3"], "--lr-range"),
    (TUNE, ["--grace-period", "-5"], "--grace-period"),
    (TUNE, ["--grace-period", "0"], "--grace-period"),
    (TUNE, ["--trials", "0"], "--trials"),
    (TUNE, ["--workers", "0"], "--workers"),
    (TUNE, ["--model", "vit_b_16", "--image-size", "40"], "--image-size"),  # not 16k
    (BENCH, ["--trials", "0"], "--trials"),
    (BENCH, ["--epochs", "-1"], "--epochs"),
    (BENCH, ["--folds", "0"], "--folds"),
    (BENCH, ["--image-size", "5000"], "--image-size"),
    (BENCH, ["--image-size", "40"], "--image-size"),  # vit_b_16 is one of the rows
    (BENCH, ["--batch-size", "0"], "--batch-size"),
    (BENCH, ["--models", "resnet5O"], "--models"),
    (["demo-data", "OUT"], ["--n-per-class", "0"], "--n-per-class"),
    (["demo-data", "OUT"], ["--image-size", "8"], "--image-size"),
    (["demo-data", "OUT"], ["--image-size", "5000"], "--image-size"),
    (PROTOCOL, ["--lr", "1e-3", "nan"], "--lr"),
    (PROTOCOL, ["--epochs", "0"], "--epochs"),
    (PROTOCOL, ["--frames", "0"], "--frames"),
    (PROTOCOL, ["--crop-size", "0"], "--crop-size"),
    (PROTOCOL, ["--min-size", "inf"], "--min-size"),
    (PROTOCOL, ["--memory-budget", "0"], "--memory-budget"),
    (PROTOCOL, ["--memory-budget", "lots"], "--memory-budget"),
    (PROTOCOL, ["--workers", "0"], "--workers"),
    (PROTOCOL, ["--image-size", "5000"], "--image-size"),
    (PREDICT, ["--threshold", "1.5"], "--threshold"),
    (PREDICT, ["--threshold", "nan"], "--threshold"),
    (PREDICT, ["--batch-size", "0"], "--batch-size"),
    (PREDICT, ["--frames", "0"], "--frames"),
    (CROP, ["--frames", "-1"], "--frames"),
    (CROP, ["--min-size", "-1"], "--min-size"),
    (CROP, ["--min-score", "1.5"], "--min-score"),
    (CROP, ["--margin", "-0.1"], "--margin"),
    (CROP, ["--size", "0"], "--size"),
    (CROP, ["--size", "5000"], "--size"),
    (CROP, ["--scale", "0"], "--scale"),
    (CROP, ["--workers", "0"], "--workers"),
    (["export", "RUN", "--out", "OUT"], ["--atol", "-1"], "--atol"),
    (["export", "RUN", "--out", "OUT"], ["--atol", "nan"], "--atol"),
    (EVALUATE, ["--batch-size", "0"], "--batch-size"),
    (EVALUATE, ["--bootstrap", "-1"], "--bootstrap"),
    (EVALUATE, ["--seed", "-1"], "--seed"),
    (APP, ["--port", "70000"], "--port"),
    (APP, ["--port", "0"], "--port"),
    (APP, ["--max-file-size", "abc"], "--max-file-size"),
    (APP, ["--max-file-size", "0"], "--max-file-size"),
    (APP, ["--max-file-size", "20 parsecs"], "--max-file-size"),
    (APP, ["--queue-size", "0"], "--queue-size"),
    (CONVERT, [], "--sha256"),  # required with --from sbi
    (CONVERT, ["--sha256", "abc"], "--sha256"),
    (CONVERT, ["--sha256", "0" * 64], "--out"),  # OUT is not a .safetensors file
    (CONVERT, ["--sha256", "0" * 64, "--from", "deepfakebench"], "model"),  # not xception
    (CONVERT, ["--from", "timm"], "--from"),
]


def _argv(command, bad, tmp_path):
    places = {"DATA": tmp_path / "data", "OUT": tmp_path / "out", "RUN": tmp_path / "run"}
    return [str(places.get(a, a)) for a in [*command, *bad]]


@pytest.mark.parametrize(
    ("command", "bad", "flag"), BAD, ids=[f"{c[0]} {' '.join(b)}" for c, b, _ in BAD]
)
def test_a_bad_value_is_a_usage_error_naming_its_flag(cli, tmp_path, command, bad, flag):
    (tmp_path / "data").mkdir()  # DATA exists: only the bad value is wrong
    code, out, err = cli(*_argv(command, bad, tmp_path))
    assert code == EXIT_USAGE, err
    assert out == ""
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1, err
    assert errors[0].startswith(f"fakezoo {command[0]}: error: "), errors[0]
    assert flag in errors[0], errors[0]
    assert not (tmp_path / "out").exists()  # nothing written before the check


@pytest.mark.parametrize(
    ("argv", "value"),
    [
        (["--lr", "3e-4"], 3e-4),
        (["--image-size", "4096"], 4096),
        (["--grace-period", "1"], 1),
        (["--lr-range", "1e-5", "1e-1"], [1e-5, 1e-1]),
    ],
)
def test_good_values_parse_to_numbers(argv, value):
    from fakezoo.cli_parser import parse_args

    command = "cv" if argv[0] in ("--lr", "--image-size") else "tune"
    base = CV if command == "cv" else TUNE
    args = parse_args([*base, *argv])
    got = getattr(args, argv[0].lstrip("-").replace("-", "_"))
    assert list(got) == value if isinstance(value, list) else got == value


@pytest.mark.parametrize(
    ("text", "size"),
    [("20mb", 20 * 2**20), ("512KB", 512 * 2**10), ("1 gb", 2**30), ("1000", 1000)],
)
def test_max_file_size_takes_units(text, size):
    from fakezoo.cli_parser import parse_args

    assert parse_args([*APP, "--max-file-size", text]).max_file_size == size
    assert parse_args(APP).max_file_size == 20 * 2**20  # the default, "20mb"


@pytest.mark.parametrize(
    ("command", "text", "value"),
    [
        # fakezoo cv's --memory-budget: bytes, decimal units, a bare number is GB
        (CV, "3", 3 * 10**9),
        (CV, "1KB", 1000),
        (CV, "512MiB", 512 * 2**20),
        # the protocol's --memory-budget: GB, a bare number as before, units read the same way
        (PROTOCOL, "4", 4.0),
        (PROTOCOL, "0.5", 0.5),
        (PROTOCOL, "512MB", 0.512),
    ],
)
def test_memory_budgets_keep_their_meanings_through_one_parser(command, text, value):
    from fakezoo.cli_parser import parse_args

    args = parse_args([*command, "--memory-budget", text])
    assert args.memory_budget == pytest.approx(value, rel=1e-12)


def test_one_size_parser_serves_both_kinds_of_flag():
    """--max-file-size (Gradio's: 1 kb is 1024 bytes, a bare number is bytes) and
    --memory-budget (1 kB is 1000 bytes, a bare number is GB) come from one parser."""
    from fakezoo.cli_parser import file_size
    from fakezoo.memory import parse_size

    assert file_size("2mb") == parse_size("2mb", bare="B", units="binary") == 2 * 2**20
    assert parse_size("2mb") == 2 * 10**6 and parse_size("2MiB", units="binary") == 2 * 2**20
    assert parse_size("1000", bare="B", units="binary") == 1000
    with pytest.raises(ValueError, match=r"^file size '20 parsecs': give a size such as 20mb"):
        parse_size("20 parsecs", bare="B", units="binary", what="file size")
    with pytest.raises(ValueError, match="units='metric'"):
        parse_size("2GB", units="metric")


def test_a_bad_value_fails_before_heavy_imports(tmp_path):
    """`--lr nan` is refused in a fresh interpreter without importing torch (seconds)."""
    probe = (
        "import sys\nfrom fakezoo.cli import main\n"
        "try:\n    main(sys.argv[1:])\nexcept SystemExit as exit:\n"
        "    print(exit.code, 'torch' in sys.modules)\n"
    )
    out = tmp_path / "out"
    proc = subprocess.run(
        [sys.executable, "-c", probe, *_argv(CV, ["--lr", "nan"], tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.stdout.split() == ["2", "False"], proc.stderr
    assert "argument --lr:" in proc.stderr
    assert not out.exists()


def test_a_refused_lr_leaves_an_existing_run_untouched(cli, head_run, demo_dir, tmp_path):
    """`--lr nan` / `inf` wrote NaN/Infinity into --out's index before failing, so that the
    next valid run there was refused: now --out is not touched at all."""
    out = shutil.copytree(head_run, tmp_path / "out")
    before = {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()}
    for bad in ("nan", "inf", "-inf", "0"):
        code, _, err = cli(*CV[:1], demo_dir, *CV[2:5], bad, "--out", out)
        assert code == EXIT_USAGE and "argument --lr:" in err, err
    assert {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file()} == before


# Item 21: messages reached from the command line name the flags.


def test_missing_imagenet_weights_name_the_flags(cli, demo_dir, tmp_path):
    """Offline with an empty Hub cache (conftest): resnet50's ImageNet weights are missing."""
    code, _, err = cli(
        "cv", demo_dir, "--model", "resnet50", "--lr", "1e-3", "--out", tmp_path / "o"
    )
    assert code == 1, err
    assert "--weights path/to/model.safetensors" in err, err
    assert "--no-pretrained" in err
    assert "pretrained=" not in err


def test_missing_weights_keep_the_api_wording_in_python():
    from fakezoo.errors import WeightsError
    from fakezoo.models.build import weights_file
    from fakezoo.models.registry import get_spec

    with pytest.raises(WeightsError, match=r"pretrained='path/to/model\.safetensors'"):
        weights_file(get_spec("resnet50"), True)


def test_too_many_folds_names_folds(cli, tmp_path):
    data = tmp_path / "data"
    assert cli("demo-data", data, "--n-per-class", "3", "--image-size", "32")[0] == 0
    code, _, err = cli(
        "cv", data, "--model", "mobilenet_v2", "--lr", "1e-3", "--folds", "5",
        "--no-pretrained", "--device", "cpu", "--out", tmp_path / "o",
    )  # fmt: skip
    assert code == 1, err
    assert "lower --folds" in err, err
    assert "n_splits" not in err


def test_pushing_an_unfinished_run_says_which_command_finishes_it(cli, head_run, tmp_path):
    run = shutil.copytree(head_run, tmp_path / "run")
    config = json.loads((run / "config.json").read_text())
    config["complete"] = False
    (run / "config.json").write_text(json.dumps(config))
    code, _, err = cli("push", run, "org/name")
    assert code == 1, err
    assert "CrossValidator" not in err and "out_dir" not in err, err
    assert f"--out {run}" in err, err


def test_a_busy_port_names_the_port_flag(cli, tmp_path):
    pytest.importorskip("gradio")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        code, _, err = cli("-q", "app", "--model", tmp_path / "no-run", "--port", port)
    assert code == 1, err
    assert f"port {port}" in err and "--port" in err, err
    assert "server_port" not in err and "launch()" not in err, err


def test_a_busy_port_keeps_the_api_wording_in_python(tmp_path):
    pytest.importorskip("gradio")
    from fakezoo.app import launch

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        with pytest.raises(OSError, match="port=") as info:
            launch(Path(tmp_path / "no-run"), port=port, block=False, quiet=True)
    assert "server_port" not in str(info.value)


def test_cli_words_apply_only_where_the_command_has_the_flag(cli, head_run, monkeypatch):
    """`protocol` has --no-pretrained but neither --weights nor --folds; `push` no --token."""
    from argparse import Namespace

    from fakezoo.cli import cli_words

    hint = (
        "Download it (e.g. `hf download timm/x model.safetensors`) and pass "
        "pretrained='path/to/model.safetensors', or use pretrained=False."
    )
    protocol = Namespace(pretrained=True, out="o")
    assert cli_words(hint, protocol) == (
        "Download it (e.g. `hf download timm/x model.safetensors`), or use --no-pretrained."
    )
    assert cli_words("n_splits=2; lower n_splits", protocol) == "n_splits=2; lower n_splits"
    cv = Namespace(pretrained=True, weights=None, folds=3, out="o", overwrite=False)
    assert "pass --weights path/to/model.safetensors, or use --no-pretrained" in cli_words(hint, cv)
    assert cli_words(
        "Use another --out / out_dir, or --overwrite / overwrite=True to remove it.", cv
    ) == ("Use another --out, or --overwrite to remove it.")

    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr("huggingface_hub.get_token", lambda: None)
    code, _, err = cli("push", head_run, "org/name")
    assert code == 1 and "hf auth login" in err, err
    assert "token=" not in err, err
