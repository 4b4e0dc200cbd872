"""``Express4D(datasets.GeneratorBasedBuilder)``: the raw Express4D layout -> Arrow/Parquet rows.

Raw layout (as the authors publish it)::

    RAW/data/<id>.csv        Live Link Face take (or <id>.npy, [T, 61] float32 at 60 fps)
    RAW/texts/<id>.txt       captions, one per line; an optional "#tokens" suffix is ignored
    RAW/train.txt, test.txt  ids, one per line
    RAW/val.txt              optional: ids of a validation split (not in the published corpus; the stand-in writes one)
    RAW/metadata.jsonl       optional: {"id": ..., "participant": ...} per line

The corpus is read once (:func:`scan_raw_corpus`) and validated as it goes: ids listed in a split
without data, data without captions, data listed in no split, ids in more than one split, unreadable
files, lost tracking longer than the untracked policy fills, takes too short for the benchmark and
exact duplicate motions under different ids (one motion is kept, with the captions of every
duplicate merged into it).  Each finding is reported in a :class:`ValidationReport`; with
``strict=True`` any of them is an error.  Nothing is dropped silently: every excluded id is in the
report, with the reason, and every take's lost-tracking frames are counted there
(:mod:`~express4d_dataset.livelink` explains the ``untracked`` policy; default: gaps up to 0.5 s
interpolated).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import datasets
import numpy as np

from .arkit import BENCHMARK_FPS, BENCHMARK_MAX_FRAMES, BENCHMARK_MIN_FRAMES, CAPTURE_FPS, CHANNEL_NAMES, NUM_CHANNELS
from .livelink import LiveLinkFormatError, UntrackedGapError, UntrackedPolicy, read_livelink_csv, resolve_untracked_policy
from .motion import to_fps

logger = logging.getLogger(__name__)

SPLITS = ("train", "validation", "test")
"""Split names, in order. ``validation`` is optional: a corpus has it when it has a non-empty ``val.txt``."""
SPLIT_FILES = {"train": "train.txt", "validation": "val.txt", "test": "test.txt"}
OPTIONAL_SPLITS = ("validation",)

CITATION = """\
@article{aloni2025express4d,
  title   = {Express4D: Expressive, Friendly, and Extensible 4D Facial Motion Generation Benchmark},
  author  = {Aloni, Yaron and Shalev-Arkushin, Rotem and Shafir, Yonatan and Tevet, Guy and Fried, Ohad and Bermano, Amit Haim},
  journal = {arXiv preprint arXiv:2508.12438},
  year    = {2025}
}"""
HOMEPAGE = "https://jaron1990.github.io/Express4D/"


class CorpusValidationError(ValueError):
    """Raised in strict mode when the raw corpus has validation findings."""


@dataclass
class RawTake:
    id: str
    frames: np.ndarray  # [T, 61] float32 at ``fps``
    fps: float
    source: str
    notes: list[str] = field(default_factory=list)
    data_rows: int = 0  # data lines of the file (tracked + untracked); 0 for .npy
    untracked_frames: int = 0  # lost-tracking rows (BlendShapeCount 0)
    untracked_spans: tuple = ()  # livelink.UntrackedSpan per run

    def untracked_summary(self) -> dict:
        """What validation.json records for a take with lost-tracking rows."""
        by = {h: sum(s.frames for s in self.untracked_spans if s.handling == h) for h in ("interpolated", "held", "dropped")}
        # `split` keeps one segment: the tracked rows outside it are dropped too, beside the untracked ones
        tracked_dropped = max(0, self.data_rows - len(self.frames) - by["dropped"]) if self.data_rows else 0
        return {
            "data_rows": self.data_rows, "untracked_frames": self.untracked_frames, **by, "tracked_dropped": tracked_dropped,
            "rows_kept": len(self.frames), "spans": [s.to_dict() for s in self.untracked_spans],
        }


@dataclass
class ValidationReport:
    """What the scan of a raw corpus found.  Every id excluded from the dataset appears here."""

    raw_dir: str = ""
    listed: dict[str, int] = field(default_factory=dict)  # split -> ids listed
    kept: dict[str, int] = field(default_factory=dict)  # split -> rows written
    missing_data: list[str] = field(default_factory=list)
    missing_captions: list[str] = field(default_factory=list)
    unreadable: dict[str, str] = field(default_factory=dict)
    too_short: dict[str, int] = field(default_factory=dict)  # id -> frames at 20 fps
    untracked_gaps: dict[str, str] = field(default_factory=dict)  # id -> lost tracking longer than the policy fills
    duplicates: list[list[str]] = field(default_factory=list)  # [kept id, merged ids...]
    merged_duplicates: list[dict] = field(default_factory=list)  # per group: kept, merged ids and sources, captions
    in_both_splits: list[str] = field(default_factory=list)
    unlisted: list[str] = field(default_factory=list)
    notes: dict[str, list[str]] = field(default_factory=dict)  # tolerated oddities (not errors)
    untracked: dict[str, dict] = field(default_factory=dict)  # id -> lost-tracking rows and how they were handled
    untracked_policy: dict = field(default_factory=dict)  # {"mode": ..., "max_gap_seconds": ...}

    FINDINGS = (
        "missing_data", "missing_captions", "unreadable", "untracked_gaps", "too_short", "duplicates", "in_both_splits", "unlisted",
    )

    @property
    def has_findings(self) -> bool:
        return any(getattr(self, name) for name in self.FINDINGS)

    @property
    def excluded(self) -> dict[str, str]:
        """id -> reason, for every listed id that is not written."""
        out = {i: "no data file" for i in self.missing_data}
        out.update({i: "no captions" for i in self.missing_captions})
        out.update({i: f"unreadable: {msg}" for i, msg in self.unreadable.items()})
        out.update({i: f"lost tracking too long: {msg}" for i, msg in self.untracked_gaps.items()})
        out.update({i: f"too short ({n} frames at {BENCHMARK_FPS} fps < {BENCHMARK_MIN_FRAMES})" for i, n in self.too_short.items()})
        for group in self.duplicates:
            out.update({i: f"exact duplicate of {group[0]} (one motion kept, its captions merged into {group[0]})" for i in group[1:]})
        return out

    def untracked_totals(self) -> dict:
        """Lost-tracking totals over the takes read: takes, data rows, untracked rows and their handling."""
        keys = ("data_rows", "untracked_frames", "interpolated", "held", "dropped", "tracked_dropped", "rows_kept")
        totals = {k: sum(u.get(k, 0) for u in self.untracked.values()) for k in keys}
        return {"takes": len(self.untracked), **totals, "takes_excluded": len(self.untracked_gaps)}

    def to_dict(self) -> dict:
        return {
            "raw_dir": self.raw_dir,
            "listed": self.listed,
            "kept": self.kept,
            **{name: getattr(self, name) for name in self.FINDINGS},
            "merged_duplicates": self.merged_duplicates,
            "untracked_policy": self.untracked_policy,
            "untracked_totals": self.untracked_totals(),
            "untracked": self.untracked,
            "notes": self.notes,
        }

    def __str__(self) -> str:
        lines = [f"Validation of {self.raw_dir}"]
        lines.append("  listed: " + ", ".join(f"{s} {n}" for s, n in self.listed.items()))
        if self.kept:
            lines.append("  kept:   " + ", ".join(f"{s} {n}" for s, n in self.kept.items()))
        labels = {
            "missing_data": "ids in a split file without a data file",
            "missing_captions": "data without captions",
            "unreadable": "unreadable data files",
            "untracked_gaps": f"takes with lost tracking longer than the untracked policy fills ({self.policy_text()})",
            "too_short": f"takes shorter than {BENCHMARK_MIN_FRAMES} frames at {BENCHMARK_FPS} fps",
            "duplicates": "groups of exact duplicate motions (one motion kept under the first id, captions of all merged)",
            "in_both_splits": "ids listed in more than one split file (kept in the first of train, validation, test)",
            "unlisted": "data files listed in no split (not written)",
        }
        for name, label in labels.items():
            items = getattr(self, name)
            if not items:
                continue
            shown = list(items.items()) if isinstance(items, dict) else list(items)
            if name == "duplicates" and len(self.merged_duplicates) == len(items):
                shown = [
                    f"kept {m['kept']}, merged {', '.join(m['merged'])}: {m['captions']} captions ({m['captions_added']} added)"
                    for m in self.merged_duplicates
                ]
            lines.append(f"  {len(items):5d} {label}:")
            for item in shown[:5]:
                lines.append(f"          {item[0]}: {item[1]}" if isinstance(item, tuple) else f"          {item}")
            if len(shown) > 5:
                lines.append(f"          ... and {len(shown) - 5} more (see validation.json)")
        if self.untracked:
            t = self.untracked_totals()
            lines.append(
                f"  {t['takes']:5d} takes with lost-tracking rows: {t['untracked_frames']} of {t['data_rows']} rows untracked "
                f"({t['interpolated']} interpolated, {t['held']} held, {t['dropped']} dropped; policy {self.policy_text()})"
                + self._dropped_in_all(t)
            )
        if self.notes:
            lines.append(f"  {len(self.notes):5d} takes read with notes (e.g. {next(iter(self.notes.items()))[1][0]})")
        if not self.has_findings:
            lines.append("  no findings")
        return "\n".join(lines)

    def untracked_summary_line(self) -> str:
        """One sentence on lost tracking for the dataset card (totals; per take in validation.json)."""
        t = self.untracked_totals()
        return (
            f"Lost tracking (Live Link Face rows with BlendShapeCount 0 and no values; policy `{self.policy_text()}`): "
            f"{t['untracked_frames']} untracked rows in {t['takes']} of the takes read ({t['interpolated']} interpolated, "
            f"{t['held']} held at the ends, {t['dropped']} dropped with `split`){self._dropped_in_all(t)}; "
            f"{t['takes_excluded']} takes excluded for a longer gap. Per take in `validation.json`."
        )

    @staticmethod
    def _dropped_in_all(t: dict) -> str:
        """What ``split`` dropped besides the untracked rows (the tracked rows outside each take's kept segment)."""
        if not t["tracked_dropped"]:
            return ""
        return (f"; with them {t['tracked_dropped']} tracked rows outside the longest tracked segment, "
                f"{t['dropped'] + t['tracked_dropped']} rows dropped in all: {t['rows_kept']} of {t['data_rows']} rows kept")

    def policy_text(self) -> str:
        """The untracked policy the scan used, e.g. ``interpolate (gaps up to 0.5 s)``."""
        p = self.untracked_policy
        return str(UntrackedPolicy(p["mode"], p["max_gap_seconds"])) if p else str(resolve_untracked_policy())


@dataclass
class RawCorpus:
    """A scanned raw corpus: what :class:`Express4D` turns into rows."""

    raw_dir: str
    takes: dict[str, RawTake]
    captions: dict[str, list[str]]
    splits: dict[str, list[str]]  # ids to write, per split, in file order
    metadata: dict[str, dict]
    report: ValidationReport


def _read_ids(path: Path) -> list[str]:
    if not path.exists():
        raise FileNotFoundError(f"{path} not found: the raw Express4D layout needs train.txt and test.txt (one id per line)")
    ids = []
    for line in path.read_text(encoding="utf-8-sig").splitlines():
        line = line.strip()
        if line and line not in ids:
            ids.append(line)
    return ids


def read_captions(path: Path) -> list[str]:
    """Captions of one take: one per line, ``#...`` token suffix dropped, blank lines skipped."""
    caps = []
    for line in path.read_text(encoding="utf-8-sig").splitlines():
        text = line.split("#", 1)[0].strip()
        if text:
            caps.append(text)
    return caps


def read_take(path: Path, untracked: str | UntrackedPolicy | None = None, max_untracked_gap: float | None = None) -> RawTake:
    """Read ``data/<id>.csv`` (Live Link Face) or ``data/<id>.npy`` ([T, 61] float32, 60 fps).

    ``untracked`` / ``max_untracked_gap``: the lost-tracking policy of
    :func:`~express4d_dataset.livelink.read_livelink_csv` (default: gaps up to 0.5 s interpolated,
    a longer one is an :class:`~express4d_dataset.livelink.UntrackedGapError`).
    """
    if path.suffix == ".npy":
        arr = np.load(path, allow_pickle=False)  # never unpickle user files
        if arr.ndim != 2 or arr.shape[1] != NUM_CHANNELS:
            raise LiveLinkFormatError(f"{path}: expected an array of shape [T, {NUM_CHANNELS}], got {arr.shape}")
        if not np.isfinite(arr).all():
            r, c = np.argwhere(~np.isfinite(arr))[0]
            raise LiveLinkFormatError(f"{path}: frame {r}, channel {CHANNEL_NAMES[c]!r} is not finite")
        return RawTake(path.stem, arr.astype(np.float32), float(CAPTURE_FPS), path.name)
    take = read_livelink_csv(path, untracked=untracked, max_untracked_gap=max_untracked_gap)
    return RawTake(
        path.stem, take.frames, take.fps, path.name, list(take.notes), take.data_rows, take.untracked_frames, take.untracked_spans,
    )


def benchmark_frames(frames: np.ndarray, fps: float, target_fps: float = BENCHMARK_FPS) -> np.ndarray:
    """Frames at ``target_fps`` (the paper's 60 -> 20 fps rule, :func:`~express4d_dataset.motion.to_fps`)."""
    return to_fps(frames, fps, target_fps)


def scan_raw_corpus(
    raw_dir: str | os.PathLike,
    progress: bool = False,
    num_workers: int = 4,
    untracked: str | UntrackedPolicy | None = None,
    max_untracked_gap: float | None = None,
) -> RawCorpus:
    """Read and validate a raw corpus once.  Files are parsed in a thread pool (pyarrow releases the GIL).

    ``untracked`` / ``max_untracked_gap``: what to do with Live Link Face's lost-tracking rows
    (:mod:`~express4d_dataset.livelink`; default from :func:`~express4d_dataset.livelink.untracked_policy`,
    else ``interpolate`` up to 0.5 s).  A take whose gap is longer than ``interpolate`` fills is
    excluded and listed in ``report.untracked_gaps``; with ``split`` its longest tracked segment is
    kept; with ``error`` any lost-tracking row makes the take unreadable.  A take that cannot be read
    for any reason is reported and skipped, never aborting the scan.
    """
    from tqdm.auto import tqdm

    policy = resolve_untracked_policy(untracked, max_untracked_gap)  # here: pool threads do not see the caller's context

    root = Path(raw_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"raw corpus folder {root} not found (expected data/, texts/, train.txt, test.txt)")
    data_dir, text_dir = root / "data", root / "texts"
    if not data_dir.is_dir():
        raise FileNotFoundError(f"{data_dir} not found: the raw Express4D layout keeps takes in data/<id>.csv")
    report = ValidationReport(raw_dir=str(root), untracked_policy={"mode": policy.mode, "max_gap_seconds": policy.max_gap_seconds})

    listed = {
        split: _read_ids(root / SPLIT_FILES[split]) for split in SPLITS
        if split not in OPTIONAL_SPLITS or (root / SPLIT_FILES[split]).exists()
    }
    listed = {s: ids for s, ids in listed.items() if ids or s not in OPTIONAL_SPLITS}  # an empty val.txt: no split
    report.listed = {s: len(ids) for s, ids in listed.items()}
    seen: set[str] = set()
    for split, ids in listed.items():  # an id in several split files stays in the first (train, validation, test)
        report.in_both_splits += [i for i in ids if i in seen]
        listed[split] = [i for i in ids if i not in seen]
        seen.update(listed[split])

    files: dict[str, Path] = {}
    for path in sorted(data_dir.iterdir()):
        if path.suffix.lower() in (".csv", ".npy") and path.stem not in files:
            files[path.stem] = path
    all_listed = [i for ids in listed.values() for i in ids]
    report.missing_data = [i for i in all_listed if i not in files]
    listed_set = set(all_listed)
    report.unlisted = [i for i in files if i not in listed_set]

    metadata: dict[str, dict] = {}
    meta_path = root / "metadata.jsonl"
    if meta_path.exists():
        for n, line in enumerate(meta_path.read_text(encoding="utf-8").splitlines(), 1):
            if line.strip():
                try:
                    entry = json.loads(line)
                except json.JSONDecodeError as e:
                    raise ValueError(f"{meta_path}, line {n}: not valid JSON ({e})") from None
                metadata[str(entry.get("id"))] = entry

    captions: dict[str, list[str]] = {}
    for i in all_listed:
        if i not in files:
            continue
        path = text_dir / f"{i}.txt"
        caps = read_captions(path) if path.exists() else []
        if caps:
            captions[i] = caps
        else:
            report.missing_captions.append(i)

    to_read = [i for i in all_listed if i in files and i in captions]
    takes: dict[str, RawTake] = {}

    def _load(i):
        try:
            take = read_take(files[i], policy)
            return i, take, len(benchmark_frames(take.frames, take.fps)), None
        except UntrackedGapError as e:
            return i, None, 0, e
        except (LiveLinkFormatError, ValueError, OSError) as e:
            return i, None, 0, str(e)
        except Exception as e:  # a bad take is reported, it never aborts the build
            logger.warning("%s: unexpected error reading %s", root, files[i], exc_info=True)
            return i, None, 0, f"{files[i]}: unexpected error ({type(e).__name__}: {str(e)[:200]})"

    with ThreadPoolExecutor(max_workers=num_workers) as pool:
        results = pool.map(_load, to_read)
        for i, take, n20, error in tqdm(results, total=len(to_read), desc="Reading takes", disable=not progress, unit="take"):
            if isinstance(error, UntrackedGapError):
                report.untracked_gaps[i] = str(error)
                continue
            if error is not None:
                report.unreadable[i] = error
                continue
            if take.notes:
                report.notes[i] = take.notes
            if take.untracked_frames:
                report.untracked[i] = take.untracked_summary()
            if n20 < BENCHMARK_MIN_FRAMES:
                report.too_short[i] = n20
                continue
            takes[i] = take

    groups: dict[bytes, list[str]] = defaultdict(list)
    for i in all_listed:  # train first, so a train/test duplicate keeps the train copy
        if i in takes:
            frames = np.ascontiguousarray(takes[i].frames)
            groups[hashlib.blake2b(frames.tobytes() + str(frames.shape).encode(), digest_size=16).digest()].append(i)
    report.duplicates = [g for g in groups.values() if len(g) > 1]
    for group in report.duplicates:  # keep one motion, under the first id, with every duplicate's captions
        kept = group[0]
        merged = list(dict.fromkeys(c for i in group for c in captions[i]))
        report.merged_duplicates.append({
            "kept": kept, "merged": group[1:], "sources": [takes[i].source for i in group],
            "captions": len(merged), "captions_added": len(merged) - len(dict.fromkeys(captions[kept])),
        })
        others = [takes[i].source for i in group[1:]]
        takes[kept].source += f" (exact duplicate{'s' if len(others) > 1 else ''}: {', '.join(others)})"
        captions[kept] = merged
        for i in group[1:]:
            del takes[i]

    splits = {s: [i for i in ids if i in takes] for s, ids in listed.items()}
    report.kept = {s: len(ids) for s, ids in splits.items()}
    for i, reason in report.excluded.items():
        logger.info("%s: %s excluded (%s)", root, i, reason)
    return RawCorpus(str(root), takes, captions, splits, metadata, report)


class Express4DConfig(datasets.BuilderConfig):
    """``fps20``: the benchmark (every third 60 fps frame, first 196 frames).  ``raw``: 60 fps, full length."""

    def __init__(
        self, *, target_fps: float | None = None, max_frames: int | None = None, strict: bool = False,
        untracked: str | None = None, max_untracked_gap: float | None = None, **kwargs,
    ):
        super().__init__(**kwargs)
        self.target_fps = target_fps
        self.max_frames = max_frames
        self.strict = strict
        self.untracked = untracked  # lost-tracking policy (None: livelink's current default, interpolate up to 0.5 s)
        self.max_untracked_gap = max_untracked_gap


def express4d_features() -> datasets.Features:
    return datasets.Features(
        {
            "id": datasets.Value("string"),
            "motion": datasets.Array2D(shape=(None, NUM_CHANNELS), dtype="float32"),
            "num_frames": datasets.Value("int32"),
            "fps": datasets.Value("float32"),
            "captions": datasets.List(datasets.Value("string")),
            "participant": datasets.Value("string"),
            "source": datasets.Value("string"),
            "annotations": datasets.Value("string"),
        }
    )


class Express4D(datasets.GeneratorBasedBuilder):
    """The Express4D corpus from its raw layout (``data_dir`` = the raw folder).

    >>> builder = Express4D(config_name="fps20", data_dir="raw")  # doctest: +SKIP
    >>> builder.download_and_prepare(); ds = builder.as_dataset()  # doctest: +SKIP
    """

    VERSION = datasets.Version("1.0.0")
    BUILDER_CONFIG_CLASS = Express4DConfig
    BUILDER_CONFIGS = [
        Express4DConfig(
            name="fps20",
            target_fps=BENCHMARK_FPS,
            max_frames=BENCHMARK_MAX_FRAMES,
            description=f"Benchmark config: {BENCHMARK_FPS} fps (every third frame), at most {BENCHMARK_MAX_FRAMES} frames.",
        ),
        Express4DConfig(name="raw", description="Capture rate (60 fps), full length."),
    ]
    DEFAULT_CONFIG_NAME = "fps20"

    corpus: RawCorpus | None = None  # set to reuse one scan across configs

    def _info(self) -> datasets.DatasetInfo:
        return datasets.DatasetInfo(
            description="Text-to-facial-motion: 61 ARKit channels from Live Link Face, each take with free-text captions.",
            features=express4d_features(),
            citation=CITATION,
            homepage=HOMEPAGE,
        )

    def _split_generators(self, dl_manager):
        if not self.config.data_dir:
            raise ValueError("Express4D needs data_dir: the raw corpus folder (data/, texts/, train.txt, test.txt)")
        if self.corpus is None or Path(self.corpus.raw_dir).resolve() != Path(self.config.data_dir).resolve():
            self.corpus = scan_raw_corpus(self.config.data_dir, untracked=self.config.untracked, max_untracked_gap=self.config.max_untracked_gap)
        report = self.corpus.report
        if report.has_findings:
            if self.config.strict:
                raise CorpusValidationError(f"strict mode: the raw corpus has validation findings\n{report}")
            logger.warning("%s", report)
        return [datasets.SplitGenerator(name=split, gen_kwargs={"ids": ids}) for split, ids in self.corpus.splits.items()]

    def _generate_examples(self, ids):
        for row in iter_rows(self.corpus, ids, self.config.target_fps, self.config.max_frames):
            yield row["id"], row


CONFIGS: dict[str, Express4DConfig] = {c.name: c for c in Express4D.BUILDER_CONFIGS}


def iter_rows(corpus: RawCorpus, ids, target_fps: float | None, max_frames: int | None):
    """Dataset rows of ``ids`` at ``target_fps`` (None: capture rate), cut to ``max_frames``."""
    for i in ids:
        take = corpus.takes[i]
        frames, fps = take.frames, take.fps
        if target_fps is not None:
            frames, fps = benchmark_frames(frames, fps, target_fps), target_fps
        if max_frames is not None:
            frames = frames[:max_frames]
        participant = corpus.metadata.get(i, {}).get("participant")
        annotations = {k: v for k, v in corpus.metadata.get(i, {}).items() if k not in ("id", "participant")}
        yield {
            "id": i,
            "motion": np.ascontiguousarray(frames, dtype=np.float32),
            "num_frames": len(frames),
            "fps": float(fps),
            "captions": corpus.captions[i],
            "participant": None if participant is None else str(participant),
            "source": take.source,
            "annotations": json.dumps(annotations, sort_keys=True) if annotations else None,
        }
