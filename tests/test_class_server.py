"""The class server (scripts/serve_class.py: replicas behind Debian's nginx) under the load script's
simulated learners (scripts/load_class.py: real websocket sessions in Streamlit's protobuf protocol).

A small class, so CI stays fast: two replicas sharing a real PostgreSQL server, six learners who join,
predict, see the reveal and answer a quiz question. Every prediction must reach the presenter's chart
whichever replica its learner landed on, with no error.
"""

from __future__ import annotations

import asyncio
import os
import sys
import tempfile

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))


def _need(what: str, reason: str | None) -> None:
    if reason:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"{what} cannot run on CI: {reason}")
        pytest.skip(reason)


def test_a_small_class_across_two_replicas_and_postgresql():
    import load_class
    import local_postgres
    from serve_class import ClassServer, find_nginx
    _need("the class server", None if find_nginx() else "nginx not found (apt-get install nginx)")
    _need("the PostgreSQL class server", local_postgres.missing())
    with ClassServer(replicas=2, postgres=True, run_dir=tempfile.mkdtemp(prefix="batchlab-srv-")) as server:
        st = asyncio.run(load_class.drive(server.url, 6, ramp_s=2.0, timeout_s=90.0, seed=1))
        row = load_class.summarise(st, 6)
    assert row["errors"] == 0, row["error_samples"]
    assert row["submitted"] == 6 and row["counted_by_chart"] == 6 and row["quiz_graded"] == 6
    assert len(st.saw_reveal) == 6
    assert sum(row["learners_per_replica"].values()) == 6


def test_the_server_does_not_collect_garbage_after_every_script_run():
    """Streamlit's default runner.postScriptGC calls gc.collect(2) after every script run, a fragment's
    periodic rerun included: with plotly, pandas and the simulator loaded, ~0.1 CPU-s each, 10x what a
    learner's live-view poll costs without it, and what saturated the class server (README, Serve a class).
    Every server command of the repo (app.sh, serve-class, the tests' servers) runs from the repo's folder
    and so reads .streamlit/config.toml."""
    import tomllib
    with open(os.path.join(ROOT, ".streamlit", "config.toml"), "rb") as f:
        assert tomllib.load(f)["runner"]["postScriptGC"] is False


def test_no_page_relies_on_streamlit_magic():
    """.streamlit/config.toml turns runner.magicEnabled off (no AST rewrite of every script before it is
    compiled, which AppTest redoes on every run): so no page may hold a bare expression that magic would
    have written to the page, or it would silently vanish."""
    import ast
    import glob
    import tomllib
    with open(os.path.join(ROOT, ".streamlit", "config.toml"), "rb") as f:
        assert tomllib.load(f)["runner"]["magicEnabled"] is False
    bare = []
    for path in [os.path.join(ROOT, "app.py")] + sorted(glob.glob(os.path.join(ROOT, "pages", "*.py"))):
        with open(path) as f:
            tree = ast.parse(f.read())
        for node in ast.walk(tree):
            body = getattr(node, "body", None)
            for i, stmt in enumerate(body if isinstance(body, list) else []):
                if not isinstance(stmt, ast.Expr) or isinstance(stmt.value, (ast.Call, ast.Await, ast.Yield)):
                    continue
                if i == 0 and isinstance(stmt.value, ast.Constant) and isinstance(stmt.value.value, str):
                    continue  # a docstring, which magic does not show either
                bare.append(f"{os.path.basename(path)}:{stmt.lineno}")
    assert not bare, bare
