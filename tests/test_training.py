"""training/train.py: every model trains and saves a loadable folder, runs on 2 processes, fine-tunes from saved
weights, and keeps its EMA and augmentations right (resume, NaN guard, atomic checkpoints and configuration:
tests/test_training_resume.py; the shared corpus and trained models: conftest.py).

Fast suite: `accelerate launch` subprocesses for MDM (1 process) and a 2-process gloo run; the VQ-VAE,
T2M-GPT and evaluator runs call ``training.train.main(argv)`` in-process to stay fast.  The `accelerate
launch` runs of the other three models are marked slow (-m slow).
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from training import train as train_module  # noqa: E402
from training_runs import ROOT, accelerate_launch, corpus_stats, tiny_argv, weights  # noqa: E402


# ---------------------------------------------------------------------------- accelerate launch
def test_mdm_accelerate_launch_saves_loadable_pipeline(corpus, tmp_path):
    from pipelines.pipeline_express4d import Express4DPipeline

    out = tmp_path / "mdm"
    proc = accelerate_launch(tiny_argv("mdm", corpus, out))
    assert "Done: mdm trained for 4 steps" in proc.stdout
    pipe = Express4DPipeline.from_pretrained(out)
    assert pipe.text_encoder is None and not (out / "text_encoder").exists()  # referenced by name only
    assert pipe.denoiser.config.text_encoder_name_or_path == corpus["text_encoder"]
    np.testing.assert_allclose(pipe.motion_stats.mean, corpus_stats(corpus).mean, rtol=1e-6)
    pipe.set_progress_bar_config(disable=True)
    motion = pipe("a person smiles", num_frames=8, num_inference_steps=2, generator=torch.Generator().manual_seed(0)).motions[0]
    assert motion.shape == (8, 61) and np.isfinite(motion).all()
    # the final weights are the EMA weights of the last checkpoint
    ema = load_file(str(out / "checkpoints" / "checkpoint-4" / "ema.safetensors"))
    final = [p.detach() for p in pipe.denoiser.parameters()]
    assert len(final) == len(ema)
    for i, p in enumerate(final):
        torch.testing.assert_close(p, ema[f"shadow.{i}"], rtol=0, atol=0)
    card = (out / "README.md").read_text()
    assert "library_name: diffusers" in card and "procedural stand-in" in card and "| optimizer steps | 4 |" in card
    if importlib.util.find_spec("tensorboard") is not None:  # the tracker is skipped (with a warning) without it
        assert list((out / "logs").rglob("events.out.tfevents*")), "no TensorBoard event file"


def _check_vqvae_folder(out, corpus):
    from transformers import AutoModel

    from pipelines.modeling_vqvae import Express4DVQVAE

    vqvae = Express4DVQVAE.from_pretrained(out)
    assert bool(vqvae.quantizer.initialized) and vqvae.config.codebook_size == 32
    np.testing.assert_allclose(vqvae.config.motion_std, corpus_stats(corpus).std, rtol=1e-6)
    assert type(AutoModel.from_pretrained(out)).__name__ == "Express4DVQVAE"
    assert "library_name: transformers" in (out / "README.md").read_text()


def _check_evaluator_folder(out, corpus):
    from pipelines.modeling_evaluator import Express4DEvaluator

    evaluator = Express4DEvaluator.from_pretrained(out)
    assert evaluator.config.text_encoder_name_or_path == corpus["text_encoder"]
    assert evaluator.config.embedding_dim == 16
    np.testing.assert_allclose(evaluator.config.motion_mean, corpus_stats(corpus).mean, rtol=1e-6)
    assert evaluator.embed_texts(["a person smiles"]).shape == (1, 16)


def test_vqvae_trains_and_saves_loadable_model(corpus, trained_vqvae):
    _check_vqvae_folder(trained_vqvae, corpus)  # trained in-process by the fixture


def test_evaluator_trains_and_saves_loadable_model(corpus, trained_evaluator):
    _check_evaluator_folder(trained_evaluator, corpus)  # trained in-process by the fixture


@pytest.mark.slow
def test_vqvae_accelerate_launch_saves_loadable_model(corpus, tmp_path):
    out = tmp_path / "vqvae"
    accelerate_launch(tiny_argv("vqvae", corpus, out))
    _check_vqvae_folder(out, corpus)


@pytest.mark.slow
def test_evaluator_accelerate_launch_saves_loadable_model(corpus, tmp_path):
    out = tmp_path / "evaluator"
    accelerate_launch(tiny_argv("evaluator", corpus, out))
    _check_evaluator_folder(out, corpus)


def test_mdm_validation_reports_benchmark_metrics_with_an_evaluator(corpus, trained_evaluator, tmp_path):
    out = tmp_path / "mdm_metrics"
    summary = train_module.main(tiny_argv("mdm", corpus, out, steps=2, evaluator=trained_evaluator,
                                          metrics_inference_steps=2, checkpointing_steps=100))
    assert {"R_precision_top1", "FID", "MM_Dist", "Diversity", "real_FID"} <= set(summary["metrics"])
    assert all(np.isfinite(v) for v in summary["metrics"].values())
    card = (out / "README.md").read_text()
    assert f"## Metrics (evaluator `{trained_evaluator}`, 2 validation items, 1 replication)" in card
    assert "| R_precision_top1 |" in card


def _check_t2m_gpt_folder(out, vqvae_dir):
    from pipelines.modeling_vqvae import Express4DVQVAE
    from pipelines.pipeline_t2m_gpt import T2MGPTPipeline

    pipe = T2MGPTPipeline.from_pretrained(out)
    assert pipe.text_encoder is None and not (out / "text_encoder").exists()
    trained = Express4DVQVAE.from_pretrained(vqvae_dir)
    for (name, a), b in zip(pipe.vqvae.state_dict().items(), trained.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0, msg=lambda m: f"vqvae {name}: {m}")  # the VQ-VAE is frozen
    assert pipe.prior.config.num_codes == trained.config.codebook_size
    pipe.set_progress_bar_config(disable=True)
    motion = pipe("a person smiles", num_frames=8, generator=torch.Generator().manual_seed(0)).motions[0]
    assert motion.shape == (8, 61) and np.isfinite(motion).all()
    assert "T2MGPTPipeline.from_pretrained(REPO)" in (out / "README.md").read_text()


def test_t2m_gpt_trains_on_vqvae_codes_and_saves_loadable_pipeline(corpus, trained_vqvae, tmp_path):
    out = tmp_path / "t2m_gpt"
    train_module.main(tiny_argv("t2m_gpt", corpus, out, vqvae=trained_vqvae))
    _check_t2m_gpt_folder(out, trained_vqvae)


@pytest.mark.slow
def test_t2m_gpt_accelerate_launch_saves_loadable_pipeline(corpus, trained_vqvae, tmp_path):
    out = tmp_path / "t2m_gpt"
    accelerate_launch(tiny_argv("t2m_gpt", corpus, out, vqvae=trained_vqvae))
    _check_t2m_gpt_folder(out, trained_vqvae)


def test_two_process_run_completes_and_saves_once(corpus, tmp_path):
    out = tmp_path / "mdm2"
    proc = accelerate_launch(tiny_argv("mdm", corpus, out, steps=2, train_batch_size=2), num_processes=2)
    logs = proc.stdout + proc.stderr
    assert "Num processes: 2" in logs and "gloo" in logs
    assert logs.count("Saved the final mdm") == 1
    assert logs.count("Done: mdm trained for 2 steps") == 1
    ckpt = out / "checkpoints" / "checkpoint-2"
    assert (ckpt / "random_states_0.pkl").is_file() and (ckpt / "random_states_1.pkl").is_file()
    assert (out / "model_index.json").is_file()


# ---------------------------------------------------------------------------- review fixes
def test_t2m_gpt_codes_do_not_depend_on_batch_padding(corpus, trained_vqvae):
    """A short motion gets the same codes whether it is encoded alone or with a longer motion."""
    from pipelines.modeling_vqvae import Express4DVQVAE
    from training.data import encode_split_to_codes

    vqvae = Express4DVQVAE.from_pretrained(trained_vqvae).eval()
    stats = corpus_stats(corpus)
    rng = np.random.default_rng(0)

    def motion(frames):
        return (stats.mean + stats.std * rng.standard_normal((frames, 61))).astype(np.float32)

    short, long = motion(40), motion(196)
    rows = [{"id": "short", "motion": short, "captions": ["a"]}, {"id": "long", "motion": long, "captions": ["b"]},
            {"id": "short2", "motion": motion(42), "captions": ["c"]}]  # 42 frames: cut to 40
    together = encode_split_to_codes(vqvae, rows, max_frames=196)
    alone = encode_split_to_codes(vqvae, rows[:1], max_frames=196)
    assert [it["id"] for it in together.items] == ["short", "long", "short2"]  # the split's order is kept
    assert [len(it["codes"]) for it in together.items] == [10, 49, 10]
    torch.testing.assert_close(together[0]["codes"], alone[0]["codes"], rtol=0, atol=0)
    with torch.no_grad():
        direct = vqvae.encode(vqvae.normalize_motion(torch.from_numpy(short)[None]))[0]
        direct_long = vqvae.encode(vqvae.normalize_motion(torch.from_numpy(long)[None]))[0]
    torch.testing.assert_close(together[0]["codes"], direct, rtol=0, atol=0)
    torch.testing.assert_close(together[1]["codes"], direct_long, rtol=0, atol=0)
    assert int(together[2]["codes"].min()) >= 0


def test_flip_augmentation_finds_the_mirrored_captions(corpus, tmp_path):
    """flip_prob > 0: the caption table holds every caption mirrored, so flipped batches look up."""
    from express4d_dataset.arkit import mirror_caption
    from training.caption_embeddings import corpus_captions
    from training.config import TrainingConfig
    from training.data import load_training_dataset
    from training.task import TaskData
    from training.task_evaluator import EvaluatorTask
    from training.task_mdm import MDMTask

    fake = {"train": {"captions": [["A person winks their LEFT eye", "Someone smiles"]]}, "test": {"captions": [None]}}
    assert corpus_captions(fake) == ["A person winks their LEFT eye", "Someone smiles"]
    assert corpus_captions(fake, mirrored=True) == ["A person winks their LEFT eye", "A person winks their RIGHT eye",
                                                    "Someone smiles"]
    staged = {"train": {"captions": [["She smiles and then frowns"]],
                        "annotations": ['{"swapped_captions": ["She frowns and then smiles"]}']}}
    assert corpus_captions(staged) == ["She frowns and then smiles", "She smiles and then frowns"]
    assert corpus_captions(staged, swapped=False) == ["She smiles and then frowns"]  # only the evaluator reads them
    assert MDMTask.reads_swapped_captions is False and EvaluatorTask.reads_swapped_captions is True

    ds = load_training_dataset(corpus["dataset"], "fps20")
    config = TrainingConfig(model="mdm", dataset=corpus["dataset"], text_encoder=corpus["text_encoder"], max_frames=40,
                            flip_prob=1.0, output_dir=str(tmp_path / "unused"))
    task = MDMTask(TaskData(config, ds, corpus_stats(corpus), "test", 20.0, torch.device("cpu")))
    rows, collate = task.train_dataset()
    batch = collate([rows[i] for i in range(len(rows))])
    originals = {str(c) for caps in rows["captions"] for c in caps}
    mirrored = [c for c in batch["captions"] if c not in originals]
    assert mirrored and all(mirror_caption(c) in originals for c in mirrored)  # the corpus has left/right captions
    assert task.captions.lookup(batch["captions"]).pooled.shape == (len(rows), task.captions.dim)
    # and a whole run trains with every batch flipped (it raised KeyError before)
    summary = train_module.main(tiny_argv("mdm", corpus, tmp_path / "flip", steps=2, flip_prob=1.0,
                                          checkpointing_steps=100))
    assert summary["global_step"] == 2 and np.isfinite(summary["validation_loss"])


@pytest.mark.parametrize("warmup", [False, True])
def test_mdm_ema_after_one_step(corpus, tmp_path, monkeypatch, warmup):
    """Without warm-up the EMA after step 1 is d * init + (1 - d) * new (MDM); with it, the new weights."""
    from training.task_mdm import MDMTask

    original = MDMTask.build_model
    captured = {}

    def build_and_capture(self):
        model = original(self)
        captured["names"] = [n for n, _ in model.named_parameters()]
        captured["init"] = {n: p.detach().clone() for n, p in model.named_parameters()}
        return model

    monkeypatch.setattr(MDMTask, "build_model", build_and_capture)
    out = tmp_path / "ema"
    decay = 0.5
    train_module.main(tiny_argv("mdm", corpus, out, steps=1, checkpointing_steps=1, validation_split="", ema_decay=decay,
                                ema_warmup=str(warmup).lower(), learning_rate=1e-2, lr_warmup_steps=0))
    assert json.loads((out / "training_config.json").read_text())["ema_warmup"] is warmup
    ckpt = out / "checkpoints" / "checkpoint-1"
    new = weights(ckpt / "model.safetensors")
    ema = weights(ckpt / "ema.safetensors")
    changed = 0
    for i, name in enumerate(captured["names"]):
        init, now, shadow = captured["init"][name], new[name], ema[f"shadow.{i}"]
        expected = now if warmup else decay * init + (1 - decay) * now
        torch.testing.assert_close(shadow, expected, rtol=1e-6, atol=1e-7, msg=lambda m: f"{name}: {m}")
        changed += int(not torch.equal(init, now))
    assert changed > 0, "one step of training changed no weight"


def test_init_from_fine_tunes_the_savedweights(corpus, tmp_path):
    """--init_from starts from a finished run's weights (fresh optimizer and step count); the card says so and
    carries the initial weights' training table; weights of another architecture are refused by name."""
    base = tmp_path / "base"
    train_module.main(tiny_argv("mdm", corpus, base, steps=2, validation_split="", learning_rate=1e-2, lr_warmup_steps=0))
    saved = weights(base / "denoiser" / "diffusion_pytorch_model.safetensors")
    # a learning rate too small to move the weights: the fine-tuned model is the one it started from
    tuned = tmp_path / "tuned"
    summary = train_module.main(tiny_argv("mdm", corpus, tuned, steps=1, validation_split="", init_from=base,
                                          learning_rate=1e-12, lr_warmup_steps=0))
    assert summary["global_step"] == 1
    after = weights(tuned / "denoiser" / "diffusion_pytorch_model.safetensors")
    for key in saved:
        torch.testing.assert_close(after[key], saved[key], rtol=0, atol=1e-6)
    fresh = tmp_path / "fresh"
    train_module.main(tiny_argv("mdm", corpus, fresh, steps=1, validation_split="", learning_rate=1e-12, lr_warmup_steps=0))
    other = weights(fresh / "denoiser" / "diffusion_pytorch_model.safetensors")
    assert any((other[k] - saved[k]).abs().max() > 1e-3 for k in saved)  # without it: a new initialisation
    card = (tuned / "README.md").read_text()
    assert f"| initial weights | `{base}` (fine-tuned from it; its training below) |" in card
    initial = card.split("### Training of the initial weights", 1)[1]
    assert "| optimizer steps | 2 |" in initial and "| learning rate | 0.01 (constant_with_warmup, 0 warm-up steps) |" in initial
    assert json.loads((tuned / "training_config.json").read_text())["init_from"] == str(base)

    with pytest.raises(ValueError, match=r"--init_from .*base: its weights \(diffusion_pytorch_model.safetensors\) do not "
                                         r"fit the mdm model this run builds: \d+ unexpected \(e.g. encoder.layers.1\."):
        train_module.main(tiny_argv("mdm", corpus, tmp_path / "x", steps=1, validation_split="", init_from=base,
                                    set="model_config.num_layers=1"))
    with pytest.raises(FileNotFoundError, match=r"--init_from .*nowhere: no such folder; pass the output_dir of a finished "
                                                r"`--model mdm` run or pipelines/default_models/mdm"):
        train_module.main(tiny_argv("mdm", corpus, tmp_path / "y", steps=1, init_from=tmp_path / "nowhere"))
    with pytest.raises(FileNotFoundError, match=r"no .safetensors weights in .*empty.denoiser or .*empty"):
        (tmp_path / "empty").mkdir()
        train_module.main(tiny_argv("mdm", corpus, tmp_path / "z", steps=1, init_from=tmp_path / "empty"))


def test_bfloat16_on_a_cpu_without_it_is_warned_about(corpus, tmp_path, monkeypatch, caplog):
    """--mixed_precision bf16 on a CPU without bfloat16 instructions trains (emulated, slowly) and says so,
    naming the fix; with them, or where PyTorch cannot tell, nothing is said."""
    import logging

    from pipelines.pipeline_utils import cpu_bfloat16_is_native, slow_bfloat16_warning

    monkeypatch.setattr(torch.cpu, "_is_avx512_bf16_supported", lambda: False, raising=False)
    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: False, raising=False)
    assert cpu_bfloat16_is_native() is False
    text = slow_bfloat16_warning("--precision bf16", "--precision fp32")
    assert text.startswith("--precision bf16 on this CPU: it has no bfloat16 instructions") and "pass --precision fp32" in text
    from accelerate.state import AcceleratorState

    AcceleratorState._reset_state(reset_partial_state=True)  # earlier in-process runs fixed mixed_precision="no"
    try:
        with caplog.at_level(logging.WARNING):
            summary = train_module.main(tiny_argv("mdm", corpus, tmp_path / "run", steps=1, mixed_precision="bf16"))
    finally:
        AcceleratorState._reset_state(reset_partial_state=True)
    assert summary["global_step"] == 1
    assert "--mixed_precision bf16 on this CPU" in caplog.text and "pass --mixed_precision no" in caplog.text

    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", lambda: True, raising=False)
    assert cpu_bfloat16_is_native() is True and slow_bfloat16_warning("--precision bf16", "--precision fp32") is None

    def broken():
        raise RuntimeError("probe failed")

    monkeypatch.setattr(torch.cpu, "_is_amx_tile_supported", broken, raising=False)
    assert cpu_bfloat16_is_native() is None and slow_bfloat16_warning("--precision bf16", "--precision fp32") is None
    monkeypatch.delattr(torch.cpu, "_is_amx_tile_supported")
    assert cpu_bfloat16_is_native() is None
