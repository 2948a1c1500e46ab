"""Sweeps give the same table whatever runs them: serial, joblib's worker processes, a local Ray cluster."""

from __future__ import annotations

import importlib.util
import subprocess
import sys

import pytest

from sim import scenario
from sim.errors import ConfigError
from sim.sweep import TerminalBar, run_sweep

POINTS = [scenario("chat", policy=p, requests=150, rate_per_s=r, seed=s, record_iterations=False)
          for p in ("static", "continuous", "chunked") for r in (2.0, 8.0) for s in (0, 1)]


@pytest.fixture(scope="module")
def serial():
    seen = []
    out = run_sweep(POINTS, jobs=1, progress=lambda done, total: seen.append((done, total)))
    assert seen == [(i + 1, len(POINTS)) for i in range(len(POINTS))]
    return out


def test_points_differ(serial):
    # the comparison below would be vacuous if every point gave the same metrics
    assert len({m["ttft_p99_s"] for m in serial}) > len(POINTS) // 2


def test_joblib_processes_match_serial(serial):
    seen = []
    out = run_sweep(POINTS, jobs=2, backend="joblib", progress=lambda done, total: seen.append(done))
    assert out == serial
    assert seen == list(range(1, len(POINTS) + 1))


@pytest.mark.skipif(importlib.util.find_spec("ray") is None, reason="ray is not installed (requirements.txt pins it)")
def test_ray_local_cluster_matches_serial(serial):
    seen = []
    out = run_sweep(POINTS, jobs=2, backend="ray", progress=lambda done, total: seen.append(done))
    assert out == serial
    assert sorted(seen) == list(range(1, len(POINTS) + 1))


def test_cli_jobs_give_the_same_csv():
    args = [sys.executable, "-m", "sim", "sweep", "--policies", "static,continuous", "--rates", "1,4",
            "--seeds", "2", "--requests", "120", "--csv"]
    one = subprocess.run(args + ["--jobs", "1"], capture_output=True, text=True, check=True)
    two = subprocess.run(args + ["--jobs", "2", "--progress"], capture_output=True, text=True, check=True)
    assert one.stdout == two.stdout and one.stdout.count("\n") == 9
    assert "8/8 points" in two.stderr and "8/8 points" not in one.stderr  # no bar unless asked (not a tty)


def test_terminal_bar_lines():
    import io
    buf = io.StringIO()
    bar = TerminalBar(buf)
    for i in range(1, 21):
        bar(i, 20)
    lines = buf.getvalue().splitlines()
    assert len(lines) == 11 and lines[-1].startswith("sweep [" + "#" * 30 + "] 20/20 points")


def test_bad_backend_and_jobs(capsys):
    from sim.cli import main
    assert main(["sweep", "--jobs", "0", "--requests", "10"]) == 2
    assert "jobs" in capsys.readouterr().err
    with pytest.raises(ConfigError, match="backend"):
        run_sweep(POINTS[:1], backend="dask")


def test_ray_missing_is_one_line_naming_backend(monkeypatch, capsys):
    from sim.cli import main
    monkeypatch.setitem(sys.modules, "ray", None)  # as if not installed: import raises ImportError
    assert main(["sweep", "--backend", "ray", "--requests", "10", "--rates", "1", "--seeds", "1",
                 "--policies", "static"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: backend: ray is not installed") and "pip install ray==" in err
    assert err.count("\n") == 1
    from sim.sweep import RAY_PIN
    root = __import__("os").path.dirname(__import__("os").path.dirname(__file__))
    assert RAY_PIN in open(f"{root}/requirements-dev.txt").read().split()  # the message names the pinned version


def test_large_runs_lift_the_request_limit_only_inside(capsys):
    from sim.cli import main
    from sim.errors import ConfigError
    from sim.limits import MAX_REQUESTS, MAX_REQUESTS_LARGE, large_runs, max_requests
    assert main(["run", "--requests", str(MAX_REQUESTS + 1)]) == 2
    assert f"{MAX_REQUESTS:,}" in capsys.readouterr().err
    assert main(["run", "--large", "--requests", str(MAX_REQUESTS_LARGE + 1)]) == 2
    assert "requests" in capsys.readouterr().err
    with large_runs():
        assert max_requests() == MAX_REQUESTS_LARGE
        scenario("chat", requests=MAX_REQUESTS + 1).validate()  # builds and validates, runs nothing
    assert max_requests() == MAX_REQUESTS
    with pytest.raises(ConfigError):
        scenario("chat", requests=MAX_REQUESTS + 1).validate()
