"""Export the corpus as a Hub dataset folder (Parquet shards + dataset card + statistics) and push it.

Folder written by :func:`export_dataset` (``load_dataset(OUT)`` reads it; ``fps20`` is the default)::

    OUT/README.md                         dataset card: YAML configs + features, statistics, licence, citation
    OUT/fps20/train-00000-of-00001.parquet
    OUT/fps20/test-00000-of-00001.parquet
    OUT/fps20/stats.json                  per-channel mean/std of the training split (MotionStats)
    OUT/raw/...                           the same at 60 fps, full length
    OUT/validation.json                   the validation report of the raw corpus
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

import numpy as np

from .arkit import BENCHMARK_FPS, BENCHMARK_MAX_FRAMES, BENCHMARK_MIN_FRAMES, CHANNEL_NAMES, GROUPS
from .builder import (
    CITATION,
    CONFIGS,
    HOMEPAGE,
    CorpusValidationError,
    Express4D,
    RawCorpus,
    ValidationReport,
    iter_rows,
    scan_raw_corpus,
)
from .motion import DEFAULT_STD_EPS, MotionStats
from .output_folder import StagedFolder

logger = logging.getLogger(__name__)

CONFIG_NAMES = ("fps20", "raw")
STATS_FILENAME = "stats.json"


@dataclass
class ExportReport:
    out_dir: str
    validation: ValidationReport
    configs: dict[str, dict] = field(default_factory=dict)  # config -> {split: rows, "files": [...]}

    def __str__(self) -> str:
        lines = [str(self.validation), f"Wrote {self.out_dir}:"]
        for name, info in self.configs.items():
            counts = ", ".join(f"{s} {n} rows" for s, n in info["rows"].items())
            lines.append(f"  {name}: {counts}; {len(info['files'])} Parquet file(s); {name}/{STATS_FILENAME}")
        lines.append(f"Load it with: datasets.load_dataset({self.out_dir!r})")
        return "\n".join(lines)


def _owned_by_export(path: PurePosixPath) -> bool:
    """The entries :func:`export_dataset` writes (anything else in the folder is the user's and is kept)."""
    parts = path.parts
    if len(parts) == 1:
        return parts[0] in ("README.md", "validation.json", *CONFIG_NAMES)
    if len(parts) == 2 and parts[0] in CONFIG_NAMES:
        return parts[1] == STATS_FILENAME or (parts[1].endswith(".parquet") and "-of-" in parts[1])
    return False


def dataset_output_folder(out_dir, overwrite: bool) -> StagedFolder:
    """The dataset folder :func:`export_dataset` writes: atomic replacement, only of an express4d dataset."""
    return StagedFolder(out_dir, overwrite, "validation.json", _owned_by_export, "express4d dataset folder")


def export_dataset(
    raw_dir: str | os.PathLike,
    out_dir: str | os.PathLike,
    configs=CONFIG_NAMES,
    strict: bool = False,
    overwrite: bool = False,
    progress: bool = False,
    max_shard_size: str | int = "200MB",
    std_eps: float = DEFAULT_STD_EPS,
    untracked: str | None = None,
    max_untracked_gap: float | None = None,
) -> ExportReport:
    """Convert the raw corpus at ``raw_dir`` into a Hub dataset folder at ``out_dir``.

    The raw files are read and validated once; each config is then written by
    :class:`~express4d_dataset.builder.Express4D` straight to Parquet shards, in a hidden sibling
    folder that replaces ``out_dir`` only once complete (:class:`~express4d_dataset.output_folder.StagedFolder`:
    an existing folder is replaced only with ``overwrite`` and only if it is an express4d dataset;
    files in it that the export does not write are kept).  ``untracked`` / ``max_untracked_gap``: the
    lost-tracking policy of every take read (:mod:`~express4d_dataset.livelink`; default interpolate up to 0.5 s).
    """
    configs = list(dict.fromkeys(configs))
    unknown = [c for c in configs if c not in CONFIG_NAMES]
    if unknown or not configs:
        raise ValueError(f"configs must be a non-empty subset of {CONFIG_NAMES}, got {configs}")
    folder = dataset_output_folder(out_dir, overwrite)
    folder.check()  # before reading anything: a refused --out fails at once
    corpus = scan_raw_corpus(raw_dir, progress=progress, untracked=untracked, max_untracked_gap=max_untracked_gap)
    if strict and corpus.report.has_findings:
        raise CorpusValidationError(f"strict mode: the raw corpus has validation findings\n{corpus.report}")
    if not corpus.splits["train"]:
        raise ValueError(f"{raw_dir}: no usable training takes\n{corpus.report}")
    with folder as out:
        return _write_dataset(corpus, raw_dir, out, folder.path, configs, max_shard_size, std_eps)


def _write_dataset(corpus: RawCorpus, raw_dir, out: Path, final: Path, configs, max_shard_size, std_eps) -> ExportReport:
    """Write every config into ``out`` (the staging folder that becomes ``final``)."""
    import datasets

    report = ExportReport(out_dir=str(final), validation=corpus.report)
    config_stats: dict[str, MotionStats] = {}
    with tempfile.TemporaryDirectory(prefix="express4d-build-") as tmp:
        for name in configs:
            builder = Express4D(config_name=name, data_dir=str(Path(raw_dir).resolve()), cache_dir=os.path.join(tmp, "cache"))
            builder.corpus = corpus
            stage = Path(tmp) / name
            builder.download_and_prepare(
                output_dir=str(stage), file_format="parquet", max_shard_size=max_shard_size,
                download_mode=datasets.DownloadMode.FORCE_REDOWNLOAD,
            )
            (out / name).mkdir()
            files = []
            for split in corpus.splits:
                shards = sorted(stage.glob(f"*-{split}*.parquet"))
                for k, src in enumerate(shards):
                    dst = out / name / f"{split}-{k:05d}-of-{len(shards):05d}.parquet"
                    shutil.move(str(src), dst)
                    files.append(dst.name)
            rows = {s: len(ids) for s, ids in corpus.splits.items()}
            stats = MotionStats.from_motions((r["motion"] for r in _rows(corpus, name, "train")), eps=std_eps)
            stats.save(out / name / STATS_FILENAME)
            config_stats[name] = stats
            report.configs[name] = {
                "rows": rows,
                "files": files,
                # Sizes go into the card's dataset_info. datasets hashes a local folder by its YAML only,
                # so these make its cache follow the content of a rebuilt folder (see render_dataset_card).
                "num_bytes": {s: int(builder.info.splits[s].num_bytes) for s in corpus.splits},
                "download_size": sum((out / name / f).stat().st_size for f in files),
            }
    with open(out / "validation.json", "w", encoding="utf-8") as f:
        json.dump(corpus.report.to_dict(), f, indent=1)
    (out / "README.md").write_text(render_dataset_card(corpus, report, config_stats, raw_dir), encoding="utf-8")
    return report


def _rows(corpus: RawCorpus, config: str, split: str):
    cfg = CONFIGS[config]
    return iter_rows(corpus, corpus.splits[split], cfg.target_fps, cfg.max_frames)


def _split_summary(corpus: RawCorpus, config: str, split: str) -> dict:
    seconds, captions, participants = [], 0, set()
    for row in _rows(corpus, config, split):
        seconds.append(row["num_frames"] / row["fps"])
        captions += len(row["captions"])
        if row["participant"]:
            participants.add(row["participant"])
    arr = np.asarray(seconds) if seconds else np.zeros(1)
    return {
        "takes": len(seconds),
        "captions": captions,
        "participants": len(participants),
        "minutes": float(arr.sum() / 60),
        "seconds_min": float(arr.min()),
        "seconds_median": float(np.median(arr)),
        "seconds_max": float(arr.max()),
    }


def _size_category(corpus: RawCorpus) -> str:
    n = sum(len(ids) for ids in corpus.splits.values())
    return "n<1K" if n < 1000 else "1K<n<10K" if n < 10_000 else "10K<n<100K"


def _is_synthetic(corpus: RawCorpus) -> bool:
    root = Path(corpus.raw_dir)
    return (root / "SYNTHETIC.md").exists()  # written by express4d_dataset.synthetic


def _realism_section(corpus: RawCorpus, synthetic: bool) -> list[str]:
    """Card lines of the "Realism" section of a stand-in build: how its takes move compared with real Live Link
    Face takes, when those are found (:func:`express4d_dataset.realism.realism_card_section`); none otherwise."""
    if not synthetic:
        return []
    from .realism import realism_card_section

    ids = [i for split_ids in corpus.splits.values() for i in split_ids]
    lines = realism_card_section((corpus.takes[i].frames, corpus.takes[i].fps) for i in ids)
    return ["", *(lines[:-1] if lines and not lines[-1] else lines)]


def render_dataset_card(corpus: RawCorpus, report: ExportReport, stats: dict[str, MotionStats], raw_dir) -> str:
    """README.md of the dataset folder: YAML header (configs, features, licence) + human-readable card."""
    synthetic = _is_synthetic(corpus)
    yaml = ["---", "license: other" if not synthetic else "license: apache-2.0"]
    if not synthetic:
        yaml += ["license_name: express4d-terms", f"license_link: {HOMEPAGE}"]
    yaml += [
        "pretty_name: Express4D" + (" (procedural stand-in)" if synthetic else ""),
        "task_categories:", "- text-to-3d", "tags:", "- facial-animation", "- arkit", "- blendshapes",
        "- live-link-face", "- text-to-motion", "- motion", "size_categories:", f"- {_size_category(corpus)}", "configs:",
    ]
    for k, name in enumerate(report.configs):
        yaml.append(f"- config_name: {name}")
        if k == 0 and name == "fps20" or len(report.configs) == 1:
            yaml.append("  default: true")
        yaml.append("  data_files:")
        for split in corpus.splits:
            yaml += [f"  - split: {split}", f"    path: {name}/{split}-*.parquet"]
    yaml += [
        "dataset_info:",
    ]
    for name, info in report.configs.items():
        yaml += [f"- config_name: {name}", "  features:"]
        yaml += [
            "  - name: id\n    dtype: string",
            "  - name: motion\n    dtype:\n      array2_d:\n        shape:\n        - null\n        - 61\n        dtype: float32",
            "  - name: num_frames\n    dtype: int32",
            "  - name: fps\n    dtype: float32",
            "  - name: captions\n    list: string",
            "  - name: participant\n    dtype: string",
            "  - name: source\n    dtype: string",
            "  - name: annotations\n    dtype: string",
            "  splits:",
        ]
        for split in corpus.splits:
            yaml += [f"  - name: {split}", f"    num_bytes: {info['num_bytes'][split]}", f"    num_examples: {info['rows'][split]}"]
        yaml += [f"  download_size: {info['download_size']}", f"  dataset_size: {sum(info['num_bytes'].values())}"]
    yaml += [
        "---",
    ]
    title = "# Express4D" + (" — procedural stand-in corpus" if synthetic else "")
    body = [title, ""]
    if synthetic:
        body += [
            "> **This is not the real Express4D corpus.** It is the procedural stand-in written by",
            "> `express4d data synth` in the same raw layout and schema, so that training, generation and the",
            "> benchmark run end to end without the real captures. Numbers measured on it say nothing about",
            "> real faces. Build the real corpus with `express4d data build --raw PATH_TO_EXPRESS4D --out express4d`.",
            "",
        ]
    body += [
        "Text-to-facial-motion data: each row is one facial performance captured with Epic's Live Link Face "
        "app (iPhone TrueDepth camera) as 61 ARKit channels per frame, paired with free-text captions "
        "(\"A person is rolling their eyes and then relaxing their face\").",
        "",
        "```python",
        "import datasets",
        f"ds = datasets.load_dataset({Path(report.out_dir).name!r})           # fps20: the benchmark config",
        f"raw = datasets.load_dataset({Path(report.out_dir).name!r}, \"raw\")   # 60 fps, full length",
        "ds[\"train\"].with_format(\"torch\")[0][\"motion\"].shape           # torch.Size([T, 61])",
        "```",
        "",
        "## Configs",
        "",
        "| config | fps | frames | what |",
        "|---|---|---|---|",
        f"| `fps20` (default) | {BENCHMARK_FPS} | {BENCHMARK_MIN_FRAMES}..{BENCHMARK_MAX_FRAMES} | the benchmark protocol of the paper's code: every third 60 fps frame (no filtering), first {BENCHMARK_MAX_FRAMES} frames |",
        "| `raw` | capture rate | full length | the takes as captured |",
        "",
        "Takes shorter than 20 frames at 20 fps are excluded from both configs, so both hold the same ids.",
        "",
        "## Fields",
        "",
        "| field | type | meaning |",
        "|---|---|---|",
        "| `id` | string | take id (file stem in the raw corpus) |",
        "| `motion` | Array2D (T, 61) float32 | channels in Live Link Face order (below) |",
        "| `num_frames` | int32 | T |",
        "| `fps` | float32 | frame rate of `motion` |",
        "| `captions` | list of string | free-text descriptions; training draws one at random |",
        "| `participant` | string | performer id when known, else null |",
        "| `source` | string | raw file name |",
        "| `annotations` | string (JSON) | what `metadata.jsonl` says of the take beyond its participant, or null; for "
        "the stand-in corpus the plan: `steps` (actions in order, pairs at once), `events` (start/end s), "
        "`held_out`, `swapped_captions` (each caption with its steps reversed): the prompt-following ground truth |",
        "",
        "Channels 0-51 are ARKit blendshape weights (nominally 0..1; real captures overshoot slightly), "
        "52-54 head yaw/pitch/roll and 55-60 left/right eye yaw/pitch/roll (radians).",
        "",
        "## Statistics",
        "",
        "| config | split | takes | captions | participants | minutes | seconds min / median / max |",
        "|---|---|---:|---:|---:|---:|---|",
    ]
    for name in report.configs:
        for split in corpus.splits:
            s = _split_summary(corpus, name, split)
            body.append(
                f"| {name} | {split} | {s['takes']} | {s['captions']} | {s['participants'] or '—'} | {s['minutes']:.1f} | "
                f"{s['seconds_min']:.1f} / {s['seconds_median']:.1f} / {s['seconds_max']:.1f} |"
            )
    v = corpus.report
    body += [
        "",
        f"Validation of the raw corpus (`validation.json`): listed "
        f"{' / '.join(f'{n} {split}' for split, n in v.listed.items())} ids; excluded {len(v.excluded)} "
        f"(no data {len(v.missing_data)}, no captions {len(v.missing_captions)}, unreadable {len(v.unreadable)}, "
        f"lost tracking too long {len(v.untracked_gaps)}, too short {len(v.too_short)}, "
        f"exact duplicates {sum(len(g) - 1 for g in v.duplicates)}, their captions merged into the kept take); "
        f"{len(v.unlisted)} data files listed in no split; {len(v.in_both_splits)} ids in more than one split (kept in the first of train, validation, test).",
        "",
        v.untracked_summary_line(),
        "",
        "## Normalisation statistics",
        "",
        "`<config>/stats.json` holds the per-channel mean and population standard deviation (ddof=0) of the "
        f"**training split** of that config, with the std floored at {next(iter(stats.values())).eps:g} so "
        "constant channels normalise to 0 instead of NaN. (The paper's code computes them over all takes, "
        "train and test, at 60 fps, without a floor; we keep the test split out of the statistics.) "
        "Load them with `express4d_dataset.MotionStats.load(path)`.",
        "",
    ]
    names = list(stats)
    body.append("| # | channel | group | " + " | ".join(f"{n} mean | {n} std" for n in names) + " |")
    body.append("|---:|---|---|" + "---:|---:|" * len(names))
    group_of = {i: g for g, idx in GROUPS.items() for i in idx}
    for i, ch in enumerate(CHANNEL_NAMES):
        cells = " | ".join(f"{stats[n].mean[i]:.4f} | {stats[n].std[i]:.4f}" for n in names)
        body.append(f"| {i} | {ch} | {group_of.get(i, '')} | {cells} |")
    body += _realism_section(corpus, synthetic)
    body += [
        "",
        "## Personal data",
        "",
        "Facial motion is personal data: it can carry identity cues and expresses a real person's behaviour. "
        "The Express4D captures were recorded from consenting participants and are distributed by the authors "
        "on request; respect their terms, do not try to identify participants, and do not redistribute the "
        "real captures outside those terms." + (" (This stand-in corpus is procedural: no person was recorded.)" if synthetic else ""),
        "",
        "## Licence",
        "",
        (
            "The procedural stand-in corpus is generated by the express4d package (Apache-2.0)."
            if synthetic
            else f"Express4D is distributed by its authors under their own terms; see {HOMEPAGE}."
        ),
        "",
        "## Citation",
        "",
        "```bibtex",
        CITATION,
        "```",
        "",
    ]
    return "\n".join(yaml) + "\n" + "\n".join(body)


def push_dataset_to_hub(folder: str | os.PathLike, repo_id: str, private: bool = False, token: str | None = None) -> str:
    """Upload an exported folder as a dataset repo (creates it if needed).  Needs network and a token."""
    from huggingface_hub import HfApi

    folder = Path(folder)
    if not (folder / "README.md").exists():
        raise FileNotFoundError(f"{folder} has no README.md: export it first with `express4d data build`")
    api = HfApi(token=token)
    api.create_repo(repo_id, repo_type="dataset", private=private, exist_ok=True)
    api.upload_folder(folder_path=str(folder), repo_id=repo_id, repo_type="dataset", commit_message="Upload Express4D dataset")
    return f"https://huggingface.co/datasets/{repo_id}"
