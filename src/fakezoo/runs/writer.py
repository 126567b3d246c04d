"""Writing run directories: claim (or refuse), one fold at a time, then the finished index.

[`RunWriter`][fakezoo.runs.writer.RunWriter] is what
[`CrossValidator`][fakezoo.train.cv.CrossValidator] writes through. Every file is written atomically
and a fold's ``config.json`` is written last, so a run killed at any point holds only whole files,
and a fold folder with a config is finished.

A directory is resumed only when its stored [`Fingerprint`][fakezoo.runs.schema.Fingerprint]
equals the one asked for; anything else is refused before any work with the differing
fields named, unless ``overwrite=True`` removes the old run first. The directory is held
with [`hold_folder`][fakezoo.runs.folders.hold_folder] while it is written (fakezoo's marker,
lock and manifest): ``overwrite`` removes only what the manifest names.
"""

from __future__ import annotations

import dataclasses
import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from .._io import atomic_write, atomic_write_text, file_sha256, read_json, write_json
from .folders import RUN, remove_owned
from .schema import (
    FOLD_CONFIG,
    INDEX,
    PREDICTIONS,
    RESULTS,
    WEIGHTS,
    Fingerprint,
    FoldConfig,
    RunConfig,
    RunFormatError,
    RunMismatchError,
    check_digest,
    check_fold_predictions,
    check_same,
    fold_differences,
    fold_name,
    mismatch_message,
)

logger = logging.getLogger("fakezoo")

__all__ = ["RunWriter"]


class RunWriter:
    """Writes one run directory.

    Args:
        root: the run directory.
        fingerprint: the run's fingerprint; an existing directory must hold the same one.
        save_weights: write ``model.safetensors`` per fold (a fold without it is not
            finished when weights are asked for).
        ways_out: what the user can do on a mismatch (names the CLI flags or arguments).
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        fingerprint: Fingerprint,
        *,
        save_weights: bool = True,
        ways_out: str = "Use another out_dir, or pass overwrite=True to remove the old run first.",
    ):
        self.root = Path(root)
        self.fingerprint = fingerprint
        self.save_weights = save_weights
        self.ways_out = ways_out

    # -- claiming ---------------------------------------------------------------------------
    def stored_fingerprint(self) -> Fingerprint | bool | None:
        """The fingerprint in the directory's index; ``False`` when there is no index."""
        index = self.root / INDEX
        if not index.is_file():
            return False
        try:
            return RunConfig.from_dict(read_json(index), str(index)).fingerprint
        except (ValueError, OSError) as err:
            raise RunFormatError(f"'{index}' cannot be resumed ({err}). {self.ways_out}") from err

    def claim(self, index: RunConfig, *, overwrite: bool = False) -> None:
        """Start the run directory, or check that it holds this very run.

        Raises:
            RunMismatchError: the directory holds a run with another fingerprint (the message
                lists each differing field, old → new, and the ways out).
        """
        if overwrite:
            remove_owned(self.root, RUN)
        stored = self.stored_fingerprint()
        if stored is False and write_json(self.root / INDEX, index.to_dict(), exclusive=True):
            return
        stored = self.stored_fingerprint() if stored is False else stored  # a job's, just now
        check_same(stored, self.fingerprint, f"'{self.root}'", self.ways_out)

    # -- folds ------------------------------------------------------------------------------
    def fold_folder(self, k: int) -> Path:
        return self.root / fold_name(k)

    def finished_fold(self, k: int, expected_val_sha256: str) -> dict | None:
        """The stored predictions of fold ``k`` when it is finished and belongs to this run,
        else ``None`` (it is trained again)."""
        folder = self.fold_folder(k)
        names = (WEIGHTS,) * self.save_weights + (PREDICTIONS, FOLD_CONFIG)
        if not all((folder / n).is_file() for n in names):
            return None
        where = str(folder / FOLD_CONFIG)
        cfg = FoldConfig.from_dict(self._read(folder / FOLD_CONFIG), where)
        differences = fold_differences(cfg, self.fingerprint)  # the lr too: see its docstring
        if differences:
            raise RunMismatchError(mismatch_message(where, differences, self.ways_out), differences)
        if cfg.val_files_sha256 != expected_val_sha256:
            raise RunFormatError(
                f"{where}: its validation files differ from fold {k} of this "
                f"run; the folder was copied from another run. "
                f"{self.ways_out}"
            )
        again = f"Delete '{folder}' to train fold {k} again. {self.ways_out}"
        if (folder / WEIGHTS).is_file():
            check_digest(folder / WEIGHTS, cfg.weights_sha256, where, again)
        path = folder / PREDICTIONS
        check_digest(path, cfg.predictions_sha256, where, again)
        return check_fold_predictions(self._read(path), f"'{path}' ({self.ways_out})")

    def _read(self, path: Path) -> Any:
        try:
            return read_json(path)
        except ValueError as err:  # not UTF-8, not JSON, nested too deeply
            raise RunFormatError(f"'{path}' is not valid JSON ({err}). {self.ways_out}") from err

    def write_fold(
        self,
        k: int,
        config: FoldConfig,
        predictions: dict,
        write_weights: Callable[[Any], None] | None = None,
    ) -> None:
        """Write ``fold_k/``: weights, predictions, then its config.json (the done marker),
        which records the SHA-256 of the other two.

        ``write_weights(handle)`` writes the safetensors bytes to an open file.
        """
        folder = self.fold_folder(k)
        weights = None
        if self.save_weights and write_weights is not None:
            atomic_write(folder / WEIGHTS, write_weights)
            weights = file_sha256(folder / WEIGHTS)
        write_json(folder / PREDICTIONS, predictions)
        config = dataclasses.replace(
            config, weights_sha256=weights, predictions_sha256=file_sha256(folder / PREDICTIONS)
        )
        write_json(folder / FOLD_CONFIG, config.to_dict())  # written last

    # -- finishing --------------------------------------------------------------------------
    def finish(self, index: RunConfig, results: dict, report: str) -> None:
        """Write results.json (with the fingerprint), report.md and the completed index."""
        write_json(self.root / RESULTS, {**results, "fingerprint": self.fingerprint.to_dict()})
        atomic_write_text(self.root / "report.md", report)
        write_json(self.root / INDEX, index.to_dict())
