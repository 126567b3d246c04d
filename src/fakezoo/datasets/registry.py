"""Dataset names as the CLI and the protocol take them: ``NAME[:OPTIONS][=PATH]``.

- ``ff++[:c23|c40|raw][:Method,Method...]`` (FaceForensics++; default ``c23`` and the four
  FF++ methods),
- ``celebdf-v2``, ``dfdc``, ``dfdcp``,
- ``deepfakebench[:c23|c40|raw]=.../dataset_json/<name>.json`` (DeepfakeBench's crops).

Without ``=PATH`` a dataset is looked for under a data root in the folder DeepfakeBench and
SBI give it (``FaceForensics++``, ``Celeb-DF-v2``, ``DFDC``, ``DFDCP``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .celebdf import read_celebdf
from .deepfakebench import read_deepfakebench
from .dfdc import read_dfdc, read_dfdcp
from .ffpp import COMPRESSIONS, FF_METHODS, canonical_method, read_ffpp
from .index import VideoIndex

__all__ = ["DATASETS", "DatasetSpec", "parse_spec", "read_dataset"]

DATASETS = {
    "ff++": "FaceForensics++",
    "celebdf-v2": "Celeb-DF-v2",
    "dfdc": "DFDC",
    "dfdcp": "DFDCP",
    "deepfakebench": None,
}
"""Each dataset name and its folder under a data root (DeepfakeBench's: a JSON file)."""

_ALIASES = {
    "ffpp": "ff++",
    "faceforensics++": "ff++",
    "faceforensics": "ff++",
    "celeb-df-v2": "celebdf-v2",
    "cdfv2": "celebdf-v2",
    "cdf": "celebdf-v2",
    "dfdc-preview": "dfdcp",
}


@dataclass(frozen=True)
class DatasetSpec:
    """A parsed ``NAME[:OPTIONS][=PATH]``."""

    name: str
    compression: str | None = None
    methods: tuple[str, ...] | None = None
    path: Path | None = None

    @property
    def label(self) -> str:
        """The canonical text, e.g. ``"ff++:c23"`` (path left out)."""
        parts = [self.name]
        if self.compression:
            parts.append(self.compression)
        if self.methods and self.methods != FF_METHODS:
            parts.append(",".join(self.methods))
        return ":".join(parts)

    def with_compression(self, compression: str) -> DatasetSpec:
        return DatasetSpec(self.name, compression, self.methods, self.path)

    def where(self, data_root: str | Path | None) -> Path:
        """The path to read: the spec's own, else the dataset's folder under `data_root`."""
        if self.path is not None:
            return self.path
        if data_root is None or DATASETS[self.name] is None:
            raise ValueError(
                f"{self.label}: give its location as {self.label}=PATH"
                + ("" if DATASETS[self.name] is None else " or a data root holding it")
            )
        return Path(data_root).expanduser() / DATASETS[self.name]


def parse_spec(text: str) -> DatasetSpec:
    """``"ff++:c40=/data/FF"`` -> ``DatasetSpec("ff++", "c40", FF_METHODS, Path("/data/FF"))``.

    Raises:
        ValueError: an unknown name or option, with the choices.

    Example:
        ```python
        from fakezoo.datasets import parse_spec
        parse_spec("ff++:c40:Deepfakes").methods  # ('Deepfakes',)
        ```
    """
    head, sep, path = text.partition("=")
    if sep and not path:
        raise ValueError(f"{text!r}: nothing after '='; write NAME=PATH")
    name, *options = head.strip().split(":")
    name = _ALIASES.get(name.lower(), name.lower())
    if name not in DATASETS:
        raise ValueError(f"unknown dataset {name!r} in {text!r}: choose from {', '.join(DATASETS)}")
    compression, methods = None, None
    for option in options:
        if option.lower() in (*COMPRESSIONS, "c0") and name in ("ff++", "deepfakebench"):
            compression = "raw" if option.lower() == "c0" else option.lower()
        elif name == "ff++" and option:
            methods = tuple(canonical_method(m) for m in option.split(","))
        else:
            raise ValueError(f"{text!r}: {name} takes no option {option!r}")
    if name == "ff++":
        compression, methods = compression or "c23", methods or FF_METHODS
    return DatasetSpec(name, compression, methods, Path(path).expanduser() if sep else None)


def read_dataset(
    spec: str | DatasetSpec, root: str | Path | None = None, **options: Any
) -> VideoIndex:
    """Read a benchmark dataset by name.

    Args:
        spec: ``NAME[:OPTIONS][=PATH]`` (see [`registry`][fakezoo.datasets.registry]) or a
            [`DatasetSpec`][fakezoo.datasets.registry.DatasetSpec].
        root: The dataset's folder (or, for ``deepfakebench``, its JSON file) when the spec
            has no ``=PATH``.
        **options: Passed to the reader (``splits_dir`` for FF++, ``rgb_dir`` for
            DeepfakeBench).

    Example:
        ```python
        # needs: Celeb-DF v2 as distributed
        from fakezoo.datasets import read_dataset
        read_dataset("celebdf-v2=/data/Celeb-DF-v2").summary()
        ```
    """
    parsed = parse_spec(spec) if isinstance(spec, str) else spec
    where = parsed.path or (Path(root) if root is not None else None)
    if where is None:
        raise ValueError(f"{parsed.label}: give its folder (root=, or {parsed.label}=PATH)")
    if parsed.name == "ff++":
        return read_ffpp(
            where, parsed.compression or "c23", parsed.methods or FF_METHODS, **options
        )
    if parsed.name == "deepfakebench":
        return read_deepfakebench(where, compression=parsed.compression or "c23", **options)
    reader = {"celebdf-v2": read_celebdf, "dfdc": read_dfdc, "dfdcp": read_dfdcp}[parsed.name]
    return reader(where, **options)
