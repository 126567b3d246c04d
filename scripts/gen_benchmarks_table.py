"""Put the protocol's table from the miniature benchmark replicas into ``docs/benchmarks.md``.

Usage::

    python scripts/gen_benchmarks_table.py          # build the replicas, run, rewrite the page

It writes the replicas of the test suite (``tests/benchmark_data.py``: FaceForensics++ c23 and
c40, Celeb-DF v2, DFDC and DFDCP in their distributed layouts, short PyAV videos of a real
face) into a temporary folder, runs ``fakezoo protocol`` on them through the CLI with
``PROTOCOL_ARGS`` (random weights, tiny sizes), and replaces the block between the
``replica-table`` markers of the page with the command and the two tables it printed.
``tests/test_protocol.py`` runs the same command and checks that the page shows its tables.
"""

from __future__ import annotations

import json
import re
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "benchmarks.md"
START, END = "<!-- replica-table:start -->", "<!-- replica-table:end -->"


def main() -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    import benchmark_data as bd

    from fakezoo.cli import main as fakezoo
    from fakezoo.protocol import ProtocolResult

    work = Path(tempfile.mkdtemp(prefix="replicas-"))
    root = work / "replicas"
    for name, build in bd.BUILDERS.items():
        if name != "deepfakebench":
            build(root / bd.FOLDERS[name])
    out = work / "bench"
    assert (
        fakezoo(["protocol", "--data-root", str(root), "--out", str(out), *bd.PROTOCOL_ARGS]) == 0
    )
    result = ProtocolResult.from_dict(json.loads((out / "protocol.json").read_text()))
    args = " ".join(bd.PROTOCOL_ARGS)
    block = "\n".join(
        [
            START,
            "```bash",
            f"fakezoo protocol --data-root replicas/ --out bench/ {args}",
            "```",
            "",
            "Frame-level ROC-AUC:",
            "",
            result.table("frame"),
            "",
            "Video-level ROC-AUC (a video's score: the mean of its frames' P(fake)):",
            "",
            result.table("video"),
            END,
        ]
    )
    page = DOC.read_text(encoding="utf-8")
    pattern = re.compile(re.escape(START) + ".*?" + re.escape(END), re.DOTALL)
    if not pattern.search(page):
        raise SystemExit(f"{DOC} has no {START} ... {END} block")
    DOC.write_text(pattern.sub(lambda _: block, page), encoding="utf-8")
    print(f"rewrote the replica table in {DOC}")


if __name__ == "__main__":
    main()
