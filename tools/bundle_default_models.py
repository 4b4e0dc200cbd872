"""Copy trained runs into ``pipelines/default_models/`` (the models ``express4d generate`` uses by default).

Two steps, both documented in the README::

    # 1. copy the final models (no checkpoints, logs or text-encoder weights); MDM gets DPM-Solver++
    python tools/bundle_default_models.py --mdm runs/mdm --t2m_gpt runs/t2m_gpt --evaluator runs/evaluator
    # (then choose the MDM's default guidance scale on the validation split: tools/choose_guidance.py; a fine-tune of
    # the bundled MDM keeps the bundled choice: automatic when its init_from is the bundle, else --keep_guidance)
    # 2. benchmark the bundled models, then put the table into each model card
    express4d evaluate --model mdm --model t2m_gpt --out runs/benchmark-paper
    express4d evaluate --model mdm --model t2m_gpt --protocol fixed-generations --multimodality --out runs/benchmark-fixed
    python tools/bundle_default_models.py --results runs/benchmark-paper --results runs/benchmark-fixed

The bundle must stay small (``--max_mb``, 60 MB by default): it ships inside the package.
"""

from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_OUT = ROOT / "pipelines" / "default_models"
NAMES = ("mdm", "t2m_gpt", "evaluator")
SKIP = {"checkpoints", "logs"}  # training state and TensorBoard logs stay in the run folder
BENCHMARK_HEADING = "## Benchmark (`express4d evaluate`)"
REAL_CORPUS_HEADING = "## Training on the real Express4D corpus"
STAGES_HEADING = "## Staged prompts"
GUIDANCE_HEADING = "## Default guidance scale"  # written by tools/choose_guidance.py
GUIDANCE_KEYS = ("default_guidance_scale", "default_guidance_rescale", "default_lid_guidance_scale", "default_num_inference_steps")
CARRIED_NOTE = ("Fine-tunes of the weights this scale was chosen for keep it without a new search (the bundle tool carries "
                "it over when a run's `init_from` is the folder it replaces); the table is of those weights.")
STAGES_SECTION = (
    "This bundle generates a prompt written as stages (\"She smiles, then raises her eyebrows, and finally opens her "
    "mouth wide\"; \"after that\", \"followed by\", \"before\", \"after\", separate sentences) one stage after the "
    "other: `default_prompt_stages` is `\"auto\"` in `model_index.json`. The pipeline splits the prompt by its "
    "connectives, gives each stage an equal share of the clip (a stage that names its seconds, \"for about three "
    "seconds\", a share by them) and denoises the shares as one batch, blended over 1 s, for the first half of the "
    "denoising steps (they lay the motion out in time); the second half denoises the whole clip with the whole "
    "prompt. \"while\" and \"as\" are never split, and a one-stage prompt is generated whole. "
    "`pipe(..., prompt_stages=\"off\")` (or `express4d generate --prompt-stages off`) gives the whole prompt to the "
    "whole clip. The benchmark tables in this card are of the default."
)

TRAIN = "accelerate launch --quiet training/train.py"
TRAIN_COMMANDS = {
    "evaluator": [f"{TRAIN} --model evaluator --config training/configs/evaluator_small.json "
                  "--dataset express4d_real --output_dir runs_real/evaluator"],
    "mdm": [f"{TRAIN} --model mdm --config training/configs/mdm_small.json --dataset express4d_real --output_dir runs_real/mdm"],
    "t2m_gpt": [
        f"{TRAIN} --model vqvae --config training/configs/vqvae_small.json --dataset express4d_real --output_dir runs_real/vqvae",
        f"{TRAIN} --model t2m_gpt --config training/configs/t2m_gpt_small.json --dataset express4d_real "
        "--vqvae runs_real/vqvae --output_dir runs_real/t2m_gpt",
    ],
}
USE = {
    "evaluator": "pass `--evaluator runs_real/evaluator` to `express4d evaluate`",
    "mdm": "pass `--model runs_real/mdm` to `express4d generate` / `express4d evaluate`",
    "t2m_gpt": "pass `--model runs_real/t2m_gpt` to `express4d generate` / `express4d evaluate`",
}


def real_corpus_section(name: str) -> str:
    commands = "\n".join(["express4d data build --raw Express4D --out express4d_real", *TRAIN_COMMANDS[name]])
    return (
        "The real captures are distributed by the Express4D authors after a request form; they are not part of this "
        "package. With the raw corpus in `Express4D/` (`data/`, `texts/`, `train.txt`, `test.txt`):\n\n"
        f"```bash\n{commands}\n```\n\n"
        f"Use the `*_paper.json` configs for the paper's model sizes, then {USE[name]}."
    )


def folder_size(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


def copy_run(run: Path, dest: Path) -> None:
    """Copy the saved model of a training run (everything but checkpoints and logs) to ``dest``."""
    if not (run / "README.md").is_file():
        raise FileNotFoundError(f"{run}: no README.md model card; is this the --output_dir of a finished training run?")
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(run, dest, ignore=lambda d, names: [n for n in names if n in SKIP or n.startswith(".")])
    if any(f.suffix in {".bin", ".pt", ".pth", ".pkl", ".ckpt"} for f in dest.rglob("*")):
        shutil.rmtree(dest)
        raise ValueError(f"{run}: contains pickle-based weight files; the bundle ships safetensors only")
    if (dest / "text_encoder").exists():
        shutil.rmtree(dest)
        raise ValueError(f"{run}: contains text_encoder/ weights; the bundle references the encoder by name "
                         "(save the pipeline without text_encoder)")


def strip_remote_code(dest: Path) -> None:
    """Drop the copies of the package's own source that ``save_pretrained`` writes for ``trust_remote_code``.

    Inside the installed package they would only be stale duplicates of ``pipelines/``: the bundled models load
    through the installed classes (the 7-line pipeline loader shims, which import from the package, stay).
    """
    for source in dest.rglob("*.py"):
        if not source.name.startswith("pipeline_"):  # configuration_*, modeling_*, and the modules they import
            source.unlink()
    for config_path in dest.rglob("config.json"):
        config = json.loads(config_path.read_text(encoding="utf-8"))
        if config.pop("auto_map", None) is not None:
            config_path.write_text(json.dumps(config, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def use_fast_sampler(mdm_dir: Path, keep: dict | None = None) -> None:
    """Switch a saved MDM pipeline from the 1000-step DDPM of training to DPM-Solver++ (20 steps by default), and
    have it generate staged prompts ("X, then Y") one stage after the other (``default_prompt_stages="auto"``).

    Only the scheduler config and ``model_index.json`` change (``keep``: more keys for it, a carried-over guidance
    choice); the weights are not touched.
    """
    from diffusers import DDPMScheduler, DPMSolverMultistepScheduler

    config = DDPMScheduler.load_config(str(mdm_dir / "scheduler"))
    DPMSolverMultistepScheduler.from_config(config).save_pretrained(str(mdm_dir / "scheduler"))
    index_path = mdm_dir / "model_index.json"
    index = json.loads(index_path.read_text(encoding="utf-8"))
    index["scheduler"] = ["diffusers", "DPMSolverMultistepScheduler"]
    index["default_prompt_stages"] = "auto"
    index.update(keep or {})
    index_path.write_text(json.dumps(index, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def fine_tuned_from(run: Path, dest: Path) -> bool:
    """Whether ``run`` was trained with ``--init_from`` pointing at ``dest`` (the bundle folder it is about to replace)."""
    config_path = run / "training_config.json"
    if not dest.is_dir() or not config_path.is_file():
        return False
    init_from = json.loads(config_path.read_text(encoding="utf-8")).get("init_from")
    if not init_from:
        return False
    # a relative init_from was relative to where the training ran: the repository root, or here
    candidates = [Path(init_from)] if Path(init_from).is_absolute() else [ROOT / init_from, Path.cwd() / init_from]
    return any(c.is_dir() and c.resolve() == dest.resolve() for c in candidates)


def guidance_choice(mdm_dir: Path) -> tuple[dict, str | None]:
    """The guidance keys of a bundled MDM's ``model_index.json`` and its card's guidance section (None if absent)."""
    index = json.loads((mdm_dir / "model_index.json").read_text(encoding="utf-8"))
    keys = {k: index[k] for k in GUIDANCE_KEYS if k in index}
    card_path = mdm_dir / "README.md"
    match = _section_pattern(GUIDANCE_HEADING).search(card_path.read_text(encoding="utf-8") if card_path.is_file() else "")
    return keys, match.group(1).strip() if match else None


def _section_pattern(heading: str) -> re.Pattern:
    """A Markdown card's ``heading`` section up to the next ``## `` heading; group 1 is its body."""
    return re.compile(rf"^{re.escape(heading)}\n(.*?)(?=^## |\Z)", re.S | re.M)


def replace_section(card: str, heading: str, body: str) -> str:
    """Replace (or append) the ``heading`` section of a Markdown card, up to the next ``## `` heading."""
    section = f"{heading}\n\n{body.strip()}\n\n"
    pattern = _section_pattern(heading)
    if pattern.search(card):
        return pattern.sub(lambda _: section, card, count=1)
    anchor = card.find("\n## Full configuration")
    if anchor < 0:
        return card.rstrip("\n") + "\n\n" + section
    return card[: anchor + 1] + section + card[anchor + 1 :]


def benchmark_section(results_dirs: list[Path]) -> str:
    """The card's benchmark section: one table per ``express4d evaluate`` run (e.g. both protocols)."""
    parts = []
    for results_dir in results_dirs:
        md = (results_dir / "results.md").read_text(encoding="utf-8")
        info = json.loads((results_dir / "results.json").read_text(encoding="utf-8"))
        cfg = info["config"]
        command = cfg.get("command") or "express4d evaluate --model mdm --model t2m_gpt --out runs/benchmark"
        reps = cfg.get("replications")
        runs = f" ({reps} replications)" if reps else ""
        parts.append(f"Protocol `{cfg.get('protocol', 'paper')}`{runs}, produced by:\n\n```bash\n{command}\n```\n\n"
                     f"{md.strip()}")
    cfg = json.loads((results_dirs[0] / "results.json").read_text(encoding="utf-8"))["config"]
    return (
        "Scores of the bundled models with the bundled evaluator on the stand-in corpus's test split "
        f"(`{cfg.get('dataset')}`, {cfg.get('num_items')} motions, {cfg.get('num_entries')} captions; the real-motion "
        "row is the ceiling).\n\n" + "\n\n".join(parts) + "\n\n"
        "These numbers describe the procedural stand-in corpus only: even under the paper's protocol they are not "
        "comparable with the paper's table, which was measured on the real captures with another evaluator."
    )


def write_cards(out: Path, results_dirs: list[Path], guidance_sections: dict[str, str] | None = None) -> None:
    """Add (or refresh) the benchmark tables and the real-corpus recipe in each bundled model card, and the guidance
    sections carried over from the models they replace (``{name: body}``)."""
    for name in NAMES:
        card_path = out / name / "README.md"
        if not card_path.is_file():
            continue
        card = card_path.read_text(encoding="utf-8")
        if name in (guidance_sections or {}):  # first: where it was before the bundle's first --results
            card = replace_section(card, GUIDANCE_HEADING, guidance_sections[name])
        if results_dirs:
            card = replace_section(card, BENCHMARK_HEADING, benchmark_section(results_dirs))
        card = replace_section(card, REAL_CORPUS_HEADING, real_corpus_section(name))
        if name == "mdm" and json.loads((out / name / "model_index.json").read_text(encoding="utf-8")).get(
                "default_prompt_stages") == "auto":
            card = replace_section(card, STAGES_HEADING, STAGES_SECTION)
        card_path.write_text(card, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    for name in NAMES:
        parser.add_argument(f"--{name}", type=Path, default=None, metavar="RUN_DIR", help=f"finished {name} training run")
    parser.add_argument("--results", type=Path, action="append", default=[], metavar="DIR",
                        help="--out folder of `express4d evaluate` (results.md/json) to put into the cards (repeatable: "
                        "one table per run, e.g. both protocols)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help=f"bundle folder (default {DEFAULT_OUT})")
    parser.add_argument("--keep_guidance", action="store_true",
                        help="carry the replaced MDM's default guidance scale and its card section over to the new one "
                        "(automatic when the --mdm run was fine-tuned from the folder it replaces, its init_from)")
    parser.add_argument("--max_mb", type=float, default=60.0, help="fail when the bundle exceeds this size (default 60)")
    args = parser.parse_args(argv)

    runs = {name: getattr(args, name) for name in NAMES if getattr(args, name) is not None}
    if not runs and not args.results:
        parser.error("give run folders (--mdm/--t2m_gpt/--evaluator) and/or --results")
    for results in args.results:
        if not (results / "results.md").is_file():
            parser.error(f"--results {results}: no results.md (the --out folder of `express4d evaluate`)")
    args.out.mkdir(parents=True, exist_ok=True)
    carried_sections = {}  # model name -> the guidance section its card keeps
    for name, run in runs.items():
        # a fine-tune of the bundled MDM keeps its guidance choice (made on the validation split by choose_guidance.py)
        dest = args.out / name
        fine_tune = name == "mdm" and fine_tuned_from(run, dest)
        keys, section = ({}, None)
        if (fine_tune or (name == "mdm" and args.keep_guidance)) and (dest / "model_index.json").is_file():
            keys, section = guidance_choice(dest)
        copy_run(run, dest)
        strip_remote_code(dest)
        if name == "mdm":
            use_fast_sampler(dest, keep=keys)
        if keys:
            if section is not None:
                carried_sections[name] = section if CARRIED_NOTE in section else f"{section}\n\n{CARRIED_NOTE}"
            why = f"the run was fine-tuned from {dest}" if fine_tune else "--keep_guidance"
            print(f"mdm: kept {keys} ({why})")
    write_cards(args.out, args.results, carried_sections)

    total = 0
    print(f"{'model':<10} {'MB':>7}  folder")
    for name in NAMES:
        if (args.out / name).is_dir():
            size = folder_size(args.out / name)
            total += size
            print(f"{name:<10} {size / 1e6:7.2f}  {args.out / name}")
    print(f"{'total':<10} {total / 1e6:7.2f}")
    if total > args.max_mb * 1e6:
        print(f"ERROR: the bundle is {total / 1e6:.1f} MB, over --max_mb {args.max_mb:g}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
