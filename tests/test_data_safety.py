"""Nothing lost, nothing silently wrong: what the CLI, the builder and loading refuse or keep (training: test_training_safety.py)."""

import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from mdm_tiny import tiny_bert, tiny_evaluator, tiny_pipeline, tiny_t2m_gpt
from pipelines.cli import main

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    root = tmp_path_factory.mktemp("saved")
    tiny_pipeline(root / "vocab").save_pretrained(root / "mdm")
    tiny_t2m_gpt(root / "vocab_gpt").save_pretrained(root / "t2m_gpt")
    return root


def _generate(saved, out, *extra, model="mdm"):
    return main(["generate", "A person smiles", "--model", str(saved / model), "--seconds", "0.5", "--out", str(out),
                 "--no-mp4", "--size", "32", "--preview", "2d", *extra])


# ---------------------------------------------------------------------------------------------- generate
def test_generate_never_replaces_earlier_files(saved, tmp_path, capsys):
    out = tmp_path / "out"
    assert _generate(saved, out) == 0 and _generate(saved, out, "--seed", "1") == 0
    csvs = sorted(p.name for p in out.glob("*.csv"))
    assert csvs == ["000_a_person_smiles.csv", "001_a_person_smiles.csv"]  # the second run took the next number
    first = (out / csvs[0]).read_bytes()
    assert _generate(saved, out, "--seed", "2", "--overwrite") == 0  # only with the flag: from 000 again
    assert (out / csvs[0]).read_bytes() != first and len(list(out.glob("*.csv"))) == 2


@pytest.mark.parametrize("args, message", [
    (["--seed", str(2**70)], r"--seed must be between 0 and 2\*\*63 - 1"),
    (["--size", "0"], "--size must be between 32 and 2048 pixels, got 0"),
    (["--size", "100000"], "--size must be between 32 and 2048 pixels, got 100000"),
    (["--seconds", "-1"], "--seconds must be positive"),
    (["--steps", "5"], "--steps: T2M-GPT .* has no num_inference_steps"),
    (["--sampler", "ddim"], "--sampler: T2M-GPT .* has no sampler"),
    (["--guidance", "3"], "--guidance: T2M-GPT .* has no guidance_scale"),
    (["--guidance-rescale", "0.5"], "--guidance-rescale: T2M-GPT .* has no guidance_rescale"),
    (["--lid-guidance", "2.5"], "--lid-guidance: T2M-GPT .* has no lid_guidance_scale"),
    (["--lid-guidance", "25"], "--lid-guidance: must be between 0 and 20"),
])
def test_generate_refuses_bad_values_before_generating(saved, tmp_path, capsys, args, message):
    import re

    code = main(["generate", "x", "--model", str(saved / "t2m_gpt"), "--out", str(tmp_path / "o"), *args])
    err = capsys.readouterr().err
    assert code == 2 and re.search(message, err), err
    assert "Traceback" not in err and not list((tmp_path / "o").glob("*.csv"))


def test_generate_out_problems_are_messages(saved, tmp_path, capsys):
    a_file = tmp_path / "file.txt"
    a_file.write_text("mine")
    assert _generate(saved, a_file) == 2
    assert "--out " + str(a_file) + ": a file, not a folder" in capsys.readouterr().err
    assert _generate(saved, "/proc/express4d-cannot-write") == 2  # not writable, even for root
    assert "cannot write there" in capsys.readouterr().err
    assert a_file.read_text() == "mine"


def test_prompts_file_comments_bom_and_binary(saved, tmp_path, capsys):
    prompts = tmp_path / "prompts.txt"
    prompts.write_bytes("\ufeffA person smiles\n# a note, not a prompt\n\nA person frowns\n".encode("utf-8"))
    out = tmp_path / "o"
    assert main(["generate", "--prompts-file", str(prompts), "--model", str(saved / "mdm"), "--seconds", "0.5",
                 "--out", str(out), "--no-mp4", "--size", "32", "--preview", "2d"]) == 0
    assert sorted(p.name for p in out.glob("*.csv")) == ["000_a_person_smiles.csv", "001_a_person_frowns.csv"]
    binary = tmp_path / "model.bin"
    binary.write_bytes(bytes(range(256)) * 10)
    assert main(["generate", "--prompts-file", str(binary), "--model", str(saved / "mdm")]) == 2
    assert f"--prompts-file {binary}: not UTF-8 text" in capsys.readouterr().err


def test_model_and_evaluator_names_are_checked(capsys, tmp_path):
    assert main(["generate", "x", "--model", "nosuch", "--out", str(tmp_path / "o")]) == 2
    assert "--model nosuch: no such folder, bundled model or Hub id; pass mdm|t2m_gpt|FOLDER|HUB_ID" in capsys.readouterr().err
    assert main(["evaluate", "--evaluator", "nosuch"]) == 2
    assert "--evaluator nosuch: no such folder, bundled model or Hub id; pass evaluator|FOLDER|HUB_ID" in capsys.readouterr().err


def test_render_a_folder_is_a_message(tmp_path, capsys):
    assert main(["render", str(tmp_path)]) == 2
    assert f"{tmp_path} is a folder; pass the CSV files in it" in capsys.readouterr().err


def _take_csv(path, seed=0, frames=30):
    from express4d_dataset.livelink import write_livelink_csv

    motion = np.random.default_rng(seed).uniform(0, 1, size=(frames, 61)).astype(np.float32)
    motion[:, 52:] = 0.0
    path.parent.mkdir(parents=True, exist_ok=True)
    write_livelink_csv(path, motion, fps=60)
    return path


def test_render_and_export_never_replace_earlier_files(tmp_path, capsys):
    a, b = _take_csv(tmp_path / "a" / "take.csv", 0), _take_csv(tmp_path / "b" / "take.csv", 1)
    coll = tmp_path / "coll"
    render = ["--no-mp4", "--preview", "2d", "--size", "32"]
    assert main(["render", str(a), str(b), "--out", str(coll), *render]) == 0
    printed = capsys.readouterr().out
    assert sorted(p.name for p in coll.iterdir()) == ["take.gif", "take_2.gif", "take_2_curves.png", "take_curves.png"]
    assert str(coll / "take.gif") in printed and str(coll / "take_2.gif") in printed  # both reported, both kept
    assert (coll / "take.gif").read_bytes() != (coll / "take_2.gif").read_bytes()
    assert main(["render", str(a), *render]) == 0 and main(["render", str(a), *render]) == 0  # beside the CSV, twice
    assert sorted(p.name for p in a.parent.glob("*.gif")) == ["take.gif", "take_2.gif"]
    before = (a.parent / "take.gif").stat().st_mtime_ns
    assert main(["render", str(a), *render, "--overwrite"]) == 0  # only with the flag
    assert sorted(p.name for p in a.parent.glob("*.gif")) == ["take.gif", "take_2.gif"]
    assert (a.parent / "take.gif").stat().st_mtime_ns != before

    assert main(["export", str(a), str(b), "--out", str(coll)]) == 0
    assert sorted(p.name for p in coll.glob("*.glb")) == ["take.glb", "take_2.glb"]
    assert main(["export", str(a), "--out", str(coll)]) == 0
    assert sorted(p.name for p in coll.glob("*.glb")) == ["take.glb", "take_2.glb", "take_3.glb"]
    assert main(["export", str(a), "--out", str(coll), "--overwrite"]) == 0
    assert len(list(coll.glob("*.glb"))) == 3


@pytest.mark.parametrize("args, message", [
    (["--seconds", "20"], r"--seconds must be between 0.05 \(one frame at 20 fps\) and 9.8 \(196 frames\), got 20"),
    (["--seconds", "nan"], r"--seconds must be positive, got nan"),
    (["--steps", "0"], r"--steps must be between 1 and 1000, got 0"),
    (["--steps", "100000"], r"--steps must be between 1 and 1000, got 100000"),
    (["--guidance", "1e9"], r"--guidance: must be between 0 and 20 \(1 = no guidance"),
    (["--guidance", "nan"], r"--guidance: expected a finite number, got nan"),
    (["--guidance-rescale", "2"], r"--guidance-rescale: must be between 0 \(plain guidance\) and 1"),
    (["--camera", "sideways"], r"--camera: camera must be front, three-quarter, side or a yaw in degrees, got 'sideways'"),
    (["--num", "100000", "--seconds", "0.1"], r"--num 100000 x 1 prompt\(s\) = 100,000 motions; one run makes at most 1,000"),
    (["--out", "single.csv"], r"--out single.csv: names a .csv file, but --out is a folder .* e.g. --out single"),
])
def test_generate_checks_every_argument_before_the_model_loads(saved, tmp_path, capsys, monkeypatch, args, message):
    import re

    from pipelines import auto_pipeline

    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(auto_pipeline, "load_motion_pipeline", lambda *a, **k: pytest.fail("the model was loaded"))
    code = main(["generate", "x", "--model", str(saved / "mdm"), "--out", "o", "--preview", "3d", *args])
    err = capsys.readouterr().err
    assert code == 2 and re.search(message, err), err
    assert list(tmp_path.iterdir()) == []  # nothing made: no output folder, no single.csv folder, no orphan CSV


def test_generate_in_batches_numbers_after_express4d_files_only(saved, tmp_path, monkeypatch):
    from pipelines.commands import generate as generate_command

    out = tmp_path / "out"
    out.mkdir()
    (out / "20250101_notes.txt").write_text("mine")  # a person's file: not one of the numbered outputs
    batches = []
    from pipelines.mdm.pipeline_mdm import Express4DPipeline

    real_call = Express4DPipeline.__call__
    monkeypatch.setattr(Express4DPipeline, "__call__", lambda self, prompts, **k: batches.append(len(prompts)) or
                        real_call(self, prompts, **k))
    monkeypatch.setattr(generate_command, "BATCH_MOTIONS", 2)
    assert _generate(saved, out, "--num", "5") == 0
    assert batches == [2, 2, 1]  # generated and written two at a time: memory does not grow with --num
    assert sorted(p.name for p in out.glob("*.csv")) == [f"00{i}_a_person_smiles.csv" for i in range(5)]
    assert (out / "20250101_notes.txt").read_text() == "mine"


def test_model_config_faults_are_blamed_on_the_model(saved, tmp_path, capsys):
    import shutil

    zero_fps = tmp_path / "zero_fps"
    shutil.copytree(saved / "mdm", zero_fps)
    config = json.loads((zero_fps / "denoiser" / "config.json").read_text())
    config["fps"] = 0
    (zero_fps / "denoiser" / "config.json").write_text(json.dumps(config))
    assert main(["generate", "x", "--model", str(zero_fps), "--seconds", "0.5", "--out", str(tmp_path / "o"), "--no-mp4"]) == 2
    err = capsys.readouterr().err
    assert "the model's frame rate (fps in its config.json) is 0" in err and "--seconds" not in err and "seconds[" not in err

    loud = tmp_path / "loud"
    shutil.copytree(saved / "mdm", loud)
    index = json.loads((loud / "model_index.json").read_text())
    index["default_guidance_scale"] = 1e9
    (loud / "model_index.json").write_text(json.dumps(index))
    assert main(["generate", "x", "--model", str(loud), "--seconds", "0.5", "--out", str(tmp_path / "o"), "--no-mp4"]) == 2
    assert "default_guidance_scale (model_index.json): must be between 0 and 20" in capsys.readouterr().err
    assert not list((tmp_path / "o").glob("*.csv"))


def test_ctrl_c_during_render_is_one_line_and_leaves_no_temporary_file(tmp_path, capsys, monkeypatch):
    from PIL import Image

    take = _take_csv(tmp_path / "take.csv")
    out = tmp_path / "out"

    def interrupted(self, fp, *args, **kwargs):
        with open(fp, "wb") as f:
            f.write(b"\x89PNG half a file")
        raise KeyboardInterrupt

    monkeypatch.setattr(Image.Image, "save", interrupted)
    try:
        code = main(["render", str(take), "--out", str(out), "--no-mp4", "--preview", "2d", "--size", "32"])
    except KeyboardInterrupt:
        pytest.fail("Ctrl-C escaped the command as a traceback")
    assert code == 130
    err = capsys.readouterr().err
    assert err.strip() == "express4d render: interrupted; the files finished before stay, no partial file was left"
    assert sorted(p.name for p in out.iterdir()) == ["take.gif"]  # the finished GIF; no hidden half-written PNG


def test_export_errors_name_the_file_not_errno(tmp_path, capsys):
    take = _take_csv(tmp_path / "take.csv")
    blocker = tmp_path / "file.txt"
    blocker.write_text("mine")
    assert main(["export", str(take), "--out", str(blocker / "glb")]) == 2
    err = capsys.readouterr().err
    assert "[Errno" not in err and f"--out {blocker / 'glb'}: cannot write there" in err, err
    assert main(["export", str(tmp_path / "nosuch.csv")]) == 2
    err = capsys.readouterr().err
    assert "[Errno" not in err and f"{tmp_path / 'nosuch.csv'}: no such file" in err, err

    from pipelines.commands.express4d_cli import describe_error

    assert describe_error(PermissionError(13, "Permission denied", "/x/take.glb")) == "/x/take.glb: permission denied"


# ---------------------------------------------------------------------------------------------- data
def test_missing_dataset_folder_is_an_error_not_another_cache(tmp_path):
    from express4d_dataset.load import load_express4d

    with pytest.raises(FileNotFoundError, match=r"dataset folder .*nowhere not found; build it with `express4d data synth"):
        load_express4d(str(tmp_path / "nowhere"))


def test_interrupted_build_leaves_the_previous_dataset(tmp_path, monkeypatch):
    from express4d_dataset import hub
    from express4d_dataset.synthetic import write_synthetic_corpus

    write_synthetic_corpus(tmp_path / "raw", num_sequences=6, seed=0)
    out = tmp_path / "express4d"
    hub.export_dataset(tmp_path / "raw", out, configs=["fps20"])
    before = sorted(str(p.relative_to(out)) for p in out.rglob("*"))
    card = (out / "README.md").read_text()

    def killed(*args, **kwargs):
        (args[2] / "fps20").mkdir()  # half written...
        raise KeyboardInterrupt  # ... then the process is stopped

    monkeypatch.setattr(hub, "_write_dataset", killed)
    with pytest.raises(KeyboardInterrupt):
        hub.export_dataset(tmp_path / "raw", out, configs=["fps20"], overwrite=True)
    assert sorted(str(p.relative_to(out)) for p in out.rglob("*")) == before and (out / "README.md").read_text() == card
    assert not list(tmp_path.glob(".express4d.*"))  # no staging folder left behind
    monkeypatch.undo()
    hub.export_dataset(tmp_path / "raw", out, configs=["fps20"], overwrite=True)  # and the next build works


@pytest.mark.parametrize("command", ["synth", "build"])
def test_data_out_dot_is_refused_and_leaves_nothing(tmp_path, monkeypatch, capsys, command):
    from express4d_dataset.synthetic import write_synthetic_corpus

    raw = tmp_path / "raw"
    write_synthetic_corpus(raw, num_sequences=3, seed=0)
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    extra = ["--num-sequences", "2"] if command == "synth" else ["--raw", str(raw), "--config", "fps20"]
    for out in (".", "./", "..", str(here)):
        assert main(["data", command, "--out", out, *extra]) == 2
        err = capsys.readouterr().err
        assert "the current folder (or one above it) cannot be written as a whole" in err and "Traceback" not in err, err
    assert list(here.iterdir()) == [] and sorted(p.name for p in tmp_path.iterdir()) == ["here", "raw"]


@pytest.mark.parametrize("umask", [0o022, 0o002])
def test_data_folders_respect_the_umask(tmp_path, umask):
    import os

    from express4d_dataset.hub import export_dataset
    from express4d_dataset.synthetic import write_synthetic_corpus

    old = os.umask(umask)
    try:
        write_synthetic_corpus(tmp_path / "raw", num_sequences=3, seed=0)
        export_dataset(tmp_path / "raw", tmp_path / "express4d", configs=["fps20"])
    finally:
        os.umask(old)
    for folder in (tmp_path / "raw", tmp_path / "express4d"):
        assert folder.stat().st_mode & 0o777 == 0o777 & ~umask, oct(folder.stat().st_mode)


def test_data_synth_size_is_bounded_up_front(tmp_path, capsys, monkeypatch):
    import resource
    import shutil as shutil_module

    def limited():  # today's code on 10**9 takes would grow until the machine runs out: cap it at 3 GB
        resource.setrlimit(resource.RLIMIT_AS, (3 * 2**30, 3 * 2**30))

    proc = subprocess.run([sys.executable, "-m", "pipelines.commands", "data", "synth", "--out", str(tmp_path / "raw"),
                           "--num-sequences", "1000000000"], capture_output=True, text=True, timeout=120,
                          preexec_fn=limited, cwd=ROOT)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert "--num-sequences 1000000000: 1,200,000,000 takes with the validation ones, more than the 100,000" in proc.stderr
    assert not (tmp_path / "raw").exists() and list(tmp_path.iterdir()) == []

    usage = shutil_module.disk_usage(tmp_path)
    monkeypatch.setattr(shutil_module, "disk_usage", lambda p: usage._replace(free=10**8))  # 100 MB free
    assert main(["data", "synth", "--out", str(tmp_path / "raw"), "--num-sequences", "1000"]) == 2
    assert "1,200 takes need about 0.3 GB and" in capsys.readouterr().err and list(tmp_path.iterdir()) == []
    # the same bound from Python, not only from the CLI
    from express4d_dataset.synthetic import write_synthetic_corpus

    with pytest.raises(ValueError, match="more than the 100,000"):
        write_synthetic_corpus(tmp_path / "raw", num_sequences=10**9)
    assert list(tmp_path.iterdir()) == []


def test_push_to_hub_offline_is_a_message(tmp_path, capsys, monkeypatch):
    from express4d_dataset import hub

    def offline(*args, **kwargs):
        raise ConnectionError("offline mode is enabled")

    monkeypatch.setattr(hub, "push_dataset_to_hub", offline)
    from express4d_dataset.synthetic import write_synthetic_corpus

    write_synthetic_corpus(tmp_path / "raw", num_sequences=6, seed=0)
    assert main(["data", "build", "--raw", str(tmp_path / "raw"), "--out", str(tmp_path / "d"), "--config", "fps20",
                 "--push-to-hub", "me/express4d"]) == 2
    err = capsys.readouterr().err
    assert "--push-to-hub me/express4d: upload failed (ConnectionError" in err and "Traceback" not in err
    assert (tmp_path / "d" / "README.md").is_file()  # the dataset itself was built


# ---------------------------------------------------------------------------------------------- models
def test_evaluator_refuses_pickle_weights(tmp_path):
    from pipelines import Express4DEvaluator

    model = tiny_evaluator(tmp_path / "enc")
    folder = tmp_path / "evaluator"
    model.save_pretrained(folder)
    (folder / "model.safetensors").unlink()
    torch.save(model.state_dict(), folder / "pytorch_model.bin")
    with pytest.raises(ValueError, match="found only pickle weights .*pytorch_model.bin.*safetensors only"):
        Express4DEvaluator.from_pretrained(folder)


def _write_pickle_only_bert(folder):
    model, tokenizer = tiny_bert(folder)
    model.config.save_pretrained(folder)
    torch.save(model.state_dict(), folder / "pytorch_model.bin")  # pickle weights only
    tokenizer.save_pretrained(folder)
    assert (folder / "pytorch_model.bin").is_file() and not list(folder.glob("*.safetensors"))
    return folder


def test_text_encoder_loads_from_safetensors_only(saved, tmp_path, capsys, monkeypatch):
    import shutil

    import transformers

    from pipelines.models.text_encoding import load_text_encoder

    bert = _write_pickle_only_bert(tmp_path / "pickled_bert")
    unpickled = []
    original = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: unpickled.append(a) or original(*a, **k))
    with pytest.raises(ValueError, match=r"text encoder .*pickled_bert: found only pickle weights \(pytorch_model.bin\)"):
        load_text_encoder(str(bert))
    seen = []
    real = transformers.AutoModel.from_pretrained.__func__
    monkeypatch.setattr(transformers.AutoModel, "from_pretrained",
                        classmethod(lambda cls, *a, **k: seen.append(k.get("use_safetensors")) or real(cls, *a, **k)))
    good = tmp_path / "bert"
    model, tokenizer = tiny_bert(good)
    model.save_pretrained(good)
    tokenizer.save_pretrained(good)
    load_text_encoder(str(good))  # a safetensors folder loads, and asks for safetensors
    assert seen == [True] and unpickled == []

    # a model folder whose denoiser names that encoder (no text_encoder component): one line, no traceback
    folder = tmp_path / "mdm"
    shutil.copytree(saved / "mdm", folder)
    for sub in ("text_encoder", "tokenizer"):
        shutil.rmtree(folder / sub)
    index = json.loads((folder / "model_index.json").read_text())
    index.update(text_encoder=[None, None], tokenizer=[None, None])
    (folder / "model_index.json").write_text(json.dumps(index))
    config = json.loads((folder / "denoiser" / "config.json").read_text())
    config["text_encoder_name_or_path"] = str(bert)
    (folder / "denoiser" / "config.json").write_text(json.dumps(config))
    code = main(["generate", "A person smiles", "--model", str(folder), "--seconds", "0.5", "--out", str(tmp_path / "o"),
                 "--no-mp4", "--size", "32", "--preview", "2d"])
    err = capsys.readouterr().err
    assert code == 2 and "found only pickle weights (pytorch_model.bin)" in err, err
    assert len([line for line in err.splitlines() if "express4d generate: error:" in line]) == 1
    assert "Traceback" not in err and unpickled == []


def test_model_index_naming_a_module_of_the_folder_is_refused(saved, tmp_path, capsys):
    import shutil

    from pipelines import Express4DPipeline, load_motion_pipeline

    folder = tmp_path / "evil"
    shutil.copytree(saved / "mdm", folder)
    marker = tmp_path / "code_ran"
    (folder / "denoiser" / "evil_mod.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\n"
        "from pipelines.models.modeling_mdm import MDMDenoiser as Evil\n"
    )
    (folder / "evil_mod.py").write_text((folder / "denoiser" / "evil_mod.py").read_text())
    index = json.loads((folder / "model_index.json").read_text())
    index["denoiser"] = ["evil_mod", "Evil"]
    (folder / "model_index.json").write_text(json.dumps(index))
    message = r"component 'denoiser' names the module 'evil_mod' \(a file of the model folder: .*evil_mod.py\)"
    with pytest.raises(ValueError, match=message):
        Express4DPipeline.from_pretrained(folder)
    with pytest.raises(ValueError, match=message):
        load_motion_pipeline(str(folder))
    assert main(["generate", "x", "--model", str(folder), "--out", str(tmp_path / "o"), "--no-mp4"]) == 2
    assert "express4d loads components from diffusers, transformers, pipelines only" in capsys.readouterr().err
    assert not marker.exists()  # the folder's code never ran
    import sys as _sys

    assert "evil_mod" not in _sys.modules


@pytest.mark.parametrize("breakage, message", [
    ("rename", r"config.json: field\(s\) latent_dimm are not MDMDenoiser settings"),
    ("type", r"config.json: field 'latent_dim' is '32' \(str\), expected a int"),
    ("empty", r"diffusion_pytorch_model.safetensors: empty file"),
    ("truncated", r"diffusion_pytorch_model.safetensors: not a readable safetensors file"),
    ("no_config", r"denoiser: no config.json, so this is not a MDMDenoiser folder"),
    ("not_json", r"config.json: not valid JSON"),
])
def test_broken_model_folders_fail_with_one_clear_message(saved, tmp_path, breakage, message):
    import shutil

    from pipelines import Express4DPipeline

    folder = tmp_path / "mdm"
    shutil.copytree(saved / "mdm", folder)
    config = folder / "denoiser" / "config.json"
    weights = folder / "denoiser" / "diffusion_pytorch_model.safetensors"
    data = json.loads(config.read_text())
    if breakage == "rename":
        data["latent_dimm"] = data.pop("latent_dim")
        config.write_text(json.dumps(data))
    elif breakage == "type":
        data["latent_dim"] = str(data["latent_dim"])
        config.write_text(json.dumps(data))
    elif breakage == "empty":
        weights.write_bytes(b"")
    elif breakage == "truncated":
        weights.write_bytes(weights.read_bytes()[:100])
    elif breakage == "no_config":
        config.unlink()
    else:
        config.write_text("{not json")
    with pytest.raises((ValueError, FileNotFoundError), match=message):
        Express4DPipeline.from_pretrained(folder)


def test_long_prompts_are_cut_with_a_warning(tmp_path, caplog):
    from pipelines.text_encoding import encode_text

    model, tokenizer = tiny_bert(tmp_path / "tok")
    long = " ".join(["a person is smiling softly"] * 80)  # far beyond 77 tokens
    with caplog.at_level(logging.WARNING):
        a = encode_text(model, tokenizer, [long, long + " sad"])
    assert "tokens long; the text encoder reads at most 64" in caplog.text  # the encoder's 64 positions
    torch.testing.assert_close(a.pooled[0], a.pooled[1])  # what was cut has no effect: hence the warning


def test_metric_warnings_come_from_one_named_logger(caplog):
    import evaluate

    metric = evaluate.load(str(ROOT / "metrics" / "express4d_metrics"))
    t = np.random.default_rng(0).normal(size=(8, 4))
    with caplog.at_level(logging.WARNING):
        metric.compute(text_embeddings=t, reference_embeddings=t, protocol="fixed-generations")
    assert {r.name for r in caplog.records if "fewer than one R-precision batch" in r.message} == {"express4d_metrics"}


def test_fid_is_never_negative():
    from express4d_metrics.formulas import fid

    for seed in range(5):
        x = np.random.default_rng(seed).normal(size=(300, 32)) * 10.0 ** seed
        assert 0.0 <= fid(x, x) < 1e-6 * 100.0 ** seed  # round-off never shows as a negative FID


def test_pipeline_output_saves_glb_without_replacing(saved, tmp_path):
    from pipelines.loading import load_motion_pipeline

    pipe = load_motion_pipeline(str(saved / "mdm"))
    pipe.set_progress_bar_config(disable=True)
    out = pipe(["A person smiles", "sad face"], num_frames=6, num_inference_steps=2,
               generator=torch.Generator().manual_seed(0), output_fps=60)
    first = out.save_glb(tmp_path)
    second = out.save_glb(tmp_path)
    assert [Path(p).name for p in first + second] == [
        "000_a_person_smiles.glb", "001_sad_face.glb", "002_a_person_smiles.glb", "003_sad_face.glb"]
    assert all(Path(p).read_bytes()[:4] == b"glTF" for p in first)
    assert not list(tmp_path.glob(".*.tmp"))  # written aside and renamed: no temporary file left
