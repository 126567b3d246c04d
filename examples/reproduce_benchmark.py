"""Reproduce the study's table "Performance For All Models" on your own data.

The study used 10,000 face images (5,000 real, 5,000 manipulated, 256x256 JPG) from Kaggle.
Kaggle's real-vs-fake face sets unpack to a layout fakezoo reads as it is:

    real_vs_fake/
      Train/Real/*.jpg   Train/Fake/*.jpg
      Validation/Real/   Validation/Fake/
      Test/Real/         Test/Fake/

All splits are merged for cross-validation (the study's protocol); ``--n-per-class 5000`` draws
the study's balanced 5,000/5,000 subset, seeded. With the defaults this is the study's protocol:
ImageNet weights (downloaded once from the Hugging Face Hub), 224/299 inputs, stratified
3-fold CV, 20 Optuna trials per row. It needs a GPU to finish in reasonable time.

    python examples/reproduce_benchmark.py path/to/real_vs_fake --out study
    python examples/reproduce_benchmark.py path/to/real_vs_fake --protocol nested

Rerunning the same command resumes: finished rows are loaded, an interrupted row's Optuna
study continues.
"""

import argparse
import logging

import fakezoo
from fakezoo.report import table_markdown
from fakezoo.study import run_study


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", help="folder (real/fake, possibly under Train/Validation/Test)")
    parser.add_argument("--out", default="study")
    parser.add_argument("--n-per-class", type=int, default=5000)
    parser.add_argument("--models", nargs="+", help="only these models' rows")
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--protocol", choices=["study", "nested"], default="study")
    parser.add_argument("--image-size", type=int, help="override 224/299 (quick runs only)")
    parser.add_argument("--no-pretrained", dest="pretrained", action="store_false")
    parser.add_argument("--device", default="auto")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    data = fakezoo.load_dataset(args.data)
    counts = data.class_counts()
    if min(counts.values()) >= args.n_per_class:
        data = data.subsample(args.n_per_class, seed=0)
    else:
        logging.warning(
            "Fewer than %d images per class (%s): using all of them.", args.n_per_class, counts
        )
    table = run_study(
        data,
        args.out,
        models=args.models,
        n_trials=args.trials,
        epochs=args.epochs,
        protocol=args.protocol,
        image_size=args.image_size,
        pretrained=args.pretrained,
        device=args.device,
    )
    print(table_markdown(table))
    print(f"\nPer-fold blocks and the study's numbers side by side: {args.out}/study.md")


if __name__ == "__main__":
    main()
