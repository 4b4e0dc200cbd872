"""tools/bundle_default_models.py: copying runs into the bundle, the fast sampler, the card sections."""

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tools.bundle_default_models import (  # noqa: E402
    BENCHMARK_HEADING, CARRIED_NOTE, GUIDANCE_HEADING, REAL_CORPUS_HEADING, main, replace_section,
)

CARD = "---\nlicense: apache-2.0\n---\n# Model\n\n## Training\n\ntext\n\n## Full configuration\n\n```json\n{}\n```\n"


def fake_mdm_run(folder: Path) -> Path:
    from diffusers import DDPMScheduler

    (folder / "denoiser").mkdir(parents=True)
    (folder / "denoiser" / "diffusion_pytorch_model.safetensors").write_bytes(b"0" * 1000)
    # what save_pretrained writes for trust_remote_code: source copies (dropped) and a loader shim (kept)
    (folder / "denoiser" / "modeling_x.py").write_text("# a copy of the package source\n")
    (folder / "pipeline_express4d.py").write_text("from pipelines.pipeline_express4d import Express4DPipeline\n")
    (folder / "denoiser" / "config.json").write_text(json.dumps({"a": 1, "auto_map": {"AutoModel": "modeling_x.X"}}))
    DDPMScheduler(num_train_timesteps=1000, beta_schedule="squaredcos_cap_v2", prediction_type="sample").save_pretrained(
        folder / "scheduler")
    index = {"_class_name": "Express4DPipeline", "denoiser": ["pipelines", "MDMDenoiser"],
             "scheduler": ["diffusers", "DDPMScheduler"]}
    (folder / "model_index.json").write_text(json.dumps(index))
    (folder / "README.md").write_text(CARD)
    (folder / "checkpoints" / "checkpoint-10").mkdir(parents=True)
    (folder / "checkpoints" / "checkpoint-10" / "optimizer.bin").write_bytes(b"x")
    (folder / "logs").mkdir()
    return folder


def fake_results(folder: Path, protocol: str = "paper", fid: str = "0.000 ± 0.000") -> Path:
    folder.mkdir()
    (folder / "results.md").write_text(f"| Model | FID |\n|---|---|\n| Real motion | {fid} |\n")
    config = {"dataset": "express4d", "num_items": 240, "num_entries": 960, "replications": 20, "protocol": protocol,
              "command": f"express4d evaluate --model mdm --protocol {protocol} --out runs/{protocol}"}
    (folder / "results.json").write_text(json.dumps({"config": config}))
    return folder


def test_bundle_copies_swaps_sampler_and_writes_cards(tmp_path, capsys):
    from diffusers import DPMSolverMultistepScheduler

    run = fake_mdm_run(tmp_path / "runs" / "mdm")
    out = tmp_path / "bundle"
    assert main(["--mdm", str(run), "--out", str(out)]) == 0
    assert not (out / "mdm" / "checkpoints").exists() and not (out / "mdm" / "logs").exists()
    assert (out / "mdm" / "denoiser" / "diffusion_pytorch_model.safetensors").is_file()
    assert not (out / "mdm" / "denoiser" / "modeling_x.py").exists() and (out / "mdm" / "pipeline_express4d.py").is_file()
    assert json.loads((out / "mdm" / "denoiser" / "config.json").read_text()) == {"a": 1}
    index = json.loads((out / "mdm" / "model_index.json").read_text())
    assert index["scheduler"] == ["diffusers", "DPMSolverMultistepScheduler"] and index["default_prompt_stages"] == "auto"
    sched = DPMSolverMultistepScheduler.from_pretrained(out / "mdm" / "scheduler")
    assert sched.config.prediction_type == "sample" and sched.config.beta_schedule == "squaredcos_cap_v2"
    card = (out / "mdm" / "README.md").read_text()
    assert REAL_CORPUS_HEADING in card and "--model mdm --config training/configs/mdm_small.json" in card
    assert "## Staged prompts" in card and 'prompt_stages="off"' in card  # the bundle's default, said in its card
    assert card.index(REAL_CORPUS_HEADING) < card.index("## Full configuration")
    assert "mdm" in capsys.readouterr().out

    # second step: the benchmark table goes in; running it twice replaces the section instead of repeating it
    # (one table per protocol, in the order given)
    paper = fake_results(tmp_path / "paper")
    fixed = fake_results(tmp_path / "fixed", protocol="fixed-generations", fid="0.001 ± 0.000")
    for _ in range(2):
        assert main(["--results", str(paper), "--results", str(fixed), "--out", str(out)]) == 0
    card = (out / "mdm" / "README.md").read_text()
    assert card.count(BENCHMARK_HEADING) == 1 and card.count(REAL_CORPUS_HEADING) == 1
    assert card.index("| Real motion | 0.000 ± 0.000 |") < card.index("| Real motion | 0.001 ± 0.000 |")
    assert "express4d evaluate --model mdm --protocol paper --out runs/paper" in card
    assert "Protocol `fixed-generations` (20 replications)" in card
    assert "960 captions" in card


def test_bundle_errors(tmp_path, capsys):
    run = fake_mdm_run(tmp_path / "mdm")
    assert main(["--mdm", str(run), "--out", str(tmp_path / "b"), "--max_mb", "0.0001"]) == 1
    assert "over --max_mb" in capsys.readouterr().err

    (run / "denoiser" / "weights.bin").write_bytes(b"x")
    with pytest.raises(ValueError, match="pickle-based weight files"):
        main(["--mdm", str(run), "--out", str(tmp_path / "c")])
    with pytest.raises(FileNotFoundError, match="no README.md model card"):
        main(["--evaluator", str(tmp_path / "nothing"), "--out", str(tmp_path / "d")])
    with pytest.raises(SystemExit):
        main(["--results", str(tmp_path), "--out", str(tmp_path / "e")])  # no results.md there
    assert "no results.md" in capsys.readouterr().err


def test_replace_section_appends_when_missing():
    card = replace_section("# T\n\ntext\n", "## New", "body")
    assert card == "# T\n\ntext\n\n## New\n\nbody\n\n"
    assert replace_section(card, "## New", "other") == "# T\n\ntext\n\n## New\n\nother\n\n"


def test_a_fine_tune_of_the_bundled_mdm_keeps_its_guidance_choice(tmp_path, capsys, monkeypatch):
    out = tmp_path / "bundle"
    assert main(["--mdm", str(fake_mdm_run(tmp_path / "runs" / "first")), "--out", str(out)]) == 0
    # what tools/choose_guidance.py --write leaves in the bundled folder
    index_path = out / "mdm" / "model_index.json"
    index = json.loads(index_path.read_text())
    index_path.write_text(json.dumps({**index, "default_guidance_scale": 5.0, "default_guidance_rescale": 0.0}))
    card_path = out / "mdm" / "README.md"
    card_path.write_text(replace_section(card_path.read_text(), GUIDANCE_HEADING, "samples with **5**\n\n| Guidance |\n|---|\n| 5 |"))

    tune = fake_mdm_run(tmp_path / "runs" / "tune")
    (tune / "training_config.json").write_text(json.dumps({"init_from": str(out / "mdm")}))
    assert main(["--mdm", str(tune), "--out", str(out)]) == 0
    index = json.loads(index_path.read_text())
    assert index["default_guidance_scale"] == 5.0 and index["default_guidance_rescale"] == 0.0
    assert index["default_prompt_stages"] == "auto"
    card = card_path.read_text()
    assert card.count(GUIDANCE_HEADING) == 1 and "samples with **5**" in card and "| 5 |" in card
    assert card.count(CARRIED_NOTE) == 1 and card.index(GUIDANCE_HEADING) < card.index("## Full configuration")
    assert "kept {'default_guidance_scale': 5.0" in capsys.readouterr().out

    # bundling the fine-tune's own fine-tune again does not repeat the note; init_from as training wrote it,
    # relative to where it ran
    (tmp_path / "runs" / "tune2").mkdir()
    tune2 = fake_mdm_run(tmp_path / "runs" / "tune2" / "run")
    (tune2 / "training_config.json").write_text(json.dumps({"init_from": "bundle/mdm"}))
    monkeypatch.chdir(tmp_path)
    assert main(["--mdm", str(tune2), "--out", str(out)]) == 0
    assert json.loads(index_path.read_text())["default_guidance_scale"] == 5.0
    assert card_path.read_text().count(CARRIED_NOTE) == 1

    # a run trained from elsewhere (or from scratch) starts without a guidance choice: choose_guidance.py makes one
    other = fake_mdm_run(tmp_path / "runs" / "other")
    (other / "training_config.json").write_text(json.dumps({"init_from": str(tmp_path / "runs" / "first")}))
    assert main(["--mdm", str(other), "--out", str(out)]) == 0
    assert "default_guidance_scale" not in json.loads(index_path.read_text())
    assert GUIDANCE_HEADING not in card_path.read_text()

    # --keep_guidance carries the choice over whatever the run was trained from
    index_path.write_text(json.dumps({**json.loads(index_path.read_text()), "default_guidance_scale": 3.5}))
    assert main(["--mdm", str(other), "--out", str(out), "--keep_guidance"]) == 0
    assert json.loads(index_path.read_text())["default_guidance_scale"] == 3.5
