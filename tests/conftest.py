import atexit
import os
import shutil
import tempfile
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT.parent / "shared" / "fixtures"
ALEX_ROM = FIXTURES / "livelink" / "alex_rom_3.csv"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
# caches the package writes (caption embeddings) go to a throw-away folder, never the user's home
if "EXPRESS4D_CACHE" not in os.environ:
    os.environ["EXPRESS4D_CACHE"] = _cache = tempfile.mkdtemp(prefix="express4d-test-cache-")
    atexit.register(shutil.rmtree, _cache, ignore_errors=True)
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture
def alex_rom_path():
    if not ALEX_ROM.exists():
        pytest.skip(f"real capture fixture missing: {ALEX_ROM}")
    return ALEX_ROM


@pytest.fixture(autouse=True)
def _one_torch_thread():
    """Every test model is tiny: they run fastest single-threaded, and on a shared, loaded CPU two
    threads can be 20x slower.  Subprocesses (accelerate launch) keep torch's default."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


# ---------------------------------------------------------------------------- training runs (session-wide)
@pytest.fixture(scope="session")
def corpus(tmp_path_factory):
    """A 12-take stand-in corpus exported as a dataset folder, and a tiny BERT text encoder folder."""
    from mdm_tiny import tiny_training_corpus

    root = tiny_training_corpus(tmp_path_factory.mktemp("training"), num_sequences=12)
    return {"dataset": str(root / "express4d"), "text_encoder": str(root / "bert"), "root": root}


@pytest.fixture(scope="session")
def trained_vqvae(corpus):
    """A tiny VQ-VAE trained in-process (the T2M-GPT stage reads it)."""
    from training import train as train_module
    from training_runs import tiny_argv

    out = corpus["root"] / "vqvae_run"
    train_module.main(tiny_argv("vqvae", corpus, out, steps=4))
    return out


@pytest.fixture(scope="session")
def trained_evaluator(corpus):
    """A tiny evaluator trained in-process (MDM validation metrics use it)."""
    from training import train as train_module
    from training_runs import tiny_argv

    out = corpus["root"] / "evaluator_run"
    train_module.main(tiny_argv("evaluator", corpus, out, steps=2))
    return out
