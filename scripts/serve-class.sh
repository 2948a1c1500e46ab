#!/usr/bin/env bash
# Serve a class: several app processes behind nginx with sticky sessions, one shared database.
# Usage: ./scripts/serve-class.sh --replicas 4 [--port 8080] [--postgres | --database-url URL]
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -d /opt/wheels ] && [ -z "${PIP_FIND_LINKS:-}" ]; then export PIP_FIND_LINKS=/opt/wheels; fi
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --disable-pip-version-check -r requirements.txt
# The simulator's compiled kernel, built once per machine (a cached object file that each app server links as
# it starts, as scripts/app.sh does); without numba this does nothing.
.venv/bin/python -c "from sim.fastpath import warm; warm()"
exec .venv/bin/python scripts/serve_class.py "$@"
