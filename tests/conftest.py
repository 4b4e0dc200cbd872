import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT.parent / "shared" / "fixtures"
ALEX_ROM = FIXTURES / "livelink" / "alex_rom_3.csv"

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture
def alex_rom_path():
    if not ALEX_ROM.exists():
        pytest.skip(f"real capture fixture missing: {ALEX_ROM}")
    return ALEX_ROM
