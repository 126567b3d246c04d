"""``fakezoo crop SRC DST``: turn photos and videos into a face dataset in fakezoo's layout.

Output, all under ``DST``:

- ``[split/]real/*.png`` and ``[split/]fake/*.png``: one crop per kept face (lossless PNG, so
  training decodes exactly the pixels that [`fakezoo.faces.crop`][fakezoo.faces.policy.crop]
  produced);
- ``manifest.csv``: one row per crop, ``path,label,group[,split],source,frame,face,x0,y0,x1,
  y1,score``; load it with ``load_dataset("DST/manifest.csv")`` (or ``fakezoo cv
  DST/manifest.csv``) to keep each video's frames, and each photo's faces, in one fold;
- ``report.csv``: one row per source, ``source,label,status,faces,frames,frames_without_face,
  crops,detail`` with status ``ok``, ``several_faces``, ``no_face`` or ``undecodable``;
- ``landmarks.csv``: one row per crop whose face has landmarks, ``path,x1,y1,...,x5,y5``: the
  face's five MTCNN landmarks (eyes, nose tip, mouth corners) in the crop, as fractions of its
  side (see [`fakezoo.faces.landmarks`][fakezoo.faces.landmarks]); read it with
  [`read_landmarks`][fakezoo.faces.landmarks.read_landmarks];
- ``crop.json``: the crop policy and settings. A second run with the same settings resumes:
  sources already in ``report.csv`` are skipped, and the crops, manifest rows and landmarks of
  those are kept. Other settings are refused.
"""

from __future__ import annotations

import csv
import json
import logging
import os
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from PIL import Image

from .._progress import tqdm_disable
from ..data.cache import decode_workers
from ..data.dataset import IMAGE_EXTENSIONS, LABEL_NAMES, Dataset
from ..data.discovery import find_layout, load_dataset
from ..errors import FacesError, FileDecodeError
from .finder import FaceFinder, default_finder
from .landmarks import LANDMARK_COLUMNS, LANDMARKS_FILE, landmarks_row
from .policy import DEFAULT_POLICY, SETTINGS_FILE, Policy, named_policy
from .sources import DEFAULT_FRAMES, FaceCrop, faces_in_images, list_media
from .video import VIDEO_EXTENSIONS

__all__ = ["CropReport", "crop_dataset"]

logger = logging.getLogger("fakezoo")

MANIFEST_FILE = "manifest.csv"
REPORT_FILE = "report.csv"
_FORMAT = "fakezoo.faces"
_MANIFEST_COLUMNS = [
    "path",
    "label",
    "group",
    "split",
    "source",
    "frame",
    "face",
    "x0",
    "y0",
    "x1",
    "y1",
    "score",
]
_REPORT_COLUMNS = [
    "source",
    "label",
    "status",
    "faces",
    "frames",
    "frames_without_face",
    "crops",
    "detail",
]


@dataclass
class CropReport:
    """What [`crop_dataset`][fakezoo.faces.dataset.crop_dataset] did. Lists hold source paths
    relative to ``src``."""

    dst: Path
    sources: int = 0
    resumed: int = 0
    crops: int = 0
    several_faces: list[str] = field(default_factory=list)
    no_face: list[str] = field(default_factory=list)
    undecodable: list[str] = field(default_factory=list)

    @property
    def manifest(self) -> Path:
        return self.dst / MANIFEST_FILE

    @property
    def landmarks(self) -> Path:
        """The crops' landmarks file (absent when a run resumed a folder cropped before fakezoo
        wrote one)."""
        return self.dst / LANDMARKS_FILE

    def summary(self) -> str:
        return (
            f"{self.crops} face crops from {self.sources - self.resumed} sources "
            f"({self.resumed} already done) in {self.dst}: {len(self.no_face)} without a "
            f"face, {len(self.several_faces)} with several, {len(self.undecodable)} "
            f"undecodable (see {self.dst / REPORT_FILE})"
        )


@dataclass(frozen=True)
class _Source:
    path: Path
    rel: str
    label: int
    group: str | None
    split: str | None


def crop_dataset(
    src: str | os.PathLike[str] | Dataset,
    dst: str | os.PathLike[str],
    *,
    frames: int | None = None,
    all_faces: bool = False,
    min_size: float = 40,
    min_score: float = 0.9,
    policy: Policy | str = DEFAULT_POLICY,
    workers: int | None = None,
    device: Any = "cpu",
    progress: bool | None = None,
    finder: FaceFinder | None = None,
) -> CropReport:
    """Find and crop the faces of every photo and video under `src` into `dst`.

    Args:
        src: A folder with ``real/`` and ``fake/`` sub-folders (split folders allowed, as in
            [`fakezoo.load_dataset`][fakezoo.data.discovery.load_dataset]) holding photos and/or
            videos, a CSV ``path,label[,group][,split]`` (a CSV group replaces the default group,
            the source file), or a [`Dataset`][fakezoo.data.Dataset] of them, e.g. a benchmark's
            videos from [`VideoIndex.to_dataset`][fakezoo.datasets.index.VideoIndex.to_dataset].
        dst: Output folder (created; resumed if it holds a run with the same settings).
        frames: Evenly spaced frames taken from each video (default: the policy's, else 16);
            a number other than the policy's is written into the recorded policy.
        all_faces: Keep every face instead of the largest per photo or frame (for a policy
            without its own face rule).
        min_size: Smallest kept face, shorter box side in pixels.
        min_score: Smallest kept face score (MTCNN's confidence).
        policy: The crop policy or its name (``"fakezoo"``, ``"deepfakebench"``, ``"sbi"``),
            written to ``crop.json`` and later into each run's config.
        workers: Sources decoded and searched for faces at once (threads); default ``min(4, cpus)``.
        device: Device of the face finder.
        progress: Progress bar (default: only on a terminal; ``$TQDM_DISABLE=1`` hides it).
        finder: A [`FaceFinder`][fakezoo.faces.finder.FaceFinder] to use instead of the shared one.

    Returns:
        A [`CropReport`][fakezoo.faces.dataset.CropReport].

    Example:
        ```python
        # needs: the faces extra and a folder of photos/videos
        from fakezoo.faces import crop_dataset
        report = crop_dataset("clips/", "faces/", frames=8)
        print(report.summary())
        ```
    """
    from tqdm.auto import tqdm

    policy = named_policy(policy) if isinstance(policy, str) else policy
    if all_faces and policy.faces is not None:
        raise ValueError(
            f"all_faces: the policy keeps the {policy.faces.replace('_', ' ')} face(s) of "
            "each frame; leave all_faces out or choose a policy without a face rule"
        )
    if frames is not None and policy.frames is not None and frames != policy.frames:
        policy = replace(policy, frames=int(frames))
    n_frames = frames if frames is not None else (policy.frames or DEFAULT_FRAMES)
    out = Path(dst).expanduser().absolute()
    if isinstance(src, Dataset):
        sources, missing = _from_dataset(src), []
    else:
        root = Path(src).expanduser().absolute()
        if root.is_dir() and (
            out.resolve() == root.resolve() or root.resolve() in out.resolve().parents
        ):
            raise FacesError(
                f"the output folder {out} lies inside the source {root}: its crops would be "
                "read as sources next time. Choose an output folder outside it"
            )
        sources, missing = _discover(root)
    settings = {
        "format": _FORMAT,
        "version": 2,
        "policy": policy.to_dict(),
        "frames": n_frames,
        "all_faces": all_faces,
        "min_size": min_size,
        "min_score": min_score,
        "face_finder": "mtcnn (facenet-pytorch)",
    }
    done, with_landmarks = _prepare(out, settings)
    finder = finder or default_finder(device)
    report = CropReport(dst=out, sources=len(sources) + len(missing))
    todo = [s for s in sources if s.rel not in done]
    report.resumed = len(sources) - len(todo)
    has_split = any(s.split for s in sources)
    n_workers = max(1, decode_workers(workers, most=4))
    with (
        _Writers(out, has_split, with_landmarks) as writers,
        ThreadPoolExecutor(n_workers) as pool,
        tqdm(total=len(todo), unit="file", desc="crop", disable=tqdm_disable(progress)) as bar,
    ):
        for rel, reason in missing:
            if rel not in done:
                writers.report({"source": rel, "status": "undecodable", "detail": reason})
                report.undecodable.append(rel)
        for source, (rows, status) in _ordered(
            pool,
            todo,
            n_workers,
            lambda s: _process(s, out, finder, policy, n_frames, all_faces, min_size, min_score),
        ):
            if status["status"] == "undecodable":
                logger.warning("crop: skipped %s: %s", source.path, status["detail"])
            writers.write(rows, status)
            report.crops += len(rows)
            kind = status["status"]
            if kind != "ok":
                getattr(report, kind).append(source.rel)
            bar.update()
    return report


def _ordered(
    pool: ThreadPoolExecutor, items: list[_Source], window: int, fn: Any
) -> Iterator[tuple[_Source, Any]]:
    """`fn` over `items` on `pool`, at most 2 x `window` in flight, results in order."""
    pending: deque[tuple[_Source, Future]] = deque()
    it = iter(items)
    for item in it:
        pending.append((item, pool.submit(fn, item)))
        if len(pending) >= 2 * window:
            break
    while pending:
        item, future = pending.popleft()
        nxt = next(it, None)
        if nxt is not None:
            pending.append((nxt, pool.submit(fn, nxt)))
        yield item, future.result()


def _from_dataset(ds: Dataset) -> list[_Source]:
    groups = ds.groups if ds.groups is not None else [None] * len(ds)
    splits = ds.splits if ds.splits is not None else [None] * len(ds)
    return [
        _Source(p, rel, int(label), None if g is None else str(g), split)
        for p, rel, label, g, split in zip(
            ds.paths, ds.relpaths(), ds.labels, groups, splits, strict=True
        )
    ]


def _discover(root: Path) -> tuple[list[_Source], list[tuple[str, str]]]:
    if not root.exists():
        raise FacesError(f"crop source does not exist: {root}")
    if root.is_file():
        ds = load_dataset(root)
        rels = ds.relpaths()
        sources = [
            _Source(
                p,
                rel,
                int(lab),
                None if ds.groups is None else str(g),
                None if ds.splits is None else ds.splits[i],
            )
            for i, (p, rel, lab, g) in enumerate(
                zip(
                    ds.paths,
                    rels,
                    ds.labels,
                    ds.groups if ds.groups is not None else [None] * len(ds),
                    strict=True,
                )
            )
        ]
        return sources, [(str(s.path), s.reason) for s in ds.skipped]
    sources = [
        _Source(path, path.relative_to(root).as_posix(), label, None, split)
        for split, label, folder in find_layout(root)
        for path in list_media(folder)
    ]
    if not sources:
        raise FacesError(
            f"found no photos or videos under the class folders of {root} "
            f"(looked for {', '.join(IMAGE_EXTENSIONS + VIDEO_EXTENSIONS)})"
        )
    return sources, []


def _prepare(out: Path, settings: dict[str, Any]) -> tuple[set[str], bool]:
    """Create `out` or check that it holds a run with the same settings; the finished sources,
    and whether to write landmarks (not into crops of a fakezoo that wrote none)."""
    settings_path = out / SETTINGS_FILE
    if out.is_dir() and not settings_path.exists():
        foreign = sorted(p.name for p in out.iterdir())
        if foreign:
            raise FacesError(
                f"{out} holds {foreign[0]!r}, which fakezoo did not write, and no {SETTINGS_FILE}: "
                "fakezoo crops only into a new or empty folder, or one it cropped into. Choose "
                "another output folder"
            )
    out.mkdir(parents=True, exist_ok=True)
    if settings_path.exists():
        old = json.loads(settings_path.read_text(encoding="utf-8"))
        differ = sorted(k for k in settings.keys() | old.keys() if settings.get(k) != old.get(k))
        if differ:
            raise FacesError(
                f"{out} was cropped with other settings ({', '.join(differ)} differ: "
                f"{ {k: old.get(k) for k in differ} }); use the same settings to resume, or "
                "another output folder"
            )
    else:
        tmp = settings_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(settings, indent=2) + "\n", encoding="utf-8")
        tmp.replace(settings_path)
    done = set()
    report_path = out / REPORT_FILE
    if report_path.exists():
        with report_path.open(newline="", encoding="utf-8") as handle:
            done = {row["source"] for row in csv.DictReader(handle)}
    manifest = out / MANIFEST_FILE
    kept: set[str] = set()
    if manifest.exists():  # drop crops of sources that did not finish (resume after a crash)
        with manifest.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            rows = [r for r in reader if r["source"] in done]
        _write_csv(manifest, list(reader.fieldnames or _MANIFEST_COLUMNS), rows)
        kept = {r["path"] for r in rows}
    landmarks = out / LANDMARKS_FILE
    if landmarks.exists():  # and their landmarks
        with landmarks.open(newline="", encoding="utf-8") as handle:
            reader = csv.DictReader(handle)
            rows = [r for r in reader if r.get("path") in kept]
        _write_csv(landmarks, list(LANDMARK_COLUMNS), rows)
    elif kept:
        logger.warning(
            "crop: %s holds crops but no %s (cropped by an older fakezoo): the resumed run "
            "writes none; crop into a new folder for the crops' landmarks",
            out,
            LANDMARKS_FILE,
        )
        return done, False
    return done, True


def _write_csv(path: Path, columns: list[str], rows: list[dict[str, Any]]) -> None:
    tmp = path.with_suffix(".tmp")
    with tmp.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    tmp.replace(path)


class _Writers:
    """Appends manifest rows and their landmarks, then the source's report row (so a report row
    means done)."""

    def __init__(self, out: Path, has_split: bool, with_landmarks: bool = True) -> None:
        self.out = out
        self.columns = [c for c in _MANIFEST_COLUMNS if has_split or c != "split"]
        self.with_landmarks = with_landmarks

    def __enter__(self) -> _Writers:
        self._files, self._writers = [], []
        files = [(MANIFEST_FILE, self.columns), (REPORT_FILE, _REPORT_COLUMNS)]
        if self.with_landmarks:
            files.append((LANDMARKS_FILE, list(LANDMARK_COLUMNS)))
        for name, columns in files:
            path = self.out / name
            new = not path.exists()
            handle = path.open("a", newline="", encoding="utf-8")
            writer = csv.DictWriter(handle, fieldnames=columns, extrasaction="ignore")
            if new:
                writer.writeheader()
            self._files.append(handle)
            self._writers.append(writer)
        return self

    def report(self, row: dict[str, Any]) -> None:
        self._writers[1].writerow(row)
        self._files[1].flush()

    def write(self, rows: list[dict[str, Any]], status: dict[str, Any]) -> None:
        self._writers[0].writerows(rows)
        self._files[0].flush()
        if self.with_landmarks:
            marks = [landmarks_row(r["path"], r.get("landmarks")) for r in rows]
            self._writers[2].writerows(
                dict(zip(LANDMARK_COLUMNS, m, strict=True)) for m in marks if m is not None
            )
            self._files[2].flush()
        self.report(status)

    def __exit__(self, *exc: object) -> None:
        for handle in self._files:
            handle.close()


def _process(
    source: _Source,
    out: Path,
    finder: FaceFinder,
    policy: Policy,
    n_frames: int,
    all_faces: bool,
    min_size: float,
    min_score: float,
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    label = LABEL_NAMES[source.label]
    folder = out / source.split / label if source.split else out / label
    stem = source.rel.replace("/", "__")
    status = {
        "source": source.rel,
        "label": label,
        "faces": 0,
        "frames": 0,
        "frames_without_face": 0,
        "crops": 0,
        "detail": "",
    }
    rows: list[dict[str, Any]] = []
    several = False
    try:
        for batch in faces_in_images(
            source.path,
            finder,
            policy,
            frames=n_frames,
            all_faces=all_faces,
            min_size=min_size,
            min_score=min_score,
        ):
            for index, image, crops in batch:
                status["frames"] += 1
                status["frames_without_face"] += not crops
                if crops:
                    status["faces"] += crops[0].n_faces
                    several |= crops[0].n_faces > 1
                for c in crops:
                    name = (
                        f"{stem}__f{index:06d}_{c.index}.png"
                        if index is not None
                        else f"{stem}__{c.index}.png"
                    )
                    folder.mkdir(parents=True, exist_ok=True)
                    Image.fromarray(c.pixels).save(folder / name)
                    row = _manifest_row(out, folder / name, label, source, c)
                    row["landmarks"] = policy.landmarks_in_crop(
                        c.face, (image.shape[1], image.shape[0])
                    )
                    rows.append(row)
    except FileDecodeError as exc:
        status.update(status="undecodable", detail=getattr(exc, "reason", str(exc)))
        return [], status
    status["crops"] = len(rows)
    if not rows:
        status.update(
            status="no_face",
            detail=f"no face with score >= {min_score} and size "
            f">= {min_size} px in {status['frames']} image(s)",
        )
    elif several:
        status.update(
            status="several_faces", detail="all kept" if all_faces else "kept the largest per image"
        )
    else:
        status["status"] = "ok"
    return rows, status


def _manifest_row(
    out: Path, path: Path, label: str, source: _Source, c: FaceCrop
) -> dict[str, Any]:
    x0, y0, x1, y1 = (round(v, 1) for v in c.face.box)
    return {
        "path": path.relative_to(out).as_posix(),
        "label": label,
        "group": source.group or source.rel,
        "split": source.split or "",
        "source": source.rel,
        "frame": "" if c.frame is None else c.frame,
        "face": c.index,
        "x0": x0,
        "y0": y0,
        "x1": x1,
        "y1": y1,
        "score": round(c.face.score, 4),
    }
