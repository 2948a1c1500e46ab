#!/usr/bin/env bash
# Set up (a virtual environment with pinned packages) and run the app on http://127.0.0.1:8501.
set -euo pipefail
cd "$(dirname "$0")/.."
# This workplace keeps the CPU build of torch 2.13.0 in /opt/wheels; without it pip would fetch a CUDA build.
if [ -d /opt/wheels ] && [ -z "${PIP_FIND_LINKS:-}" ]; then export PIP_FIND_LINKS=/opt/wheels; fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -r requirements.txt
# The simulator's compiled kernel: built once per machine (15-60 s the first time, then a cached object file the
# server links as it starts); without numba this does nothing and the pages run on the Python engine.
.venv/bin/python -c "from sim.fastpath import warm; warm()"
exec .venv/bin/streamlit run app.py --server.address 127.0.0.1 --browser.gatherUsageStats false "$@"
