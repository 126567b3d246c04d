"""Real or fake? The one-liner, on a file, a folder, or a list.

    python examples/predict.py face.jpg --model runs/resnet50
    python examples/predict.py photos/ --model your-name/fakezoo-resnet50

``--model`` is a run directory, a Hub repo id or ``hf-hub:org/name@revision``; without it,
fakezoo uses $FAKEZOO_MODEL, else its default repo (a download).
"""

import argparse
from pathlib import Path

import fakezoo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("inputs", nargs="+", help="image files or folders")
    parser.add_argument("--model", help="run directory or Hub repo id")
    args = parser.parse_args()

    for item in args.inputs:
        # A folder gives one result per image; a file is wrapped in a list so that a bad
        # file is reported (p.error) instead of raising.
        results = fakezoo.predict(item if Path(item).is_dir() else [item], model=args.model)
        for p in results:
            if p.error:
                print(f"skipped  {p.path}: {p.error}")
            else:
                print(f"{p.label:<5} {p.prob_fake:.3f}  {p.path}")


if __name__ == "__main__":
    main()
