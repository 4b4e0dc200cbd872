#!/usr/bin/env bash
# Refresh constraints.txt, the locked dependency set the README's commands and CI install.
#
#   bash tools/refresh_lock.sh            # resolve the newest releases pyproject admits, write constraints.txt
#   bash tools/refresh_lock.sh --check    # only print what would change
#
# It resolves in a throw-away virtual environment (the CPU build of torch first, then the package
# with every extra), freezes that environment, and writes the pins with a header saying when and
# with which Python.  Run the suite against the result (`pip install -e ".[test]" -c constraints.txt
# && python -m pytest`) before committing it.
set -euo pipefail
cd "$(dirname "$0")/.."
TORCH_VERSION="2.13.0"   # CPU build; an unpinned torch pulls several GB of CUDA packages
venv=$(mktemp -d)/venv
trap 'rm -rf "$(dirname "$venv")"' EXIT
python -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
"$venv/bin/python" -m pip install --quiet "torch==$TORCH_VERSION"
"$venv/bin/python" -m pip install --quiet -e ".[test,train,bench]"
out=$(mktemp)
{
  echo "# The tested dependency set: install with -c constraints.txt (see README, Compatibility)."
  echo "# Written by tools/refresh_lock.sh on $(date -u +%Y-%m-%d) with $("$venv/bin/python" --version); refresh with that script."
  "$venv/bin/python" -m pip freeze --exclude-editable --all \
    | grep -viE '^(express4d|pip|setuptools|wheel)==' \
    | sed -E "s/^torch==.*/torch==$TORCH_VERSION/" \
    | LC_ALL=C sort -f
} > "$out"
if [ "${1:-}" = "--check" ]; then
  diff -u <(grep -v '^#' constraints.txt 2>/dev/null || true) <(grep -v '^#' "$out") || true
else
  mv "$out" constraints.txt
  echo "wrote constraints.txt ($(grep -vc '^#' constraints.txt) pins)"
fi
