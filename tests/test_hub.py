"""fakezoo.hub: push a run to a loopback Hub, pull it back, and refuse what must be refused.

Everything goes through the real huggingface_hub client code against ``hubserver.FakeHub``, an
in-memory Hub on 127.0.0.1 (LFS uploads included; Xet is switched off because the fake Hub has
no Xet storage).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from hubserver import FakeHub, connect
from huggingface_hub import ModelCard, constants
from safetensors.torch import load_file, save_file

from fakezoo import hub, runs
from fakezoo.download import hub_reachable
from fakezoo.errors import HubAuthError, HubFileNotFoundError, HubUnavailableError, RunFormatError
from fakezoo.runs.loader import PICKLE_SUFFIXES

REPO = "fakezoo-test/mobilenet-head"
PUSHED = {
    "README.md",
    "config.json",
    "results.json",
    "report.md",
    "confusion_matrix.png",
    "roc.png",
    *(
        f"fold_{k}/{name}"
        for k in (1, 2, 3)
        for name in ("model.safetensors", "config.json", "predictions.json")
    ),
}
PULLED = {
    "README.md",
    "config.json",
    "results.json",
    "report.md",
    *(f"fold_{k}/{name}" for k in (1, 2, 3) for name in ("model.safetensors", "config.json")),
}
METRICS = ("accuracy", "f1", "precision", "recall", "roc_auc")

# huggingface_hub's own LFS upload passes data= to httpx
pytestmark = pytest.mark.filterwarnings("ignore:Use 'content=:DeprecationWarning")


# -- fixtures ---------------------------------------------------------------------------------


@contextlib.contextmanager
def _one_thread():
    """One torch thread: on a small shared machine, OpenMP spinning makes 2+ threads far slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(threads)


@pytest.fixture(scope="module", autouse=True)
def _single_thread():
    with _one_thread():
        yield


@pytest.fixture(scope="session")
def demo_data(demo_dir) -> Path:
    return demo_dir  # the session's demo data (conftest.py)


@pytest.fixture(scope="session")
def run_dir(head_run) -> Path:
    """A finished 3-fold run of a tiny head-only MobileNetV2 (32 px, random init): the
    session's (conftest.py)."""
    return head_run


def _online(mp: pytest.MonkeyPatch, endpoint: str) -> None:
    """Let fakezoo and huggingface_hub (which read these at import) talk to ``endpoint``."""
    connect(mp, endpoint)


def _offline(mp: pytest.MonkeyPatch) -> None:
    mp.setenv("HF_HUB_OFFLINE", "1")
    mp.setattr(constants, "HF_HUB_OFFLINE", True)


def _dead_endpoint() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"  # closed again: nothing listens there


@pytest.fixture(scope="module")
def local_run(run_dir):
    return runs.load_run(run_dir, device="cpu")


@pytest.fixture(scope="module")
def fake_hub(run_dir):
    """One loopback Hub for the module, with the run pushed once (tag ``v1``)."""
    server = FakeHub()
    with pytest.MonkeyPatch.context() as mp:
        _online(mp, server.endpoint)
        before = len(server.requests)
        commit = hub.push_to_hub(
            run_dir,
            REPO,
            token=server.token,
            tag="v1",
            endpoint=server.endpoint,
            data_description="fakezoo demo faces (synthetic)",
        )
    server.push_requests = server.requests[before:]
    server.pushed_commit = commit
    yield server
    server.close()


@pytest.fixture
def online(fake_hub, monkeypatch) -> FakeHub:
    _online(monkeypatch, fake_hub.endpoint)
    return fake_hub


def _copy_run(run_dir: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "run"
    shutil.copytree(run_dir, dest)
    return dest


def _edit_json(path: Path, edit) -> None:
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def _outputs(run, x: torch.Tensor) -> list[torch.Tensor]:
    with torch.no_grad():
        return [fold.model(x) for fold in run.folds]


# -- loading a local run ----------------------------------------------------------------------


def test_load_run_reproduces_validation_probabilities(run_dir, demo_data):
    from fakezoo.data import decode_image

    torch.manual_seed(123)
    state = torch.random.get_rng_state()
    run = runs.load_run(run_dir, device="cpu")
    assert torch.equal(state, torch.random.get_rng_state())  # building leaves the RNG alone
    assert all(
        not p.requires_grad
        for f in run.folds
        for n, p in f.model.named_parameters()
        if not n.startswith("classifier")
    )
    assert run.revision is None and run.path == run_dir
    assert [f.fold for f in run.folds] == ["fold_1", "fold_2", "fold_3"]
    size = run.config["preprocessing"]["image_size"]
    for k, fold in enumerate(run.folds, start=1):
        model = fold.model
        assert not model.training
        assert model.spec.name == "mobilenet_v2" and model.preprocessing.image_size == 32
        assert fold.config["fakezoo"]["fold"] == k
        saved = json.loads((run_dir / fold.fold / "predictions.json").read_text())
        images = np.stack([decode_image(demo_data / f, size) for f in saved["val_files"]])
        x = model.preprocessing.normalize(torch.from_numpy(images).permute(0, 3, 1, 2))
        with torch.no_grad():
            prob = model(x).softmax(1)[:, 1].numpy()
        np.testing.assert_allclose(prob, saved["y_prob"], atol=1e-3)


def test_load_run_fold_selection(run_dir):
    assert [f.fold for f in runs.load_run(run_dir, folds=2, device="cpu").folds] == ["fold_2"]
    run = runs.load_run(run_dir, folds=[3, 1], device="cpu")
    assert [f.fold for f in run.folds] == ["fold_3", "fold_1"]
    with pytest.raises(ValueError, match="fold 4"):
        runs.load_run(run_dir, folds=[4])
    with pytest.raises(ValueError, match="folds="):
        runs.load_run(run_dir, folds="some")


def test_read_run_and_resolve_local(run_dir, tmp_path):
    cfg = runs.read_run(run_dir)
    assert cfg["model"] == "mobilenet_v2" and cfg["complete"] is True
    assert runs.resolve_run(run_dir) == (run_dir, None)
    assert runs.resolve_run(str(run_dir)) == (run_dir, None)
    with pytest.raises(FileNotFoundError, match=r"run.* does not exist"):
        runs.resolve_run(str(tmp_path / "missing" / "run"))
    with pytest.raises(RunFormatError, match="Not a fakezoo run"):
        runs.read_run(tmp_path)
    with pytest.raises(ValueError, match="give one"):
        runs.resolve_run("org/name@v1", revision="v2")


# -- refusals on local content ------------------------------------------------------------------


@pytest.mark.parametrize(
    "where, edit, match",
    [
        ("config.json", lambda c: c.update(architecture="evil_net"), "architecture 'evil_net'"),
        ("config.json", lambda c: c.update(model="evil_net"), "Unknown model 'evil_net'"),
        ("config.json", lambda c: c.update(library_name="transformers"), "Not a fakezoo run"),
        ("config.json", lambda c: c.update(folds=["../fold_1"]), "not of the form 'fold_<k>'"),
        ("config.json", lambda c: c.update(folds=["fold_1/../../x"]), "not of the form"),
        (
            "fold_1/config.json",
            lambda c: c.update(architecture="resnet50"),
            "architecture 'resnet50'",
        ),
        (
            "fold_1/config.json",
            lambda c: c["fakezoo"].update(trainable=["os.system"]),
            "'os.system' is not a module",
        ),
        (
            "fold_1/config.json",
            lambda c: c["fakezoo"]["preprocessing"].update(mean=[0.1, 0.2, 0.3]),
            "differs from the run's",
        ),
        ("fold_1/config.json", lambda c: c["fakezoo"].update(labels=["a", "b", "c"]), "labels"),
        (
            "fold_1/config.json",
            lambda c: (c.update(architecture="resnet50"), c["fakezoo"].update(model="resnet50")),
            "differs from the run's 'mobilenet_v2'",
        ),
    ],
)
def test_refuses_bad_configs(run_dir, tmp_path, where, edit, match):
    run = _copy_run(run_dir, tmp_path)
    _edit_json(run / where, edit)
    with pytest.raises(RunFormatError, match=match):
        runs.load_run(run, device="cpu")


@pytest.mark.parametrize(
    "change, match",
    [
        ({"mean": [0.1, 0.2, 0.3]}, r"'study' normalization is mean=\[0.1, 0.2, 0.3\]"),
        # The name says what the numbers are; numbers under another name are not guessed at.
        ({"normalization": "pretrained"}, r"'pretrained' normalization is mean=\[0.5, 0.5, 0.5\]"),
    ],
)
def test_odd_normalization_is_refused(run_dir, tmp_path, change, match):
    run = _copy_run(run_dir, tmp_path)
    for name in ("config.json", "fold_1/config.json"):
        _edit_json(run / name, lambda c: (c.get("fakezoo", c))["preprocessing"].update(change))
    with pytest.raises(RunFormatError, match=match) as err:
        runs.load_run(run, folds=1, device="cpu")
    assert "\n" not in str(err.value)


def test_a_loaded_fold_has_the_run_s_preprocessing_record_also_for_timm(run_dir):
    import timm

    from fakezoo.models.preprocessing import Preprocessing

    record = Preprocessing.from_dict(runs.read_run(run_dir)["preprocessing"])
    model = runs.load_run(run_dir, folds=1, device="cpu").folds[0].model
    assert model.preprocessing == record
    cfg = timm.data.resolve_data_config({}, model=model)
    assert cfg["input_size"] == (3, record.image_size, record.image_size)
    assert (cfg["mean"], cfg["std"], cfg["crop_mode"]) == (record.mean, record.std, "squash")
    fold_cfg = json.loads((run_dir / "fold_1" / "config.json").read_text())["pretrained_cfg"]
    assert fold_cfg["crop_mode"] == "squash" and fold_cfg["mean"] == list(record.mean)


def test_fold_link_outside_the_run_is_refused(run_dir, tmp_path):
    run = _copy_run(run_dir, tmp_path)
    shutil.move(run / "fold_1", tmp_path / "elsewhere")
    (run / "fold_1").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(RunFormatError, match="outside the run directory"):
        runs.load_run(run, device="cpu")


def test_pickled_weights_are_refused(run_dir, tmp_path):
    run = _copy_run(run_dir, tmp_path)
    (run / "fold_2" / "model.safetensors").rename(run / "fold_2" / "model.bin")
    with pytest.raises(RunFormatError, match="never pickles"):
        runs.load_run(run, device="cpu")
    with pytest.raises(RunFormatError, match="never pickles"):
        hub.push_to_hub(run, "org/x", token="t")
    package = Path(hub.__file__).parents[1]  # the hub and runs subpackages load and push
    source = "".join(p.read_text() for d in ("hub", "runs") for p in (package / d).glob("*.py"))
    assert "torch.load" not in source and "pickle.load" not in source


def test_weights_that_do_not_fit_are_refused(run_dir, tmp_path):
    run = _copy_run(run_dir, tmp_path)
    path = run / "fold_1" / "model.safetensors"
    state = load_file(path)
    key = "classifier.weight"
    save_file({k: v for k, v in state.items() if k != key}, path)
    with pytest.raises(
        RunFormatError,
        match=r"fold_1/model\.safetensors.*Missing key\(s\).*"
        r"classifier\.weight",
    ):
        runs.load_run(run, device="cpu")
    save_file({**state, "extra.weight": torch.zeros(1)}, path)
    with pytest.raises(RunFormatError, match=r"Unexpected key\(s\).*extra\.weight") as info:
        runs.load_run(run, device="cpu")
    assert "\n" not in str(info.value)  # one line
    save_file({**state, key: torch.zeros(3, state[key].shape[1])}, path)
    with pytest.raises(RunFormatError, match=r"model\.safetensors.*size mismatch for classifier"):
        runs.load_run(run, device="cpu")
    path.write_bytes(b"\x80\x04not safetensors")
    with pytest.raises(RunFormatError, match="as safetensors"):
        runs.load_run(run, device="cpu")


def test_push_refuses_incomplete_or_foreign_runs(run_dir, tmp_path):
    run = _copy_run(run_dir, tmp_path)
    _edit_json(run / "config.json", lambda c: c.update(complete=False))
    with pytest.raises(RunFormatError, match="incomplete run"):
        hub.push_to_hub(run, "org/x", token="t")
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "config.json").write_text('{"model_type": "bert"}')
    with pytest.raises(RunFormatError, match="Not a fakezoo run"):
        hub.push_to_hub(foreign, "org/x", token="t")


def test_push_without_token_fails_before_any_request(run_dir, online, monkeypatch):
    monkeypatch.setenv("HF_TOKEN", "")
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", "/nonexistent/token")
    before = len(online.requests)
    with pytest.raises(HubAuthError, match="hf auth login"):
        hub.push_to_hub(run_dir, "org/no-token", endpoint=online.endpoint)
    assert len(online.requests) == before


def test_push_with_a_wrong_token(run_dir, online):
    with pytest.raises(HubAuthError, match="HTTP 401"):
        hub.push_to_hub(run_dir, "org/wrong-token", token="hf_wrong", endpoint=online.endpoint)
    assert "org/wrong-token" not in online.repos


# -- push -------------------------------------------------------------------------------------


def test_push_makes_one_commit_with_the_run_and_a_card(fake_hub, run_dir):
    repo = fake_hub.repos[REPO]
    folds = [repo.branches[f"fold-{k}"] for k in (1, 2, 3)]
    # one commit on main, the returned one; then one per fold branch (see the timm test)
    assert repo.api_commits == [fake_hub.pushed_commit, *folds]
    assert repo.tags == {
        "v1": fake_hub.pushed_commit,
        **{f"v1-fold-{k}": oid for k, oid in enumerate(folds, start=1)},
    }
    commit = repo.commits[fake_hub.pushed_commit]
    assert set(commit.changed) == PUSHED
    assert not any(n.endswith(PICKLE_SUFFIXES) for n in commit.files)
    assert set(commit.files) == PUSHED | {".gitattributes"}
    for name in PUSHED - {"README.md"}:
        assert commit.files[name] == (run_dir / name).read_bytes(), name
    # the weights went through the LFS batch API, not inline in the commit
    paths = [p for _, p in fake_hub.push_requests]
    assert f"/{REPO}.git/info/lfs/objects/batch" in paths
    uploads = [p for m, p in fake_hub.push_requests if m == "PUT"]
    assert len(uploads) == 5  # 3 safetensors + 2 png, one PUT each (fold branches reuse them)
    assert sum(p.endswith("/commit/main") for _, p in fake_hub.push_requests) == 1
    card = ModelCard(commit.files["README.md"].decode())
    assert card.data.library_name == "fakezoo"


def test_model_card_metadata_matches_results(run_dir):
    card_text = hub.model_card(
        run_dir, "org/name", data_description="my faces\nmore text", license="mit"
    )
    assert "{{" not in card_text and "{%" not in card_text  # the template is fully rendered
    card = ModelCard(card_text)
    data = card.data
    assert data.library_name == "fakezoo" and data.license == "mit"
    assert data.pipeline_tag == "image-classification"
    assert {
        "deepfake-detection",
        "image-classification",
        "fakezoo",
        "timm",
        "mobilenetv2_100",
    } <= set(data.tags)
    assert data.base_model is None  # random init: no ImageNet base model
    results = json.loads((run_dir / "results.json").read_text())
    got = {(r.dataset_split, r.metric_type): r.metric_value for r in data.eval_results}
    assert {r.dataset_name for r in data.eval_results} == {"my faces"}
    for metric in METRICS:
        assert got[("cv_mean", metric)] == results["summary"]["mean"][metric]
        for fold in results["folds"]:
            assert got[(f"fold_{fold['fold']}", metric)] == fold["metrics"][metric]
    body = card.text
    for needle in (
        'fakezoo.load("org/name")',
        'fakezoo.predict("face.jpg", model="org/name")',
        "fakezoo predict face.jpg --model org/name",
        "| fold | n |",
        "my faces",
        "`classifier`",
        "synthetic demo data",
        "cross-validation",
    ):
        assert needle in body, needle
    # Every departure from the study, and every fact it leaves unstated, is on the card.
    assert results["deviations"] and "## How this run differs from the study" in body
    for note in results["deviations"]:
        assert f"- {note}" in body, note


def test_model_card_base_model_and_lr_search(run_dir, tmp_path):
    run = _copy_run(run_dir, tmp_path)
    _edit_json(run / "config.json", lambda c: c.update(weights="mobilenetv2_100.ra_in1k"))
    (run / "search.json").write_text(
        json.dumps({"protocol": "study", "best_lr": 1e-3, "trials": [{}, {}, {}]})
    )
    card = ModelCard(hub.model_card(run, "org/name"))
    assert card.data.base_model == "timm/mobilenetv2_100.ra_in1k"
    assert {r.dataset_name for r in card.data.eval_results} == {"custom"}
    assert "3 Optuna trials" in card.text and "optimistic" in card.text
    assert "started from ImageNet weights `mobilenetv2_100.ra_in1k`" in card.text
    _edit_json(
        run / "config.json",
        lambda c: (
            c.update(weights=None),
            c["settings"].update(pretrained="/home/me/secret/backbone.safetensors"),
        ),
    )
    text = hub.model_card(run, "org/name")
    assert "`backbone.safetensors`" in text and "/home/me" not in text
    assert "started from random" not in text


def test_the_wheel_ships_the_card_template(tmp_path):
    """The card renders from package data: a wheel built from the sources carries it."""
    import subprocess
    import sys
    import zipfile

    root = Path(__file__).parents[1]
    skip = shutil.ignore_patterns("__pycache__", "*.egg-info")
    shutil.copytree(root / "src", tmp_path / "src", ignore=skip)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(root / name, tmp_path / name)
    offline = ["--no-deps", "--no-build-isolation", "--no-index", "-q"]
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(tmp_path),
            "-w",
            str(tmp_path / "dist"),
            *offline,
        ],
        check=True,
        capture_output=True,
    )
    (wheel,) = (tmp_path / "dist").glob("fakezoo-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    assert "fakezoo/hub/model_card.md" in names
    stubs = {p.relative_to(root / "src").as_posix() for p in (root / "src").rglob("*.pyi")}
    assert stubs and stubs <= set(names)  # `import fakezoo` reads them (lazy_loader)


# -- pull ------------------------------------------------------------------------------------


@pytest.mark.parametrize("pin", ["commit", "tag"])
def test_pull_pinned_revision_gives_identical_files(online, run_dir, pin):
    commit = online.pushed_commit
    revision = commit if pin == "commit" else "v1"
    before = len(online.requests)
    folder, resolved = runs.resolve_run(f"hf-hub:{REPO}@{revision}")
    assert resolved == commit
    got = {p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()}
    assert got == PULLED
    for name in PULLED - {"README.md"}:
        assert (folder / name).read_bytes() == (run_dir / name).read_bytes(), name
    assert (folder / "README.md").read_bytes() == online.repos[REPO].commits[commit].files[
        "README.md"
    ]
    fetched = [p for m, p in online.requests[before:] if m == "GET" and "/resolve/" in p]
    assert not any(p.endswith((".png", "predictions.json", ".gitattributes")) for p in fetched)


def test_pulled_models_match_local_and_work_offline(online, local_run, monkeypatch):
    pulled = runs.load_run(REPO, revision="v1", device="cpu")
    assert pulled.revision == online.pushed_commit
    assert pulled.config == local_run.config
    local = local_run
    x = torch.randn(2, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    for a, b in zip(_outputs(local, x), _outputs(pulled, x), strict=True):
        assert torch.equal(a, b)

    # a dead endpoint: fakezoo notices fast and uses the warm cache
    dead = _dead_endpoint()
    _online(monkeypatch, dead)
    start = time.perf_counter()
    assert runs.resolve_run(f"{REPO}@v1")[1] == online.pushed_commit
    assert time.perf_counter() - start < 1.0
    # HF_HUB_OFFLINE=1: no network at all, by tag and by commit
    _offline(monkeypatch)
    n = len(online.requests)
    for revision in ("v1", online.pushed_commit):
        run = runs.load_run(REPO, revision=revision, folds=1, device="cpu")
        assert run.revision == online.pushed_commit
        assert torch.equal(_outputs(run, x)[0], _outputs(local, x)[0])
    assert len(online.requests) == n


def test_offline_cold_cache_fails_fast(monkeypatch):
    _offline(monkeypatch)
    start = time.perf_counter()
    with pytest.raises(HubUnavailableError, match="HF_HUB_OFFLINE=1"):
        runs.load_run("fakezoo-test/never-downloaded", revision="v1")
    assert time.perf_counter() - start < 1.0


def test_unreachable_cold_cache_fails_fast(monkeypatch):
    _online(monkeypatch, _dead_endpoint())
    start = time.perf_counter()
    with pytest.raises(HubUnavailableError, match="cannot be reached"):
        runs.load_run("fakezoo-test/never-downloaded-2")
    assert time.perf_counter() - start < 1.0


def test_missing_or_gated_repo_and_missing_revision(online):
    with pytest.raises(HubFileNotFoundError, match="does not exist"):
        runs.load_run("fakezoo-test/no-such-repo")
    with pytest.raises(HubFileNotFoundError, match="no-such-tag"):
        runs.load_run(REPO, revision="no-such-tag")
    with pytest.raises(HubFileNotFoundError, match="does not exist"):
        runs.load_run(REPO, revision="0" * 40)

    online.add_repo("fakezoo-test/gated", {"config.json": b"{}"}, gated=True)
    with pytest.raises(HubFileNotFoundError, match=r"gated repository.*HF_TOKEN"):
        runs.load_run("fakezoo-test/gated")


def test_reachability_probe_goes_through_a_configured_proxy(monkeypatch):
    for name in (
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "NO_PROXY",
        "no_proxy",
        "ALL_PROXY",
        "all_proxy",
    ):
        monkeypatch.delenv(name, raising=False)
    with socket.socket() as proxy:  # listens, so a connection to it opens
        proxy.bind(("127.0.0.1", 0))
        proxy.listen()
        live = f"http://127.0.0.1:{proxy.getsockname()[1]}"
        hidden = "https://hub.invalid"  # unreachable without the proxy
        assert not hub_reachable(hidden)
        monkeypatch.setenv("https_proxy", live)
        assert hub_reachable(hidden)
        monkeypatch.setenv("no_proxy", "hub.invalid")  # bypassed: probed directly again
        assert not hub_reachable(hidden)
    monkeypatch.delenv("no_proxy")
    monkeypatch.setenv("https_proxy", _dead_endpoint())
    assert not hub_reachable(hidden)


def test_foreign_repos_are_refused_and_pickles_never_fetched(online, run_dir):
    online.add_repo(
        "other/bert-like",
        {
            "README.md": b"# not fakezoo\n",
            "config.json": b'{"model_type": "bert"}',
            "pytorch_model.bin": b"\x80\x04pickle",
            "modeling.py": b"import os\n",
        },
    )
    before = len(online.requests)
    with pytest.raises(RunFormatError, match="Not a fakezoo run"):
        runs.load_run("other/bert-like")
    online.add_repo("other/empty", {"README.md": b"# nothing\n"})
    with pytest.raises(RunFormatError, match=r"no config\.json"):
        runs.load_run("other/empty")
    # a fakezoo-looking repo whose fold holds a pickle instead of safetensors
    files = {n: (run_dir / n).read_bytes() for n in ("config.json", "results.json")}
    for k in (1, 2, 3):
        files[f"fold_{k}/config.json"] = (run_dir / f"fold_{k}/config.json").read_bytes()
        files[f"fold_{k}/model.bin"] = b"\x80\x04pickle"
    online.add_repo("other/pickled", files)
    with pytest.raises(RunFormatError, match=r"fold_1/model\.safetensors' is missing"):
        runs.load_run("other/pickled")
    fetched = [p for m, p in online.requests[before:] if "/resolve/" in p]
    assert fetched and not any(p.endswith((".bin", ".py")) for p in fetched)


def test_repo_with_escaping_fold_name_is_refused(online, run_dir):
    cfg = json.loads((run_dir / "config.json").read_text())
    cfg["folds"] = ["fold_1", "../../../../etc"]
    online.add_repo("other/escape", {"config.json": json.dumps(cfg).encode()})
    with pytest.raises(RunFormatError, match="not of the form 'fold_<k>'"):
        runs.load_run("other/escape")


def test_pushing_the_same_run_again_is_a_no_op_and_tags_are_not_moved(online, run_dir, caplog):
    caplog.set_level("INFO", logger="fakezoo")
    repo = online.repos[REPO]
    commits, tags = list(repo.api_commits), dict(repo.tags)
    for tag in (None, "v1"):  # the tag already points at this very commit: nothing to do
        commit = hub.push_to_hub(
            run_dir,
            REPO,
            token=online.token,
            endpoint=online.endpoint,
            tag=tag,
            data_description="fakezoo demo faces (synthetic)",
        )
        assert commit == online.pushed_commit and repo.api_commits == commits  # folds too
        assert repo.tags == tags
    # one line from fakezoo, not huggingface_hub's warning once per branch
    assert caplog.text.count(f"{REPO} already holds this run: nothing changed") == 2
    assert "No files have been modified" not in caplog.text
    with pytest.raises(ValueError, match=f"'v1' already exists.*{online.pushed_commit}"):
        hub.push_to_hub(  # another card, so another commit: the tag is not moved
            run_dir,
            REPO,
            token=online.token,
            endpoint=online.endpoint,
            tag="v1",
            data_description="something else",
        )
    assert repo.tags == tags and tags["v1"] == online.pushed_commit
    assert len(repo.api_commits) > len(commits)


def test_push_and_pull_print_no_library_noise(fake_hub, run_dir, tmp_path):
    """The installed command, its stderr a pipe (not a terminal): no `HTTP Request:` lines from
    httpx, no upload or download bars, no timm checkpoint lines; `-q` pull prints nothing."""
    import os
    import subprocess
    import sys

    env = {
        **os.environ,
        "HF_HUB_OFFLINE": "0",
        "HF_ENDPOINT": fake_hub.endpoint,
        "HF_TOKEN": fake_hub.token,
        "HF_HUB_DISABLE_XET": "1",  # the fake Hub speaks LFS
        "HF_HOME": str(tmp_path / "hf"),
        "PYTHONPATH": os.pathsep.join([str(Path(__file__).parents[1] / "src"), *sys.path]),
    }
    env.pop("TQDM_DISABLE", None)  # the tests' own setting: bars would be hidden anyway

    def fakezoo(*argv):
        done = subprocess.run(
            [sys.executable, "-m", "fakezoo.cli", *argv], env=env, capture_output=True, text=True
        )
        assert done.returncode == 0, done.stderr
        return done.stdout, done.stderr

    out, err = fakezoo("push", str(run_dir), "org/noise", "--tag", "v1")
    assert "pushed" in out and "HTTP Request" not in err and "%|" not in err, err
    out, err = fakezoo("-q", "pull", "org/noise", "--revision", "v1")
    assert "org/noise at" in out and err == "", err


# -- plain timm, one fold per branch ------------------------------------------------------------


def test_plain_timm_loads_every_fold_branch_with_fakezoos_logits(online, local_run):
    import timm

    repo = online.repos[REPO]
    x = torch.randn(3, 3, 32, 32)
    for k, fold in enumerate(local_run.folds, start=1):
        branch = f"fold-{k}"
        head = repo.commits[repo.branches[branch]]
        assert set(head.files) == {
            ".gitattributes",
            "README.md",
            "config.json",
            "model.safetensors",
        }
        assert (
            head.files["model.safetensors"]
            == (local_run.path / fold.fold / "model.safetensors").read_bytes()
        )
        before = len(online.requests)
        model = timm.create_model(f"hf-hub:{REPO}@{branch}", pretrained=True).eval()
        fetched = [p for _, p in online.requests[before:]]
        assert f"/{REPO}/resolve/{branch}/model.safetensors" in fetched
        assert not any(p.endswith(".bin") for p in fetched)  # safetensors, never a pickle
        assert model.pretrained_cfg["label_names"] == ["real", "fake"]
        assert tuple(model.pretrained_cfg["input_size"]) == (3, 32, 32)
        with torch.no_grad():
            torch.testing.assert_close(model(x), fold.model(x), atol=1e-5, rtol=1e-4)
        card = ModelCard(head.files["README.md"].decode())
        assert card.data.library_name == "timm" and f"@{branch}" in card.text
    pinned = timm.create_model(f"hf-hub:{REPO}@v1-fold-2", pretrained=True).eval()
    with torch.no_grad():
        torch.testing.assert_close(pinned(x), local_run.folds[1].model(x), atol=1e-5, rtol=1e-4)
    main_card = repo.commits[online.pushed_commit].files["README.md"].decode()
    assert f'timm.create_model("hf-hub:{REPO}@fold-1", pretrained=True)' in main_card
    with pytest.raises(RunFormatError, match=r"folds=2\), or this fold with timm"):
        runs.load_run(f"{REPO}@fold-2", device="cpu")  # a fold branch is not a run


def test_the_card_says_timm_cannot_build_resnet50_mlp(run_dir, tmp_path):
    from fakezoo.hub.timm_folds import timm_config, timm_loadable

    run = _copy_run(run_dir, tmp_path)
    _edit_json(
        run / "config.json", lambda c: c.update(model="resnet50_mlp", architecture="resnet50")
    )
    card = hub.model_card(run, "org/mlp")
    assert "Plain timm cannot build this model" in card and 'fakezoo.load("org/mlp")' in card
    assert "@fold-1" not in card
    assert not timm_loadable("resnet50_mlp") and timm_loadable("vit_b_16")
    vit = {
        "architecture": "vit_base_patch16_224",
        "pretrained_cfg": {"input_size": [3, 224, 224]},
        "fakezoo": {"preprocessing": {"image_size": 64}, "labels": ["real", "fake"]},
    }
    cfg = timm_config(vit)
    assert cfg["model_args"] == {"img_size": 64} and cfg["pretrained_cfg"]["input_size"] == [
        3,
        64,
        64,
    ]
