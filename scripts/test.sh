#!/usr/bin/env bash
# Set up (a virtual environment with pinned packages) and run every test: unit, property, golden-trace,
# AppTest page tests and the real-browser tests. Usage: ./scripts/test.sh [pytest args]
set -euo pipefail
cd "$(dirname "$0")/.."
# This workplace keeps the CPU build of torch 2.13.0 in /opt/wheels; without it pip would fetch a CUDA build.
if [ -d /opt/wheels ] && [ -z "${PIP_FIND_LINKS:-}" ]; then export PIP_FIND_LINKS=/opt/wheels; fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt
# The simulator's compiled kernel, built once per machine (a cached object file that each app server links as
# it starts, as scripts/app.sh does); without numba this does nothing.
.venv/bin/python -c "from sim.fastpath import warm; warm()"
exec .venv/bin/python -m pytest "$@"
