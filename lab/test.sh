#!/usr/bin/env bash
# Set up a fresh machine and run every test (unit, interop, xfrm, radius).
set -euo pipefail
cd "$(dirname "$0")/.."
bash lab/setup.sh
exec .venv/bin/python -m pytest "$@"
