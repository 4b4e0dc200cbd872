"""The default models shipped in pipelines/default_models: layout, cards, and the CLI end to end with them."""

import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from express4d_dataset.arkit import CHANNEL_NAMES
from express4d_dataset.livelink import read_livelink_csv
from pipelines import DEFAULT_MODELS_DIR, default_model_path
from pipelines.loading import BUNDLED_MODELS
from pipelines.cli import main
from pipelines.commands.generate import PREVIEW_FPS
from pipelines.preview import preview_frame_indices

BUNDLE = BUNDLED_MODELS
PROMPT = "A person is smiling softly and then raising their eyebrows"


def test_bundle_layout_and_size():
    total = 0
    for name in BUNDLE:
        folder = DEFAULT_MODELS_DIR / name
        files = [f for f in folder.rglob("*") if f.is_file()]
        assert files, f"{folder} is empty"
        weights = [f for f in files if f.suffix in {".safetensors", ".bin", ".pt", ".pth", ".pkl", ".ckpt"}]
        assert weights and all(f.suffix == ".safetensors" for f in weights), weights
        assert not any("text_encoder" in f.parts or "tokenizer" in f.parts for f in files)  # encoder comes from its package
        assert not (folder / "checkpoints").exists()
        total += sum(f.stat().st_size for f in files)
    assert total < 60e6
    index = json.loads((DEFAULT_MODELS_DIR / "mdm" / "model_index.json").read_text())
    assert index["scheduler"][1] == "DPMSolverMultistepScheduler"  # fast sampling by default from Python too


def test_bundled_models_load_from_python():
    from pipelines import Express4DEvaluator, Express4DPipeline, T2MGPTPipeline

    assert type(Express4DPipeline.from_pretrained(default_model_path("mdm")).scheduler).__name__ == "DPMSolverMultistepScheduler"
    assert T2MGPTPipeline.from_pretrained(default_model_path("t2m_gpt")).vqvae.config.codebook_size > 0
    assert Express4DEvaluator.from_pretrained(default_model_path("evaluator")).config.model_type == "express4d_evaluator"
    with pytest.raises(ValueError, match="unknown bundled model 'vqvae'; choose one of mdm, t2m_gpt, evaluator"):
        default_model_path("vqvae")


MDM_INDEX = json.loads((DEFAULT_MODELS_DIR / "mdm" / "model_index.json").read_text(encoding="utf-8"))
MDM_LABEL = f"MDM (small, tokens, DPM-Solver++ {MDM_INDEX.get('default_num_inference_steps', 20)} steps" + (
    f", guidance {MDM_INDEX['default_guidance_scale']:g}" if MDM_INDEX.get("default_guidance_scale", 2.5) != 2.5 else "") + (
    f", lids {MDM_INDEX['default_lid_guidance_scale']:g}" if MDM_INDEX.get("default_lid_guidance_scale") not in (
        None, MDM_INDEX.get("default_guidance_scale", 2.5)) else "") + (
    ", prompt stages)" if MDM_INDEX.get("default_prompt_stages") == "auto" else ")")


def test_bundled_mdm_default_guidance_matches_its_card():
    """The scale chosen on the validation split is in model_index.json, the pipeline and the card's section."""
    from pipelines import Express4DPipeline

    pipe = Express4DPipeline.from_pretrained(default_model_path("mdm"))
    scale = pipe.default_guidance_scale
    assert scale == MDM_INDEX["default_guidance_scale"] and pipe.describe() == MDM_LABEL
    card = (DEFAULT_MODELS_DIR / "mdm" / "README.md").read_text(encoding="utf-8")
    section = card.split("## Default guidance scale", 1)[1].split("\n## ", 1)[0]
    assert f"samples with **{scale:g}**" in section and "chosen on the `validation` split" in section
    lids = pipe.default_lid_guidance_scale
    assert lids == MDM_INDEX.get("default_lid_guidance_scale")
    steps = MDM_INDEX.get("default_num_inference_steps")
    label = f"{scale:g}" + (f", lids {lids:g}" if lids not in (None, scale) else "") + (f", {steps} steps" if steps else "")
    chosen = [line for line in section.splitlines() if line.endswith("| chosen |")]
    assert len(chosen) == 1 and chosen[0].startswith(f"| {label} |"), chosen


@pytest.mark.parametrize("name", BUNDLE)
def test_bundle_model_cards(name):
    card = (DEFAULT_MODELS_DIR / name / "README.md").read_text(encoding="utf-8")
    assert card.startswith("---\n")
    assert "Trained on the procedural stand-in corpus, not on the real Express4D captures" in card
    assert "## Benchmark (`express4d evaluate`)" in card
    assert "express4d evaluate --model mdm --model t2m_gpt" in card
    table = [line for line in card.splitlines() if line.startswith("| ")]
    rows = {line.split("|")[1].strip() for line in table}
    mdm_row = MDM_LABEL  # the bundled MDM's row names its default guidance scale when it is not the paper's 2.5
    assert {"Real motion", mdm_row, "T2M-GPT (small, tokens)"} <= rows
    assert "Protocol `paper` (20 replications)" in card and "Protocol `fixed-generations`" in card
    assert "Prompt following" in card
    assert "## Training on the real Express4D corpus" in card and "express4d data build --raw Express4D" in card


@pytest.mark.parametrize("model", ["mdm", "t2m_gpt"])
def test_generate_with_bundled_model(tmp_path, capsys, model):
    out = tmp_path / "out"
    argv = ["generate", PROMPT, "--seconds", "2", "--out", str(out), "--no-mp4", "--size", "64"]
    if model != "mdm":  # mdm is the default
        argv += ["--model", model]
    assert main(argv) == 0
    printed = capsys.readouterr().out
    (csv,) = sorted(out.glob("*.csv"))
    assert str(csv) in printed
    take = read_livelink_csv(csv)
    assert take.fps == 60 and take.frames.shape[1] == len(CHANNEL_NAMES)
    assert take.num_frames == 2 * 60  # 2 s at the model's 20 fps, interpolated to 60 fps: still 2 s
    assert np.isfinite(take.frames).all()
    with Image.open(csv.with_suffix(".gif")) as gif:
        assert gif.n_frames == len(preview_frame_indices(take.num_frames, 60, PREVIEW_FPS))
    with Image.open(csv.with_name(csv.stem + "_curves.png")) as png:
        assert png.size[0] > 100 and png.size[1] > 100


def _peak(out_dir, names):
    """Peak over time of the mean of ``names`` (actions may be brief), averaged over the motions in ``out_dir``."""
    idx = [list(CHANNEL_NAMES).index(n) for n in names]
    return float(np.mean([read_livelink_csv(f).frames[:, idx].mean(axis=1).max() for f in out_dir.glob("*.csv")]))


GROUPS = {"smile": ["MouthSmileLeft", "MouthSmileRight"], "frown": ["MouthFrownLeft", "MouthFrownRight"],
          "brows": ["BrowInnerUp", "BrowOuterUpLeft", "BrowOuterUpRight"], "jaw": ["JawOpen"]}
PROMPTS = {"smile": "A person is smiling broadly", "frown": "A person is frowning",
           "brows": "A person is raising their eyebrows", "jaw": "A person opens their mouth wide"}


@pytest.mark.parametrize("model", ["mdm", "t2m_gpt"])
def test_bundled_models_follow_the_prompt(tmp_path, model):
    """Learned, not random: on average over 4 samples, each prompt drives its own channels well above the others."""
    peaks = {}
    for key, prompt in PROMPTS.items():
        out = tmp_path / key
        assert main(["generate", prompt, "--model", model, "--seconds", "4", "--num", "4", "--seed", "1",
                     "--out", str(out), "--no-mp4", "--size", "32"]) == 0
        peaks[key] = {group: _peak(out, names) for group, names in GROUPS.items()}
    for key in PROMPTS:
        others = max(peaks[other][key] for other in PROMPTS if other != key)
        assert peaks[key][key] > others + 0.1, (key, peaks)


@pytest.fixture(scope="module")
def small_corpus(tmp_path_factory):
    """A held-out stand-in corpus (another seed than the one the defaults were trained on)."""
    from express4d_dataset.hub import export_dataset
    from express4d_dataset.synthetic import write_synthetic_corpus

    root = tmp_path_factory.mktemp("corpus")
    write_synthetic_corpus(root / "raw", num_sequences=80, seed=123, test_fraction=0.5)  # 40 test takes: one whole batch
    export_dataset(root / "raw", root / "express4d", configs=["fps20"])
    return root / "express4d"


def test_evaluate_defaults_to_the_bundled_evaluator(small_corpus, tmp_path, capsys):
    out = tmp_path / "bench"
    assert main(["evaluate", "--model", "t2m_gpt", "--dataset", str(small_corpus), "--replications", "3",
                 "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| T2M-GPT (small, tokens) |" in printed and "| Real motion |" in printed
    saved = json.loads((out / "results.json").read_text())
    assert saved["config"]["evaluator"] == "evaluator (bundled with express4d)"
    assert saved["config"]["models"] == ["t2m_gpt (bundled with express4d)"]
    assert saved["config"]["command"].startswith("express4d evaluate --model t2m_gpt")
    real = saved["rows"]["Real motion"]
    # the trained evaluator matches real motions to their captions far above chance (3/32 for top-3)
    assert real["R_precision_top3"]["mean"] > 0.5
    # and the trained generator lands closer to the real motions than chance would
    assert saved["rows"]["T2M-GPT (small, tokens)"]["R_precision_top3"]["mean"] > 3 / 32 + 0.1


@pytest.mark.parametrize("model", ["mdm", "t2m_gpt"])
def test_bundled_models_follow_the_order_of_the_quickstart_prompt(model):
    """The quickstart prompt and its swapped version: for 3 seeds each, the action named first is centred first."""
    import torch

    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from benchmarks.prompt_order import centres, in_order, prompts
    from pipelines import Express4DPipeline, T2MGPTPipeline

    cls = Express4DPipeline if model == "mdm" else T2MGPTPipeline
    pipe = cls.from_pretrained(default_model_path(model))
    pipe.set_progress_bar_config(disable=True)
    for prompt, first, second in prompts():
        for seed in range(3):
            out = pipe(prompt, seconds=6, generator=torch.Generator().manual_seed(seed))
            c = centres(out.motions[0], [first, second], out.fps)
            assert in_order(c, first, second), (prompt, seed, c)
