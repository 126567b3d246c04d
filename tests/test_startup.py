"""`import fakezoo` and the CLI's help, version and zoo listing load nothing heavy (issue 21).

This checks behaviour, not timing: in a fresh interpreter, which modules end up imported.
benchmarks/startup_time.py measures the times.
"""

import json
import subprocess
import sys

import pytest

import fakezoo

HEAVY = ("torch", "timm", "optuna", "sklearn", "matplotlib")

PROBE = """
import json, sys
argv = {argv!r}
if argv is None:
    import fakezoo
else:
    from fakezoo.cli import main
    try:
        main(argv)
    except SystemExit:
        pass
print(json.dumps(sorted(m for m in {heavy!r} if m in sys.modules)), file=sys.stderr)
"""


def heavy_modules_after(argv: list[str] | None) -> list[str]:
    proc = subprocess.run(
        [sys.executable, "-c", PROBE.format(argv=argv, heavy=HEAVY)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stderr.strip().splitlines()[-1])


@pytest.mark.parametrize(
    "argv",
    [
        None,
        ["--help"],
        ["--version"],
        ["cv", "--help"],
        ["predict", "--help"],
        ["models"],
        ["models", "--format", "json"],
    ],
    ids=lambda a: "import fakezoo" if a is None else " ".join(a),
)
def test_nothing_heavy_is_imported(argv):
    assert heavy_modules_after(argv) == []


def test_public_names_resolve_lazily_and_completely():
    assert set(fakezoo.__all__) <= set(dir(fakezoo))
    for name in fakezoo.__all__:
        assert getattr(fakezoo, name) is not None, name
    assert fakezoo.CrossValidator.__module__ == "fakezoo.train.cv"
    assert callable(fakezoo.predict)
    with pytest.raises(AttributeError, match="no_such_name"):
        fakezoo.no_such_name  # noqa: B018


def test_static_parameter_counts_match_the_built_models():
    from fakezoo.models.build import parameter_counts
    from fakezoo.models.registry import get_spec, list_models

    for name in list_models():
        counts = parameter_counts(name)
        assert get_spec(name).param_counts == (
            counts["finetune"],
            counts["head"],
            counts["total"],
        ), name
