"""The package layout: one declared order of layers, imports only downward, no private names
across modules, one home per public name.

Every module of ``src/fakezoo`` is read (``.py`` files and the ``.pyi`` stubs that list a
package's lazily loaded names), and every import in it counts: absolute and relative, at the
top of the module and inside functions, under ``TYPE_CHECKING`` too.
"""

from __future__ import annotations

import ast
import importlib
import re
from dataclasses import dataclass
from pathlib import Path
from types import FunctionType

import numpy as np
import pytest
import torch
from PIL import Image

import fakezoo
from fakezoo import errors

PACKAGE = Path(fakezoo.__file__).resolve().parent
DESIGN = PACKAGE.parents[1] / "docs" / "design.md"

# The layers of fakezoo, lowest first; docs/design.md draws the same picture. A room is a
# top-level module or subpackage of fakezoo. A module may import its own room and the rooms of
# lower layers; rooms that share a layer are independent and never import each other. The
# package root (fakezoo/__init__.py and its stub) is the facade above them all.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("errors", "_version", "_optional"),
    ("_io", "_device", "_progress", "download", "memory"),
    ("data",),
    ("faces", "datasets", "synth", "metrics"),
    ("models",),
    ("report", "deviations"),
    ("runs",),
    ("train", "hub", "inference"),
    ("explain", "evaluation", "study"),
    ("app", "protocol"),
    ("cli_parser",),
    ("cli",),
    ("__main__",),
)
ROOT = "fakezoo"  # the facade: above every layer, imported by no module


@dataclass(frozen=True)
class Import:
    """One imported fakezoo module (and the name taken from it, if any) at a line."""

    importer: str  # dotted module name, e.g. fakezoo.inference.detector
    line: int
    module: str  # the module imported from, e.g. fakezoo.inference.stream
    name: str | None  # the name taken from it (None for ``import fakezoo.x``)

    def __str__(self) -> str:
        what = self.module if self.name is None else f"{self.name} from {self.module}"
        return f"{self.importer}:{self.line} imports {what}"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _sources() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*") if p.suffix in {".py", ".pyi"})


MODULES = {_module_name(p) for p in _sources()}


def _imports(path: Path) -> list[Import]:
    """Every import of a fakezoo module in one source file."""
    me = _module_name(path)
    package = me if path.stem == "__init__" else me.rpartition(".")[0]
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [
                Import(me, node.lineno, a.name, None)
                for a in node.names
                if a.name.split(".")[0] == "fakezoo"
            ]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                source = ".".join([*base, *([node.module] if node.module else [])])
            else:
                source = node.module or ""
            if source.split(".")[0] != "fakezoo":
                continue
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                found.append(
                    Import(me, node.lineno, sub, None)  # `from . import stream`: a module
                    if sub in MODULES
                    else Import(me, node.lineno, source, alias.name)
                )
    return found


ALL_IMPORTS = [imp for path in _sources() for imp in _imports(path)]


def _room(module: str) -> str:
    """``fakezoo.inference.detector`` -> ``inference``; the package root -> ``fakezoo``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ROOT


def _layer(room: str) -> int:
    if room == ROOT:
        return len(LAYERS)
    for index, rooms in enumerate(LAYERS):
        if room in rooms:
            return index
    raise AssertionError(f"{room} is in no layer of LAYERS: give it one")


def test_every_room_has_a_layer_and_every_layer_a_room():
    rooms = {_room(m) for m in MODULES} - {ROOT}
    declared = [room for rooms in LAYERS for room in rooms]
    assert sorted(declared) == sorted(set(declared)), "a room is declared twice"
    assert rooms == set(declared), (
        f"undeclared: {sorted(rooms - set(declared))}, gone: {sorted(set(declared) - rooms)}"
    )


def test_imports_only_go_down_the_layers():
    wrong = []
    for imp in ALL_IMPORTS:
        mine, theirs = _room(imp.importer), _room(imp.module)
        if mine == theirs:
            continue
        here, there = _layer(mine), _layer(theirs)
        if there > here:
            wrong.append(f"{imp}: upward, {mine} (layer {here}) -> {theirs} (layer {there})")
        elif there == here:
            wrong.append(f"{imp}: sideways, {mine} and {theirs} share layer {here}")
    assert not wrong, "imports against the declared layers:\n" + "\n".join(wrong)


def test_no_module_imports_a_private_name_of_another():
    wrong = []
    for imp in ALL_IMPORTS:
        if imp.name is not None and imp.name.startswith("_") and not imp.name.startswith("__"):
            wrong.append(f"{imp}: a private name")
        parent, _, leaf = imp.module.rpartition(".")
        # a private module (fakezoo.faces._mtcnn) serves its own package only
        inside = imp.importer == parent or imp.importer.startswith(f"{parent}.")
        if leaf.startswith("_") and not leaf.startswith("__") and not inside:
            wrong.append(f"{imp}: a private module of {parent}")
    assert not wrong, "private names used across modules:\n" + "\n".join(wrong)


def test_no_import_cycles_between_modules():
    graph: dict[str, set[str]] = {}
    for imp in ALL_IMPORTS:
        target = imp.module
        if target != imp.importer and not imp.importer.startswith(f"{target}."):
            graph.setdefault(imp.importer, set()).add(target)
    state: dict[str, int] = {}  # 1: on the path, 2: done

    def visit(node: str, path: list[str]) -> list[str] | None:
        state[node] = 1
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt] if nxt in path else [node, nxt]
            if nxt not in state and (cycle := visit(nxt, [*path, nxt])):
                return cycle
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (cycle := visit(start, [start])):
            pytest.fail("import cycle: " + " -> ".join(cycle))


def test_design_md_draws_the_declared_layers():
    """The diagram in docs/design.md lists LAYERS, top layer first, one line per layer."""
    text = DESIGN.read_text(encoding="utf-8")
    block = re.search(r"<!-- layers -->\n```text\n(.*?)```", text, re.S)
    assert block, "docs/design.md has no ```text block after <!-- layers -->"
    drawn = [
        tuple(re.findall(r"[A-Za-z_]+", line.split("|", 1)[1]))
        for line in block.group(1).splitlines()
        if "|" in line
    ]
    assert drawn == list(reversed(LAYERS)), drawn


def test_each_public_name_has_one_home():
    """A subpackage's public names are defined inside it; nothing forwards another room's
    names, and no public name is also the name of a module beside it (``fakezoo.evaluate``
    is the function, the subpackage is ``fakezoo.evaluation``)."""
    packages = sorted(
        {_module_name(p) for p in _sources() if p.stem == "__init__" and p.suffix == ".py"}
    )
    for package in packages:
        module = importlib.import_module(package)
        names = getattr(module, "__all__", [])
        clash = sorted(n for n in names if f"{package}.{n}" in MODULES)
        assert not clash, f"{package}: names that are also modules: {clash}"
        if package == ROOT:
            continue
        for name in names:
            home = getattr(getattr(module, name), "__module__", package)
            assert home.startswith(f"{package}.") or home == package, (package, name, home)


@pytest.mark.parametrize("name", ["evaluate", "predict"])
def test_top_level_functions_stay_functions_after_their_modules_load(name):
    importlib.import_module("fakezoo.evaluation.api")
    importlib.import_module("fakezoo.inference.api")
    value = getattr(fakezoo, name)
    assert isinstance(value, FunctionType), value


def test_every_exception_derives_from_the_base_and_keeps_its_builtin_parent():
    builtin = {
        "UnknownModelError": KeyError,
        "WeightsError": RuntimeError,
        "DatasetError": ValueError,
        "FileDecodeError": ValueError,
        "ImageDecodeError": ValueError,
        "VideoDecodeError": ValueError,
        "FacesError": ValueError,
        "RunDirectoryError": RuntimeError,
        "RunMismatchError": RuntimeError,
        "RunFormatError": ValueError,
        "HubAuthError": RuntimeError,
        "HubUnavailableError": RuntimeError,
        "HubFileNotFoundError": FileNotFoundError,
        "ProtocolError": RuntimeError,
        "RankZeroError": RuntimeError,
        "StorageError": RuntimeError,
        "ExportCheckError": RuntimeError,
        "ExportReadError": ValueError,
        "EvalRunError": ValueError,
        "PerturbationError": ValueError,
        "FolderError": ValueError,
        "FolderInUseError": RuntimeError,
        "CacheSpaceError": OSError,
    }
    assert set(errors.__all__) == {"FakezooError", *builtin}
    for name, parent in builtin.items():
        cls = getattr(errors, name)
        assert issubclass(cls, errors.FakezooError) and issubclass(cls, parent), name
    with pytest.raises(errors.FakezooError, match="Did you mean 'resnet50'"):
        fakezoo.get_spec("resnet5O")


def test_every_exception_class_lives_in_errors():
    outside = [
        f"{path.relative_to(PACKAGE)}:{node.lineno} {node.name}"
        for path in _sources()
        if path.name != "errors.py"
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        if isinstance(node, ast.ClassDef) and re.search(r"(Error|Exception)$", node.name)
    ]
    assert not outside, outside


def test_one_rule_for_hidden_files_in_training_and_prediction(tmp_path):
    from fakezoo.data.discovery import list_images
    from fakezoo.inference.detector import Detector
    from fakezoo.models.preprocessing import Preprocessing

    pixels = Image.fromarray(np.arange(8 * 8 * 3, dtype=np.uint8).reshape(8, 8, 3))
    for name in [
        "b.jpg",
        "a.PNG",
        ".c.jpg",
        ".cache/d.jpg",
        "__MACOSX/._b.jpg",
        "__MACOSX/e.jpg",
        "sub/f.jpeg",
    ]:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        pixels.save(tmp_path / name, format="PNG" if name.endswith("PNG") else "JPEG")
    (tmp_path / "notes.txt").write_text("not an image")
    listed = [p.relative_to(tmp_path).as_posix() for p in list_images(tmp_path)]
    assert listed == ["a.PNG", "b.jpg", "sub/f.jpeg"]
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Flatten(), torch.nn.Linear(3 * 8 * 8, 2))
    detector = Detector([net], Preprocessing(image_size=8), device="cpu")
    predicted = [Path(p.path).relative_to(tmp_path).as_posix() for p in detector.predict(tmp_path)]
    assert predicted == listed  # the Detector lists folders the way training does
