import json
import shutil
from pathlib import Path

import datasets
import numpy as np
import pytest

from express4d_dataset.arkit import CHANNEL_NAMES, NUM_CHANNELS
from express4d_dataset.builder import CorpusValidationError, Express4D, iter_rows, scan_raw_corpus
from express4d_dataset.hub import export_dataset
from express4d_dataset.livelink import format_timecode, untracked_policy, write_livelink_csv
from express4d_dataset.motion import MotionStats


def _take(n, seed):
    rng = np.random.default_rng(seed)
    t = np.linspace(0, 1, n)[:, None]
    m = 0.5 + 0.4 * np.sin(2 * np.pi * (t * rng.uniform(0.5, 2, NUM_CHANNELS) + rng.uniform(0, 1, NUM_CHANNELS)))
    m[:, 52:] -= 0.5
    m[:, CHANNEL_NAMES.index("TongueOut")] = 0.0  # a constant channel
    return m.astype(np.float32)


@pytest.fixture
def raw_corpus(tmp_path):
    """12 good takes (9 train, 3 test) plus one of every defect the builder must report."""
    root = tmp_path / "raw"
    (root / "data").mkdir(parents=True)
    (root / "texts").mkdir()
    train, test = [], []
    for k in range(12):
        i = f"take{k:02d}"
        write_livelink_csv(root / "data" / f"{i}.csv", _take(90 + 30 * k, k), fps=60)
        (root / "texts" / f"{i}.txt").write_text(f"A person is smiling {k}#a/DET person/NOUN\nThe person grins {k}\n\n")
        (train if k < 9 else test).append(i)
    # .npy take
    np.save(root / "data" / "npytake.npy", _take(120, 99))
    (root / "texts" / "npytake.txt").write_text("A person raises their eyebrows\n")
    train.append("npytake")
    # duplicates: test copy of a train take, and a train copy
    shutil.copy(root / "data" / "take01.csv", root / "data" / "dup_test.csv")
    (root / "texts" / "dup_test.txt").write_text("same motion, other id\n")
    shutil.copy(root / "data" / "take02.csv", root / "data" / "dup_train.csv")
    (root / "texts" / "dup_train.txt").write_text("same motion again\n")
    train.append("dup_train")
    test.append("dup_test")
    # listed without data
    train.append("ghost")
    # data without captions (empty caption file)
    write_livelink_csv(root / "data" / "mute.csv", _take(100, 50), fps=60)
    (root / "texts" / "mute.txt").write_text("\n")
    test.append("mute")
    # too short: 45 frames at 60 fps -> 15 at 20 fps
    write_livelink_csv(root / "data" / "short.csv", _take(45, 51), fps=60)
    (root / "texts" / "short.txt").write_text("A quick blink\n")
    train.append("short")
    # unreadable
    (root / "data" / "broken.csv").write_text("Timecode,BlendShapeCount,Foo\n00:00:00:00.000,61,1\n")
    (root / "texts" / "broken.txt").write_text("broken\n")
    train.append("broken")
    # data listed in no split
    write_livelink_csv(root / "data" / "orphan.csv", _take(100, 52), fps=60)
    # listed in both splits
    test.append("take00")
    (root / "train.txt").write_text("\n".join(train) + "\n")
    (root / "test.txt").write_text("\n".join(test) + "\n")
    (root / "metadata.jsonl").write_text(
        "\n".join(json.dumps({"id": f"take{k:02d}", "participant": f"P{k % 3}"}) for k in range(12)) + "\n"
    )
    return root


def test_validation_summary(raw_corpus):
    corpus = scan_raw_corpus(raw_corpus)
    r = corpus.report
    assert r.missing_data == ["ghost"]
    assert r.missing_captions == ["mute"]
    assert list(r.unreadable) == ["broken"] and "unknown column" in r.unreadable["broken"]
    assert r.too_short == {"short": 15}
    assert sorted(r.duplicates) == [["take01", "dup_test"], ["take02", "dup_train"]]
    assert r.in_both_splits == ["take00"]
    assert r.unlisted == ["orphan"]
    assert set(r.excluded) == {"ghost", "mute", "broken", "short", "dup_test", "dup_train"}
    assert r.excluded["dup_test"] == "exact duplicate of take01 (one motion kept, its captions merged into take01)"
    assert corpus.splits["train"] == [f"take{k:02d}" for k in range(9)] + ["npytake"]
    assert corpus.splits["test"] == ["take09", "take10", "take11"]
    assert r.kept == {"train": 10, "test": 3}
    text = str(r)
    for phrase in ("ids in a split file without a data file", "data without captions", "exact duplicate",
                   "takes shorter than 20 frames", "unreadable", "listed in no split"):
        assert phrase in text


def test_captions_drop_token_suffix(raw_corpus):
    corpus = scan_raw_corpus(raw_corpus)
    assert corpus.captions["take03"] == ["A person is smiling 3", "The person grins 3"]


def test_strict_mode_raises(raw_corpus, tmp_path):
    with pytest.raises(CorpusValidationError, match="strict mode: the raw corpus has validation findings"):
        export_dataset(raw_corpus, tmp_path / "out", strict=True)
    assert not (tmp_path / "out").exists()


def test_strict_mode_passes_on_a_clean_corpus(raw_corpus, tmp_path):
    keep = [f"take{k:02d}" for k in range(12)]
    (raw_corpus / "train.txt").write_text("\n".join(keep[:9]))
    (raw_corpus / "test.txt").write_text("\n".join(keep[9:]))
    for f in (raw_corpus / "data").iterdir():
        if f.stem not in keep:
            f.unlink()
    report = export_dataset(raw_corpus, tmp_path / "out", configs=["fps20"], strict=True)
    assert not report.validation.has_findings


def test_builder_directly(raw_corpus, tmp_path):
    builder = Express4D(config_name="fps20", data_dir=str(raw_corpus), cache_dir=str(tmp_path / "cache"))
    builder.download_and_prepare()
    ds = builder.as_dataset()
    assert ds["train"].num_rows == 10 and ds["test"].num_rows == 3
    row = ds["train"][1]
    assert row["id"] == "take01" and row["num_frames"] == 40 and row["fps"] == 20


def test_export_and_load_dataset(raw_corpus, tmp_path, monkeypatch):
    out = tmp_path / "express4d"
    report = export_dataset(raw_corpus, out)
    assert report.configs["fps20"]["rows"] == {"train": 10, "test": 3}
    assert (out / "fps20" / "train-00000-of-00001.parquet").exists()
    monkeypatch.chdir(tmp_path)
    ds = datasets.load_dataset("express4d")  # the folder name, as users type it; fps20 is the default
    assert set(ds) == {"train", "test"}
    assert isinstance(ds["train"].features["motion"], datasets.Array2D)
    assert ds["train"].features["motion"].shape == (None, NUM_CHANNELS)
    rows = {r["id"]: r for r in ds["train"]}
    # fps20 = every third 60 fps frame, at most 196
    src = _take(90 + 30 * 7, 7)
    np.testing.assert_allclose(np.asarray(rows["take07"]["motion"]), src[::3][:196], atol=1e-6)
    assert rows["take07"]["num_frames"] == 100
    assert rows["take00"]["participant"] == "P0" and rows["npytake"]["participant"] is None
    assert rows["take00"]["source"] == "take00.csv" and rows["npytake"]["source"] == "npytake.npy"
    long_take = ds["test"].filter(lambda r: r["id"] == "take11")[0]
    assert long_take["num_frames"] == 140  # (90 + 330) / 3
    torch_row = ds["train"].with_format("torch")[0]
    assert torch_row["motion"].shape == (torch_row["num_frames"], NUM_CHANNELS)
    assert str(torch_row["motion"].dtype) == "torch.float32"

    # the README's batching recipe works with every format
    from torch.utils.data import DataLoader

    from express4d_dataset.motion import MotionCollator

    collate = MotionCollator(MotionStats.load(out / "fps20" / "stats.json"), seed=0)
    for fmt in ("numpy", "torch", None):
        batch = next(iter(DataLoader(ds["train"].with_format(fmt), batch_size=4, collate_fn=collate)))
        assert batch["motion"].shape[0] == 4 and batch["motion"].shape[2] == NUM_CHANNELS
        assert all(isinstance(c, str) and c for c in batch["captions"])

    raw = datasets.load_dataset("express4d", "raw")
    raw_rows = {r["id"]: r for r in raw["train"]}
    np.testing.assert_allclose(np.asarray(raw_rows["take07"]["motion"]), src, atol=1e-6)
    assert raw_rows["take07"]["fps"] == 60

    # statistics of the training split, per config, with the eps floor on the constant channel
    stats = MotionStats.load(out / "fps20" / "stats.json")
    train_frames = np.concatenate([np.asarray(r["motion"]) for r in ds["train"]])
    np.testing.assert_allclose(stats.mean, train_frames.mean(0), atol=1e-5)
    np.testing.assert_allclose(stats.std, np.maximum(train_frames.std(0), stats.eps), atol=1e-5)
    assert stats.std[CHANNEL_NAMES.index("TongueOut")] == pytest.approx(stats.eps)

    card = (out / "README.md").read_text()
    assert "config_name: fps20" in card and "default: true" in card
    assert "| fps20 | train | 10 |" in card
    assert "| 51 | TongueOut | tongue |" in card
    assert "Personal data" in card and "arXiv:2508.12438" in card
    validation = json.loads((out / "validation.json").read_text())
    assert validation["missing_data"] == ["ghost"]


def test_export_refuses_to_overwrite(raw_corpus, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("user data")
    with pytest.raises(FileExistsError, match="is not an express4d dataset folder") as refused:
        export_dataset(raw_corpus, out)
    assert "--overwrite" not in str(refused.value)  # never suggested for a folder the export did not write
    with pytest.raises(FileExistsError, match="not an express4d dataset folder"):
        export_dataset(raw_corpus, out, overwrite=True)
    assert (out / "keep.txt").exists()
    # a folder with a README.md (say, a project) is not an export either: nothing is deleted
    (out / "README.md").write_text("my project")
    with pytest.raises(FileExistsError, match="not an express4d dataset folder"):
        export_dataset(raw_corpus, out, overwrite=True)
    assert (out / "README.md").read_text() == "my project"


def test_overwrite_replaces_only_what_the_export_wrote(raw_corpus, tmp_path):
    out = tmp_path / "out"
    export_dataset(raw_corpus, out, configs=["fps20", "raw"])
    (out / ".git").mkdir()
    (out / ".git" / "HEAD").write_text("ref: refs/heads/main")
    (out / "raw" / "notes.txt").write_text("a user's file inside a config folder")
    with pytest.raises(FileExistsError, match="already holds an express4d dataset folder; pass --overwrite"):
        export_dataset(raw_corpus, out, configs=["fps20"])
    export_dataset(raw_corpus, out, configs=["fps20"], overwrite=True)
    assert (out / ".git" / "HEAD").exists()  # not ours: kept
    assert sorted(p.name for p in (out / "raw").iterdir()) == ["notes.txt"]  # our shards gone, the user's file kept
    assert (out / "fps20" / "stats.json").exists() and (out / "validation.json").exists()


def test_optional_validation_split(raw_corpus, tmp_path, monkeypatch):
    """val.txt (not in the published corpus) adds a validation split; an id in several split files stays in the
    first of train, validation, test; an empty val.txt adds none."""
    (raw_corpus / "val.txt").write_text("take10\ntake00\n\n")  # take00 is in train.txt (and test.txt) already
    corpus = scan_raw_corpus(raw_corpus)
    assert list(corpus.splits) == ["train", "validation", "test"]
    assert corpus.splits["validation"] == ["take10"]
    assert corpus.splits["test"] == ["take09", "take11"]
    assert corpus.report.in_both_splits == ["take00", "take10", "take00"]  # val.txt, then test.txt, in file order
    assert corpus.report.kept == {"train": 10, "validation": 1, "test": 2}
    assert "ids listed in more than one split file (kept in the first of train, validation, test)" in str(corpus.report)

    out = tmp_path / "express4d"
    report = export_dataset(raw_corpus, out, configs=["fps20"])
    assert report.configs["fps20"]["rows"] == {"train": 10, "validation": 1, "test": 2}
    assert "validation 1 rows" in str(report)
    assert sorted(p.name for p in (out / "fps20").glob("*.parquet")) == [
        "test-00000-of-00001.parquet", "train-00000-of-00001.parquet", "validation-00000-of-00001.parquet",
    ]
    card = (out / "README.md").read_text()
    assert "  - split: validation\n    path: fps20/validation-*.parquet" in card and "| fps20 | validation | 1 |" in card
    monkeypatch.chdir(tmp_path)
    ds = datasets.load_dataset("express4d")
    assert list(ds) == ["train", "validation", "test"] and ds["validation"]["id"] == ["take10"]

    (raw_corpus / "val.txt").write_text("\n")
    assert list(scan_raw_corpus(raw_corpus).splits) == ["train", "test"]


def test_missing_split_file(raw_corpus):
    (raw_corpus / "test.txt").unlink()
    with pytest.raises(FileNotFoundError, match=r"test\.txt not found"):
        scan_raw_corpus(raw_corpus)


def test_cli_build(raw_corpus, tmp_path, capsys):
    from pipelines.cli import main

    assert main(["data", "build", "--raw", str(raw_corpus), "--out", str(tmp_path / "o"), "--config", "fps20"]) == 0
    out = capsys.readouterr().out
    assert "fps20: train 10 rows, test 3 rows" in out and "load_dataset" in out
    # the printed summary reports each duplicate merge
    assert "groups of exact duplicate motions (one motion kept under the first id, captions of all merged)" in out
    assert "kept take01, merged dup_test: 3 captions (1 added)" in out
    assert main(["data", "build", "--raw", str(raw_corpus), "--out", str(tmp_path / "o")]) == 2
    assert "pass --overwrite" in capsys.readouterr().err


def test_synth_build_load_end_to_end(tmp_path, monkeypatch):
    """The issue's acceptance path: data synth -> data build -> load_dataset, offline."""
    from pipelines.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["data", "synth", "--out", "raw", "--num-sequences", "15", "--seed", "0"]) == 0
    assert main(["data", "build", "--raw", "raw", "--out", "express4d"]) == 0
    ds = datasets.load_dataset("express4d")
    assert ds["train"].num_rows + ds["test"].num_rows == 15 and ds["test"].num_rows == 3
    row = ds["train"][0]
    assert row["fps"] == 20 and 20 <= row["num_frames"] <= 196 and row["participant"].startswith("P")
    assert len(row["captions"]) >= 2
    card = (tmp_path / "express4d" / "README.md").read_text()
    assert "This is not the real Express4D corpus" in card and "license: apache-2.0" in card
    assert "no person was recorded" in card


def test_rebuilt_folder_is_not_served_from_a_stale_cache(tmp_path, monkeypatch):
    """datasets hashes a local folder by its card's YAML only: the card's dataset_info must change
    with the content, or load_dataset returns the previous build's rows from its cache."""
    from express4d_dataset.synthetic import write_synthetic_corpus

    monkeypatch.chdir(tmp_path)
    cache = str(tmp_path / "hf-cache")
    write_synthetic_corpus("raw", num_sequences=8, seed=0)
    export_dataset("raw", "express4d", configs=["fps20"])
    first = datasets.load_dataset("express4d", cache_dir=cache)
    write_synthetic_corpus("raw", num_sequences=11, seed=1, overwrite=True)
    export_dataset("raw", "express4d", configs=["fps20"], overwrite=True)
    second = datasets.load_dataset("express4d", cache_dir=cache)
    assert first["train"].num_rows + first["test"].num_rows == 8
    assert second["train"].num_rows + second["test"].num_rows == 11


# --- exact duplicates: one motion, every caption ---------------------------------------------------


def test_duplicates_keep_one_motion_with_every_caption(raw_corpus, tmp_path):
    (raw_corpus / "texts" / "dup_test.txt").write_text("The person grins 1\nsame motion, other id\n")  # one caption shared
    corpus = scan_raw_corpus(raw_corpus)
    r = corpus.report
    assert sorted(r.duplicates) == [["take01", "dup_test"], ["take02", "dup_train"]]
    assert corpus.captions["take01"] == ["A person is smiling 1", "The person grins 1", "same motion, other id"]
    assert corpus.captions["take02"] == ["A person is smiling 2", "The person grins 2", "same motion again"]
    merge = next(m for m in r.merged_duplicates if m["kept"] == "take01")
    assert merge == {"kept": "take01", "merged": ["dup_test"], "sources": ["take01.csv", "dup_test.csv"], "captions": 3, "captions_added": 1}
    row = next(iter_rows(corpus, ["take01"], None, None))
    assert row["captions"] == corpus.captions["take01"]
    assert row["source"] == "take01.csv (exact duplicate: dup_test.csv)"
    assert "kept take01, merged dup_test: 3 captions (1 added)" in str(r)
    out = tmp_path / "out"
    export_dataset(raw_corpus, out, configs=["fps20"])
    validation = json.loads((out / "validation.json").read_text())
    assert {"kept": "take02", "merged": ["dup_train"], "sources": ["take02.csv", "dup_train.csv"], "captions": 3,
            "captions_added": 1} in validation["merged_duplicates"]
    assert "exact duplicates 2, their captions merged into the kept take" in (out / "README.md").read_text()


# --- lost tracking in the corpus ------------------------------------------------------------------


def _lost_tracking_take(path, n, lost, seed=0):
    """A 60 fps take whose rows ``lost`` (0-based) are Live Link Face lost-tracking rows ("TIMECODE,0")."""
    write_livelink_csv(path, _take(n, seed), fps=60)
    lines = path.read_text().split("\n")
    for k in lost:
        lines[k + 1] = lines[k + 1].split(",")[0] + ",0"
    path.write_text("\n".join(lines))


def _small_corpus(root, takes: dict):
    """A raw corpus of the given {id: writer(path)} takes, all in train, one caption each."""
    (root / "data").mkdir(parents=True)
    (root / "texts").mkdir()
    for i, write in takes.items():
        write(root / "data" / f"{i}.csv")
        (root / "texts" / f"{i}.txt").write_text(f"A person does {i}\n")
    (root / "train.txt").write_text("\n".join(takes) + "\n")
    (root / "test.txt").write_text("")
    return root


def test_lost_tracking_is_counted_per_take(tmp_path, capsys):
    raw = _small_corpus(tmp_path / "raw", {
        "clean": lambda p: write_livelink_csv(p, _take(120, 1), fps=60),
        "short_gap": lambda p: _lost_tracking_take(p, 120, range(50, 60), seed=2),  # 10 rows = 0.17 s
        "edges": lambda p: _lost_tracking_take(p, 120, [0, 1, 118, 119], seed=3),
        "long_gap": lambda p: _lost_tracking_take(p, 240, range(60, 100), seed=4),  # 40 rows = 0.67 s
    })
    corpus = scan_raw_corpus(raw)
    r = corpus.report
    assert r.untracked_policy == {"mode": "interpolate", "max_gap_seconds": 0.5}
    assert set(r.untracked) == {"short_gap", "edges"}
    assert r.untracked["short_gap"] == {
        "data_rows": 120, "untracked_frames": 10, "interpolated": 10, "held": 0, "dropped": 0, "tracked_dropped": 0,
        "rows_kept": 120,
        "spans": [{"first_line": 52, "last_line": 61, "first_row": 50, "last_row": 59, "seconds": 0.1667,
                   "handling": "interpolated", "frames": 10}],
    }
    assert r.untracked["edges"]["held"] == 4
    assert list(r.untracked_gaps) == ["long_gap"] and "line 62: lost tracking for 40 rows (0.67 s, lines 62-101)" in r.untracked_gaps["long_gap"]
    assert r.excluded["long_gap"].startswith("lost tracking too long: ")
    assert corpus.splits["train"] == ["clean", "short_gap", "edges"]
    assert r.untracked_totals() == {"takes": 2, "data_rows": 240, "untracked_frames": 14, "interpolated": 10, "held": 4,
                                    "dropped": 0, "tracked_dropped": 0, "rows_kept": 240, "takes_excluded": 1}
    assert "2 takes with lost-tracking rows: 14 of 240 rows untracked (10 interpolated, 4 held, 0 dropped" in str(r)

    # split keeps the longest tracked segment of long_gap (rows 100..239); error refuses every take with lost tracking
    split = scan_raw_corpus(raw, untracked="split")
    assert split.splits["train"] == ["clean", "short_gap", "edges", "long_gap"]
    assert split.takes["long_gap"].frames.shape == (140, NUM_CHANNELS)
    np.testing.assert_allclose(split.takes["long_gap"].frames, _take(240, 4)[100:], atol=1e-6)
    assert split.report.untracked["long_gap"]["dropped"] == 40 and split.report.untracked["long_gap"]["rows_kept"] == 140
    assert split.report.untracked["long_gap"]["tracked_dropped"] == 60  # rows 0..59: tracked, outside the kept segment
    with untracked_policy("error"):
        strict_rows = scan_raw_corpus(raw)
    assert sorted(strict_rows.report.unreadable) == ["edges", "long_gap", "short_gap"]
    assert "short_gap.csv, line 52: lost-tracking row" in strict_rows.report.unreadable["short_gap"]

    # the CLI: --untracked / --max-untracked-gap, validation.json and the card
    from pipelines.cli import main

    out = tmp_path / "out"
    assert main(["data", "build", "--raw", str(raw), "--out", str(out), "--config", "fps20", "--untracked", "split"]) == 0
    printed = capsys.readouterr().out
    assert ("3 takes with lost-tracking rows: 54 of 480 rows untracked (10 interpolated, 4 held, 40 dropped; policy split "
            "(gaps up to 0.5 s)); with them 60 tracked rows outside the longest tracked segment, 100 rows dropped in all: "
            "380 of 480 rows kept") in printed
    validation = json.loads((out / "validation.json").read_text())
    assert validation["untracked_policy"] == {"mode": "split", "max_gap_seconds": 0.5}
    assert validation["untracked"]["long_gap"]["spans"][0]["handling"] == "dropped"
    assert validation["untracked_totals"]["untracked_frames"] == 54
    card = (out / "README.md").read_text()
    assert "Lost tracking (Live Link Face rows with BlendShapeCount 0 and no values; policy `split (gaps up to 0.5 s)`): " \
           "54 untracked rows in 3 of the takes read (10 interpolated, 4 held at the ends, 40 dropped with `split`); " \
           "with them 60 tracked rows outside the longest tracked segment, 100 rows dropped in all: 380 of 480 rows kept; " \
           "0 takes excluded for a longer gap." in card
    assert main(["data", "build", "--raw", str(raw), "--out", str(out), "--overwrite", "--max-untracked-gap", "1"]) == 0
    assert json.loads((out / "validation.json").read_text())["untracked"]["long_gap"]["interpolated"] == 40
    assert main(["data", "build", "--raw", str(raw), "--out", str(tmp_path / "o2"), "--max-untracked-gap", "-1"]) == 2
    assert "max_untracked_gap must be a finite number of seconds >= 0" in capsys.readouterr().err


REAL_TAKES = Path(__file__).resolve().parents[2] / "shared" / "fixtures" / "livelink"


def test_real_takes_with_lost_tracking_in_the_corpus(tmp_path):
    names = {"s88": "S88-001.csv", "apfel": "apfel.csv", "facial": "facial.csv"}
    if not all((REAL_TAKES / n).exists() for n in names.values()):
        pytest.skip(f"real capture fixtures missing in {REAL_TAKES}")
    raw = _small_corpus(tmp_path / "raw", {i: (lambda p, n=n: p.symlink_to(REAL_TAKES / n)) for i, n in names.items()})
    r = scan_raw_corpus(raw).report
    assert set(r.untracked) == {"apfel"} and r.untracked["apfel"]["untracked_frames"] == 35
    assert r.untracked["apfel"]["data_rows"] == 1926 and r.untracked["apfel"]["interpolated"] == 35
    assert list(r.untracked_gaps) == ["s88"] and "s88.csv, line 384: lost tracking for 129 rows" in r.untracked_gaps["s88"]
    split = scan_raw_corpus(raw, untracked="split")
    s88 = split.report.untracked["s88"]
    assert (s88["data_rows"], s88["untracked_frames"], s88["dropped"], s88["rows_kept"]) == (1939, 277, 277, 1200)
    assert s88["tracked_dropped"] == 1939 - 1200 - 277  # every dropped row is reported, not only the untracked ones
    assert "462 tracked rows outside the longest tracked segment, 739 rows dropped in all" in str(split.report)
    assert [(s["first_line"], s["last_line"]) for s in s88["spans"]] == [(384, 512), (1713, 1835), (1841, 1865)]


# --- bad takes are reported, never abort the build -------------------------------------------------


def _bad_takes(data):
    """Takes that used to be read silently wrong or crash the build; returns {id: what the report must say}."""
    header = "Timecode,BlendShapeCount," + ",".join(CHANNEL_NAMES)
    row = ",61," + ",".join(["0.25"] * NUM_CHANNELS)
    hourly = [f"{h:02d}:00:00:00.000" for h in range(24)]  # valid fields, an hour apart: 0.0 fps before
    (data / "hourly.csv").write_text(header + "\n" + "\n".join(tc + row for tc in hourly) + "\n")
    tcs = [format_timecode(i, 60) for i in range(90)]
    tcs[40] = "25:61:61:99"
    (data / "badtc.csv").write_text(header + "\n" + "\n".join(tc + row for tc in tcs) + "\n")
    huge = [format_timecode(i, 60) + row for i in range(90)]
    huge[7] = huge[7].replace("0.25", "1e39", 1)
    (data / "huge.csv").write_text(header + "\n" + "\n".join(huge) + "\n")
    write_livelink_csv(data / "quote.csv", _take(4030, 9), fps=60)
    lines = (data / "quote.csv").read_text().split("\n")
    lines[1500] = lines[1500].replace(",", ',"', 3)
    (data / "quote.csv").write_text("\n".join(lines))
    (data / "binary.csv").write_bytes(bytes(range(1, 256)) * 300)
    return {
        "hourly": "hourly.csv, column 'Timecode': the timecodes imply 0 rows per second",
        "badtc": "badtc.csv, line 42, column 'Timecode': timecode '25:61:61:99' out of range: hours 25 must be below 24",
        "huge": "huge.csv, line 9, column 'EyeBlinkLeft': value '1e39' is beyond float32",
        "quote": "quote.csv, line 1501, column 'BlendShapeCount': non-numeric value '\"61'",
        "binary": None,
    }


def test_bad_takes_are_reported_and_skipped(tmp_path):
    raw = _small_corpus(tmp_path / "raw", {f"good{k}": (lambda p, k=k: write_livelink_csv(p, _take(120, k), fps=60)) for k in range(2)})
    expected = _bad_takes(raw / "data")
    ids = ["good0", "good1", "hourly", "badtc", "huge", "quote", "binary"]
    for i in ids[2:]:
        (raw / "texts" / f"{i}.txt").write_text("A person blinks\n")
    (raw / "train.txt").write_text("\n".join(ids) + "\n")
    out = tmp_path / "out"
    report = export_dataset(raw, out, configs=["fps20"])  # does not abort
    assert report.configs["fps20"]["rows"]["train"] == 2
    unreadable = report.validation.unreadable
    assert sorted(unreadable) == ["badtc", "binary", "hourly", "huge", "quote"]
    for i, message in expected.items():
        if message is not None:
            assert message in unreadable[i], unreadable[i]
    assert "binary.csv" in unreadable["binary"] and len(unreadable["binary"]) - len(str(raw)) < 250
    text = (out / "validation.json").read_text(encoding="utf-8")
    assert len(text) < 10_000  # the 76 kB binary file is not dumped into it
    assert all(len(m) - len(str(raw)) < 300 for m in json.loads(text)["unreadable"].values())
    with pytest.raises(CorpusValidationError, match="unreadable data files"):
        export_dataset(raw, tmp_path / "strict", configs=["fps20"], strict=True)
