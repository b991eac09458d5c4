#!/usr/bin/env bash
# The README's first command: prepare the machine (lab/setup.sh), then a
# strongSwan client connects to ikev2d running config/ikev2d.yaml in a lab
# network namespace, prints what both sides report, disconnects and cleans up.
# Extra arguments go to `python -m lab.demo` (e.g. --responder strongswan).
set -euo pipefail
cd "$(dirname "$0")/.."
bash lab/setup.sh
exec .venv/bin/python -m lab.demo "$@"
