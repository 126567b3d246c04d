"""The package layout: small modules, no imports of the package root, old import paths kept."""

from __future__ import annotations

import ast
import importlib
import inspect
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

import fakezoo
from fakezoo import errors

PACKAGE = Path(fakezoo.__file__).resolve().parent
MAX_LINES = 500

# The public names of each module path before the layout change (fakezoo 0.1.0).
OLD_PATHS = {
    "fakezoo.zoo": [
        "ModelSpec",
        "Preprocessing",
        "Stage",
        "UnknownModelError",
        "WeightsError",
        "create",
        "get_spec",
        "list_models",
        "model_stages",
        "parameter_counts",
        "split_trunk_tail",
    ],
    "fakezoo.cv": ["CVResult", "CrossValidator", "FoldResult", "RunDirectoryError"],
    "fakezoo.engine": [
        "FoldOutput",
        "TrainSettings",
        "compute_trunk",
        "resolve_device",
        "train_fold",
    ],
    "fakezoo.tune": ["LRSearchResult", "make_storage", "optuna_lr_search"],
    "fakezoo._download": [
        "HubFileNotFoundError",
        "HubUnavailableError",
        "download_file",
        "download_snapshot",
        "hub_reachable",
    ],
    "fakezoo.predict": [
        "CPU_FORWARD_BATCH",
        "DEFAULT_MODEL",
        "MODEL_ENV",
        "Detector",
        "Prediction",
        "clear_cache",
        "load",
        "predict",
    ],
}
# Paths that still exist (now packages): their names import without a warning.
KEPT_PATHS = {
    "fakezoo.data": [
        "DECODER_VERSION",
        "DEFAULT_MAX_PIXELS",
        "IMAGE_EXTENSIONS",
        "LABEL_NAMES",
        "Dataset",
        "DatasetError",
        "DecodedImages",
        "ImageDecodeError",
        "SkippedFile",
        "decode_dataset",
        "decode_image",
        "load_dataset",
        "load_folds",
        "make_folds",
        "save_folds",
    ],
    "fakezoo.hub": [
        "PULL_PATTERNS",
        "PUSH_PATTERNS",
        "FoldModel",
        "HubAuthError",
        "HubFileNotFoundError",
        "HubUnavailableError",
        "LoadedRun",
        "RunFormatError",
        "load_fold",
        "load_run",
        "model_card",
        "push_to_hub",
        "read_run",
        "resolve_run",
    ],
    "fakezoo.report": [
        "DISPLAY_NAMES",
        "SEED_ROWS",
        "cv_report",
        "display_name",
        "fold_block",
        "plot_confusion_matrix",
        "plot_roc",
        "plot_study",
        "seed_comparison_markdown",
        "study_table",
        "table_csv",
        "table_markdown",
    ],
}


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def test_no_file_is_over_500_lines():
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in _modules()
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, f"files over {MAX_LINES} lines: {long}"


def test_no_module_imports_the_package_root():
    offenders = []
    for path in _modules():
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        depth = len(parts)  # the relative level that names the package root
        if path == PACKAGE / "__init__.py":
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import) and any(a.name == "fakezoo" for a in node.names):
                offenders.append(f"{path.name}:{node.lineno}: import fakezoo")
            elif isinstance(node, ast.ImportFrom):
                absolute = node.level == 0 and node.module == "fakezoo"
                relative = node.level == depth and node.module is None
                if absolute or relative:
                    offenders.append(
                        f"{'/'.join(parts)}:{node.lineno}: from "
                        f"{'.' * node.level}{node.module or ''} import ..."
                    )
    assert not offenders, offenders


# The data flow, upstream first (docs/design.md): a module imports only from its own step or an
# earlier one. Shims of old paths (zoo, cv, ...), cli and the package root may import anything.
# Data comes before models (path -> decoded uint8 -> trunk: model.transform decodes with
# data.decode); train writes run directories through runs (issue 14), so they share a step.
FLOW = [
    {"errors", "_io", "_device", "_progress", "_version", "_optional", "_moved", "hub.download"},
    {"data"},
    {"metrics", "models"},
    {"faces", "synth", "datasets"},
    {"report"},
    {"train", "runs"},
    {"hub"},
    {"inference"},
    {"study"},
    {"protocol"},
]


def _step(module: str) -> int | None:
    """The index in FLOW of a dotted module name below fakezoo (None: not a step)."""
    for i, names in enumerate(FLOW):
        if module in names or module.split(".")[0] in names:
            return i
    return None


def test_imports_follow_the_data_flow():
    upstream = []
    for path in _modules():
        parts = path.relative_to(PACKAGE).with_suffix("").parts
        parts = parts[:-1] if parts[-1] == "__init__" else parts
        me = _step(".".join(parts))
        if me is None or (path.name == "__init__.py" and len(parts) == 1):
            continue
        package = parts if path.name == "__init__.py" else parts[:-1]
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.ImportFrom) or not node.level:
                continue
            base = list(package[: len(package) - node.level + 1])
            targets = (
                [".".join([*base, node.module])]
                if node.module
                else [".".join([*base, alias.name]) for alias in node.names]
            )
            for target in targets:
                step = _step(target)
                if step is not None and step > me:
                    upstream.append(f"{'/'.join(parts)}:{node.lineno} imports {target}")
    assert not upstream, upstream


def test_every_exception_derives_from_the_base_and_keeps_its_builtin_parent():
    builtin = {
        "UnknownModelError": KeyError,
        "WeightsError": RuntimeError,
        "DatasetError": ValueError,
        "ImageDecodeError": ValueError,
        "FileDecodeError": ValueError,
        "RunDirectoryError": RuntimeError,
        "RunFormatError": ValueError,
        "HubAuthError": RuntimeError,
        "HubUnavailableError": RuntimeError,
        "HubFileNotFoundError": FileNotFoundError,
        "ProtocolError": RuntimeError,
    }
    assert set(errors.__all__) == {"FakezooError", *builtin}
    for name, parent in builtin.items():
        cls = getattr(errors, name)
        assert issubclass(cls, errors.FakezooError) and issubclass(cls, parent), name
    with pytest.raises(errors.FakezooError, match="Did you mean 'resnet50'"):
        fakezoo.get_spec("resnet5O")


def _fresh_import(path: str, monkeypatch) -> tuple[object, list]:
    """Import ``path`` anew (as a first import would), recording the warnings."""
    monkeypatch.delitem(sys.modules, path, raising=False)
    parent, _, child = path.rpartition(".")
    monkeypatch.setattr(sys.modules[parent], child, None, raising=False)  # restored after
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        module = importlib.import_module(path)
    return module, caught


@pytest.mark.parametrize("path", OLD_PATHS)
def test_old_import_paths_work_and_warn(path, monkeypatch):
    module, caught = _fresh_import(path, monkeypatch)
    dep = [w for w in caught if issubclass(w.category, DeprecationWarning)]
    assert len(dep) == 1 and path in str(dep[0].message), [str(w.message) for w in caught]
    assert dep[0].filename == __file__  # the warning points at the importer
    assert sorted(module.__all__) == sorted(OLD_PATHS[path])
    for name in OLD_PATHS[path]:
        assert getattr(module, name) is not None, name


@pytest.mark.parametrize("path", KEPT_PATHS)
def test_kept_paths_import_their_old_names_without_warning(path):
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeprecationWarning)
        module = importlib.import_module(path)
        for name in KEPT_PATHS[path]:
            assert getattr(module, name) is not None, name


def test_old_names_are_the_new_objects():
    import fakezoo.data
    import fakezoo.models.build
    import fakezoo.synth.demo
    import fakezoo.train.cv

    with pytest.warns(DeprecationWarning, match="fakezoo.synth.demo"):
        assert fakezoo.data.make_demo_dataset is fakezoo.synth.demo.make_demo_dataset
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        cv, zoo = (importlib.import_module(f"fakezoo.{name}") for name in ("cv", "zoo"))
    assert cv.CrossValidator is fakezoo.train.cv.CrossValidator
    assert zoo.create is fakezoo.models.build.create
    assert fakezoo.hub.RunFormatError is errors.RunFormatError


def test_predict_stays_callable_after_the_module_of_that_name_is_imported(monkeypatch):
    import fakezoo.inference.api as api
    from fakezoo.inference.detector import Detector
    from fakezoo.models.preprocessing import Preprocessing

    monkeypatch.setattr(fakezoo, "predict", api.predict)
    module, _ = _fresh_import("fakezoo.predict", monkeypatch)
    assert fakezoo.predict is module and callable(module)  # the import rebinds the name
    assert module.clear_cache is api.clear_cache
    assert "threshold" in inspect.signature(module).parameters
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 2))
    detector = Detector([net], Preprocessing(image_size=8), device="cpu")
    image = Image.fromarray(np.arange(8 * 8 * 3, dtype=np.uint8).reshape(8, 8, 3))
    via_module = fakezoo.predict(image, model=detector)
    via_function = api.predict(image, model=detector)
    assert via_module.prob_fake == via_function.prob_fake


def test_one_rule_for_hidden_files_in_training_and_prediction(tmp_path):
    from fakezoo.data.discovery import list_images

    for name in [
        "b.jpg",
        "a.PNG",
        ".c.jpg",
        ".cache/d.jpg",
        "__MACOSX/._b.jpg",
        "__MACOSX/e.jpg",
        "sub/f.jpeg",
        "notes.txt",
    ]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).touch()
    assert [p.relative_to(tmp_path).as_posix() for p in list_images(tmp_path)] == [
        "a.PNG",
        "b.jpg",
        "sub/f.jpeg",
    ]
    from fakezoo.inference import detector

    assert detector._list_image_files is list_images  # the Detector lists folders the same way
