import json
import shutil

import datasets
import numpy as np
import pytest

from express4d_dataset.arkit import CHANNEL_NAMES, NUM_CHANNELS
from express4d_dataset.builder import CorpusValidationError, Express4D, scan_raw_corpus
from express4d_dataset.hub import export_dataset
from express4d_dataset.livelink import write_livelink_csv
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
    assert r.excluded["dup_test"] == "exact duplicate of take01"
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


def test_missing_split_file(raw_corpus):
    (raw_corpus / "test.txt").unlink()
    with pytest.raises(FileNotFoundError, match=r"test\.txt not found"):
        scan_raw_corpus(raw_corpus)


def test_cli_build(raw_corpus, tmp_path, capsys):
    from pipelines.cli import main

    assert main(["data", "build", "--raw", str(raw_corpus), "--out", str(tmp_path / "o"), "--config", "fps20"]) == 0
    out = capsys.readouterr().out
    assert "fps20: train 10 rows, test 3 rows" in out and "load_dataset" in out
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
