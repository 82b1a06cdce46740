#!/usr/bin/env bash
# Create .venv and install hwpower with everything the demo and the tests need.
# torch 2.14.1 + torchvision 0.29.1 are pinned: they are a matching pair (a CUDA-enabled build
# that also runs on CPU). Set HWPOWER_EXTRAS to change which optional extras are installed.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
extras=${HWPOWER_EXTRAS:-zigzag,ray,imports,dev}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
stamp=.venv/.hwpower-installed
want="$(cat pyproject.toml scripts/setup.sh | sha256sum | cut -d' ' -f1) $extras"
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$want" ]; then
    .venv/bin/python -m pip install --quiet --upgrade pip
    .venv/bin/python -m pip install --quiet "torch==2.14.1" "torchvision==0.29.1"
    .venv/bin/python -m pip install --quiet -e ".[$extras]"
    echo "$want" > "$stamp"
fi
