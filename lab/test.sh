#!/usr/bin/env bash
# Set up a fresh machine and run every test (unit, interop, xfrm, radius).
#
# The tests run on pytest-xdist workers, one per core, a file at a time (a
# file's module fixtures stay in one process); tests/conftest.py puts the
# long files first and keeps the user-mode Linux tests (tests/xfrm) in one
# worker, one guest at a time. IKEV2D_TEST_WORKERS=N sets the worker count;
# `-n 0` among the arguments runs serially, as `.venv/bin/python -m pytest`
# alone does.
set -euo pipefail
cd "$(dirname "$0")/.."
bash lab/setup.sh
workers=${IKEV2D_TEST_WORKERS:-$(nproc)}
exec .venv/bin/python -m pytest -n "$workers" --dist loadfile --no-loadscope-reorder "$@"
