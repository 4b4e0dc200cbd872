"""The dependency sets: pyproject's lower bounds are the tested oldest set, the lock pins what pyproject admits."""

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _requirements() -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]
    return list(project["dependencies"]) + [r for extra in project["optional-dependencies"].values() for r in extra]


def _pins(path: Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[_norm(name)] = version
    return pins


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def test_lower_bounds_are_the_tested_oldest_releases():
    oldest = _pins(ROOT / "tools" / "constraints-oldest.txt")
    for requirement in _requirements():
        name, _, bound = requirement.partition(">=")
        assert bound, f"{requirement}: every dependency needs a tested lower bound"
        assert "<" not in bound, f"{requirement}: no upper bound without a known break"
        pinned = oldest.get(_norm(name))
        assert pinned is not None, f"{name} is missing from tools/constraints-oldest.txt"
        assert tuple(int(x) for x in pinned.split(".")) >= tuple(int(x) for x in bound.split(".")), requirement
        assert pinned.startswith(bound), f"{name}: pyproject says >={bound} but the oldest tested release is {pinned}"


def test_the_lock_pins_every_direct_dependency_within_its_range():
    lock = _pins(ROOT / "constraints.txt")
    for requirement in _requirements():
        name, _, bound = requirement.partition(">=")
        version = lock.get(_norm(name))
        assert version is not None, f"{name} is not in constraints.txt; refresh it with tools/refresh_lock.sh"
        numbers = tuple(int(x) for x in re.findall(r"\d+", version)[:3])
        assert numbers >= tuple(int(x) for x in bound.split(".")), f"{name}: locked {version} below >={bound}"
