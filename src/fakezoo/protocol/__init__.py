"""The field's cross-dataset protocol: train on FaceForensics++ (c23), choose on its validation
split, test on Celeb-DF v2, DFDC and DFDCP, at frame and video level, in one call.

- [`run_protocol`][fakezoo.protocol.run.run_protocol] (``fakezoo protocol``) does it all and
  returns a [`ProtocolResult`][fakezoo.protocol.run.ProtocolResult];
- [`fakezoo.protocol.scores`][fakezoo.protocol.scores] holds the arithmetic (thresholds from
  validation, the video score as the mean of its frames, per-method breakdown);
- [`fakezoo.protocol.table`][fakezoo.protocol.table] writes the table in the shape of
  DeepfakeBench's, ``results.csv`` and ``table.md``.

Example:
    ```python
    # needs: the benchmarks under /data (see docs/benchmarks.md)
    import fakezoo
    from fakezoo.protocol import run_protocol
    result = run_protocol("ff++:c23", ["celebdf-v2", "dfdc", "dfdcp"], models=["resnet50"],
                          out="bench/", data_root="/data", cv=fakezoo.CrossValidator(epochs=10))
    print(result.table("video"))
    ```
"""

from __future__ import annotations

from .run import FORMAT, ProtocolResult, run_protocol

__all__ = ["FORMAT", "ProtocolResult", "run_protocol"]
