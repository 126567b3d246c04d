"""``fakezoo protocol``: the command-line face of
[`run_protocol`][fakezoo.protocol.run.run_protocol] (its arguments are in
[`fakezoo.cli_parser`][fakezoo.cli_parser])."""

from __future__ import annotations

import argparse

__all__ = ["run_command"]


def run_command(args: argparse.Namespace) -> int:
    from ..faces.policy import policy_with
    from ..train.cv import CrossValidator
    from ..train.settings import TrainSettings
    from .run import DEFAULT_LRS, run_protocol

    settings = TrainSettings(
        n_splits=2,
        epochs=args.epochs,
        batch_size=args.batch_size,
        seed=args.seed,
        device=args.device,
        pretrained=args.pretrained,
        image_size=args.image_size,
    )
    cv = CrossValidator(settings, num_workers=args.workers)
    result = run_protocol(
        args.train,
        args.test,
        models=args.models,
        out=args.out,
        data_root=args.data_root,
        cv=cv,
        lrs=args.lr or DEFAULT_LRS,
        finetune=args.finetune,
        policy=policy_with(args.policy, size=args.crop_size),
        frames=args.frames,
        min_size=args.min_size,
        c40=args.c40,
        crop_dir=args.crops,
        memory_budget_gb=args.memory_budget,
        workers=args.workers,
    )
    print("Frame-level ROC-AUC\n")
    print(result.table("frame"))
    print("\nVideo-level ROC-AUC (a video's score: the mean of its frames' P(fake))\n")
    print(result.table("video"))
    print(f"\nwritten to {args.out}: protocol.json, results.csv, table.md")
    return 0
