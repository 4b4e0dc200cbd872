"""tools/bundle_default_models.py: copying runs into the bundle, the fast sampler, the card sections."""

import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tools.bundle_default_models import BENCHMARK_HEADING, REAL_CORPUS_HEADING, replace_section, main  # noqa: E402

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
