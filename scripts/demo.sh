#!/usr/bin/env bash
# Install hwpower into .venv, then run the demo on the embedded default data.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/hwpower demo "$@"
