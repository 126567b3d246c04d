"""Finding labelled images: a `real/` + `fake/` folder layout (Kaggle-style split folders
included) or a CSV file of `path,label[,group]`.
"""

from __future__ import annotations

import csv
import logging
import os
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import DatasetError
from .dataset import IMAGE_EXTENSIONS, SPLIT_ORDER, Dataset, SkippedFile, log_skipped, split_rank
from .decode import file_problem

if TYPE_CHECKING:  # torch is imported lazily so that decode worker processes start fast
    pass

__all__ = ["is_hidden", "list_images", "load_dataset", "scan_folder"]


logger = logging.getLogger(__name__)


_REAL_DIR_NAMES = frozenset({"real", "0_real", "real_images", "original", "genuine", "authentic"})
_FAKE_DIR_NAMES = frozenset(
    {"fake", "1_fake", "fake_images", "manipulated", "deepfake", "df", "synthetic"}
)
_SPLIT_ALIASES = {
    "train": "train",
    "training": "train",
    "val": "validation",
    "valid": "validation",
    "validation": "validation",
    "test": "test",
    "testing": "test",
}
_LABEL_WORDS = {
    "0": 0,
    "1": 1,
    **dict.fromkeys(_REAL_DIR_NAMES, 0),
    **dict.fromkeys(_FAKE_DIR_NAMES, 1),
}
_LAYOUT_HELP = """\
Expected one of these layouts (folder names are case-insensitive):
  {root}/real/...  and  {root}/fake/...   (images found recursively)
      'real' may also be named 0_real, real_images, original, genuine or authentic;
      'fake' may also be named 1_fake, fake_images, manipulated, deepfake, df or synthetic
  {root}/train/real, {root}/train/fake, {root}/validation/real, ...   (Kaggle style;
      also Train, training, val, valid, test, testing; splits are merged unless split= is given)
  a .csv file with the columns path,label[,group] (label: real/fake or 0/1)"""


def load_dataset(
    source: str | os.PathLike[str],
    *,
    n_per_class: int | None = None,
    seed: int = 0,
    split: str | None = None,
) -> Dataset:
    """Find the labelled images of a folder layout or a CSV file.

    Folders: class folders are matched by name, case-insensitively (`real`, `0_real`,
    `real_images`, `original`, `genuine`, `authentic`; `fake`, `1_fake`, `fake_images`,
    `manipulated`, `deepfake`, `df`, `synthetic`), either directly under `source` or under split
    folders (`train`/`training`, `val`/`valid`/`validation`, `test`/`testing`), optionally inside
    one or two wrapper folders. Images are found recursively (symbolic links to folders are
    followed) and sorted; hidden names are ignored; every other file is listed in `skipped`
    with its reason (see [`scan_folder`][fakezoo.data.discovery.scan_folder]). Files that fail
    to decode are skipped later by `decode_dataset`.

    CSV: columns `path` and `label` (headers case-insensitive), optional `group` and `split`.
    Labels are `real`/`fake` or `0`/`1`; paths are relative to the CSV's folder or absolute.
    Missing files are listed in `skipped` with the reason "file not found".

    Args:
        source: A folder or a `.csv` file.
        n_per_class: If given, draw this many images per class at random (see `seed`).
        seed: Seed for `n_per_class`.
        split: Keep only this split (`"train"`, `"validation"`, `"test"` or an alias such as
            `"val"`). By default all splits are merged and each item's split is kept in
            `Dataset.splits`.

    Returns:
        The `Dataset`.

    Raises:
        DatasetError: If the layout is not recognised, no images are found, the CSV is
            malformed, or `split` is not present.

    Example:
        ```python
        ds = load_dataset("Dataset/")  # Dataset/Train/Real, Dataset/Validation/Fake, ...
        train = load_dataset("Dataset/", split="train")
        csv_ds = load_dataset("labels.csv", n_per_class=500, seed=0)
        ```
    """
    path = Path(source).expanduser().absolute()
    wanted = None if split is None else _canonical_split(split)
    if not path.exists():
        raise DatasetError(f"dataset path does not exist: {path}")
    if path.is_file():
        if path.suffix.lower() != ".csv":
            raise DatasetError(
                f"{path} is a file but not a .csv file; pass a dataset folder or a CSV file with "
                "the columns path,label[,group]"
            )
        dataset = _load_csv(path, wanted)
    else:
        dataset = _load_folder(path, wanted)
    counts = dataset.class_counts()
    logger.info(
        "found %d images (%d real, %d fake) in %s",
        len(dataset),
        counts["real"],
        counts["fake"],
        path,
    )
    if n_per_class is not None:
        dataset = dataset.subsample(n_per_class, seed=seed)
    return dataset


def _canonical_split(name: str) -> str:
    canonical = _SPLIT_ALIASES.get(str(name).strip().lower())
    if canonical is None:
        raise ValueError(
            f"unknown split {name!r}; use one of {', '.join(SPLIT_ORDER)} "
            f"(aliases: {', '.join(sorted(_SPLIT_ALIASES))})"
        )
    return canonical


def is_hidden(name: str) -> bool:
    """Names never read as data: dot files and folders, and the ``__MACOSX`` folder of resource
    forks that a zip made on a Mac carries."""
    return name.startswith(".") or name == "__MACOSX"


def _subdirs(folder: Path) -> list[Path]:
    try:
        entries = sorted(folder.iterdir())
    except OSError as exc:
        raise DatasetError(f"cannot list {folder}: {exc.strerror or exc}") from exc
    return [p for p in entries if not is_hidden(p.name) and p.is_dir()]


def _class_dirs(folder: Path) -> list[tuple[int, Path]]:
    found = []
    for sub in _subdirs(folder):
        name = sub.name.lower()
        if name in _REAL_DIR_NAMES:
            found.append((0, sub))
        elif name in _FAKE_DIR_NAMES:
            found.append((1, sub))
    return found


def find_layout(root: Path) -> list[tuple[str | None, int, Path]]:
    """Return `(split or None, label, class folder)` for every class folder of the layout."""
    folder = root
    for _ in range(3):  # the layout itself, or inside up to two single wrapper folders
        classes = _class_dirs(folder)
        splits = [
            (canonical, sub)
            for sub in _subdirs(folder)
            if (canonical := _SPLIT_ALIASES.get(sub.name.lower())) and _class_dirs(sub)
        ]
        if classes and splits:
            raise DatasetError(
                f"{folder} has both class folders ({', '.join(d.name for _, d in classes)}) and "
                f"split folders ({', '.join(d.name for _, d in splits)}); move the class folders "
                "into a split folder or point load_dataset at one of them"
            )
        if classes:
            return [(None, label, sub) for label, sub in classes]
        if splits:
            return [(name, label, cls) for name, sub in splits for label, cls in _class_dirs(sub)]
        subs = _subdirs(folder)
        if len(subs) != 1:
            break
        folder = subs[0]
    found = ", ".join(p.name for p in _subdirs(root)) or "no sub-folders"
    raise DatasetError(
        f"cannot find real/fake class folders in {root} (found: {found}).\n"
        + _LAYOUT_HELP.format(root=root)
    )


def scan_folder(folder: Path) -> tuple[list[Path], list[SkippedFile]]:
    """The image files under ``folder`` (recursively, sorted by path) and every other entry
    found there, left out with its reason. This one rule serves training and prediction.

    * A file whose extension is one of
      [`IMAGE_EXTENSIONS`][fakezoo.data.dataset.IMAGE_EXTENSIONS] (any case) is an image.
      (It may still prove unreadable: a broken link or a named pipe is found when it is
      checked or decoded.)
    * Any other file is left out: no file extension, or another extension.
    * Symbolic links to folders are followed; one that leads to a folder already listed (a
      loop back up, or a second way in) is left out.
    * A folder that cannot be listed is left out.
    * Hidden names ([`is_hidden`][fakezoo.data.discovery.is_hidden]) are never read or reported.

    Example:
        ```python
        images, skipped = scan_folder(Path("faces/real"))
        [(s.path.name, s.reason) for s in skipped]  # [('notes.txt', 'not an image file ...')]
        ```
    """
    images: list[Path] = []
    skipped: list[SkippedFile] = []

    def on_error(exc: OSError) -> None:
        skipped.append(SkippedFile(Path(exc.filename), f"cannot list the folder ({exc.strerror})"))

    seen: dict[tuple[int, int], str] = {}
    for dirpath, dirnames, filenames in os.walk(folder, onerror=on_error, followlinks=True):
        try:
            info = os.stat(dirpath)
            seen.setdefault((info.st_dev, info.st_ino), dirpath)
        except OSError:
            pass
        kept = []
        # real folders first, so that a link to one of them is the entry left out
        subs = [(os.path.join(dirpath, n), n) for n in sorted(dirnames) if not is_hidden(n)]
        for sub, name in sorted(subs, key=lambda s: os.path.islink(s[0])):
            try:
                info = os.stat(sub)
            except OSError as exc:
                skipped.append(SkippedFile(Path(sub), f"cannot list the folder ({exc.strerror})"))
                continue
            first = seen.setdefault((info.st_dev, info.st_ino), sub)
            if first != sub:
                reason = f"the same folder as {first}, already listed; not read twice"
                skipped.append(SkippedFile(Path(sub), reason))
            else:
                kept.append(name)
        dirnames[:] = kept
        for name in filenames:
            if is_hidden(name):
                continue
            path = Path(dirpath, name)
            suffix = os.path.splitext(name)[1].lower()
            if suffix in IMAGE_EXTENSIONS:
                images.append(path)
            elif not suffix:
                skipped.append(SkippedFile(path, f"no file extension; {_IMAGE_NAMES}"))
            else:
                reason = f"not an image file extension ({suffix}); {_IMAGE_NAMES}"
                skipped.append(SkippedFile(path, reason))
    return sorted(images), sorted(skipped, key=lambda s: s.path)


_IMAGE_NAMES = f"images are read from files named {', '.join(IMAGE_EXTENSIONS)}"


def list_images(folder: Path) -> list[Path]:
    """The image files under ``folder`` by [`scan_folder`][fakezoo.data.discovery.scan_folder]'s
    rule, with one warning naming the entries it left out.

    Example:
        ```python
        list_images(Path("photos"))  # [PosixPath('photos/a.jpg'), ...]
        ```
    """
    images, skipped = scan_folder(Path(folder))
    if skipped:
        log_skipped(skipped, f"entries found in {folder}")
    return images


def _load_folder(root: Path, split: str | None) -> Dataset:
    entries = find_layout(root)
    has_splits = entries[0][0] is not None
    if split is not None:
        if not has_splits:
            raise DatasetError(
                f"split={split!r} was given but {root} has no split folders (train, validation, "
                "test); leave split out, or use a layout like root/train/real"
            )
        available = sorted({s for s, _, _ in entries if s is not None}, key=split_rank)
        if split not in available:
            raise DatasetError(f"{root} has no {split!r} split; found: {', '.join(available)}")
        entries = [e for e in entries if e[0] == split]
    items = []
    skipped: list[SkippedFile] = []
    for split_name, label, class_dir in entries:
        images, left_out = scan_folder(class_dir)
        items.extend((path, label, split_name) for path in images)
        skipped += left_out
    if skipped:
        log_skipped(skipped, f"entries found in {root}")
    if not items:
        folders = ", ".join(str(d.relative_to(root)) for _, _, d in entries)
        raise DatasetError(
            f"found the class folders {folders} in {root} but no images in them "
            f"(looked for {', '.join(IMAGE_EXTENSIONS)})"
        )
    items.sort(key=lambda item: item[0].relative_to(root).as_posix())
    return Dataset(
        root=root,
        paths=[p for p, _, _ in items],
        labels=np.array([label for _, label, _ in items], dtype=np.int64),
        splits=[s for _, _, s in items] if has_splits else None,  # type: ignore[misc]
        skipped=skipped,
    )


def _load_csv(csv_path: Path, split: str | None) -> Dataset:
    root = csv_path.parent
    paths: list[Path] = []
    labels: list[int] = []
    groups: list[str] = []
    splits: list[str] = []
    skipped: list[SkippedFile] = []
    first_line: dict[str, int] = {}
    try:
        with csv_path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                raise DatasetError(
                    f"{csv_path} is empty; it needs a header row with the columns path,label"
                )
            columns = {name.strip().lower(): i for i, name in enumerate(header)}
            missing = [c for c in ("path", "label") if c not in columns]
            if missing:
                raise DatasetError(
                    f"{csv_path} has no {' or '.join(missing)} column (header: "
                    f"{', '.join(header)}); the CSV needs the columns path,label[,group]"
                )
            has_group = "group" in columns
            has_split = "split" in columns
            if split is not None and not has_split:
                raise DatasetError(
                    f"split={split!r} was given but {csv_path} has no split column; leave split "
                    "out or add a split column (train/validation/test)"
                )
            for row in reader:
                line = reader.line_num
                if not any(cell.strip() for cell in row):
                    continue

                def cell(name: str, row: list[str] = row) -> str:
                    i = columns.get(name)
                    return row[i].strip() if i is not None and i < len(row) else ""

                raw_path, raw_label = cell("path"), cell("label")
                if not raw_path:
                    raise DatasetError(f"{csv_path}, line {line}: the path is empty")
                label = _LABEL_WORDS.get(raw_label.lower())
                if label is None:
                    raise DatasetError(
                        f"{csv_path}, line {line}: label {raw_label!r} is not one of "
                        "real, fake, 0, 1"
                    )
                row_split = None
                if has_split:
                    raw_split = cell("split")
                    row_split = _SPLIT_ALIASES.get(raw_split.lower())
                    if row_split is None:
                        raise DatasetError(
                            f"{csv_path}, line {line}: split {raw_split!r} is not one of "
                            f"{', '.join(SPLIT_ORDER)}"
                        )
                    if split is not None and row_split != split:
                        continue
                group = cell("group")
                if has_group and not group:
                    raise DatasetError(
                        f"{csv_path}, line {line}: the group is empty; give every row a group "
                        "or remove the group column"
                    )
                path = Path(raw_path).expanduser()
                path = Path(os.path.normpath(path if path.is_absolute() else root / path))
                key = str(path)
                if key in first_line:
                    raise DatasetError(
                        f"{csv_path}, line {line}: {raw_path} is listed twice (first on line "
                        f"{first_line[key]}); list each file once"
                    )
                first_line[key] = line
                reason = file_problem(path)
                if reason is not None:
                    skipped.append(SkippedFile(path, reason))
                    continue
                paths.append(path)
                labels.append(label)
                groups.append(group)
                if row_split is not None:
                    splits.append(row_split)
    except UnicodeDecodeError as exc:
        raise DatasetError(f"{csv_path} is not UTF-8 text ({exc}); save it as UTF-8 CSV") from exc
    except csv.Error as exc:
        raise DatasetError(f"{csv_path} is not a valid CSV file: {exc}") from exc
    if skipped:
        log_skipped(skipped, f"files listed in {csv_path}")
    if not paths:
        extra = ""
        if skipped:
            extra = f" ({len(skipped)} listed files are missing, e.g. {skipped[0].path})"
        raise DatasetError(f"{csv_path} lists no existing image files{extra}")
    return Dataset(
        root=root,
        paths=paths,
        labels=np.array(labels, dtype=np.int64),
        groups=np.array(groups) if has_group else None,
        splits=splits if has_split else None,
        skipped=skipped,
    )
