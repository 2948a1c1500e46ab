"""Sweeps: a grid of run configurations simulated serially, in local processes (joblib) or on a Ray cluster.

Every grid point is a complete ``SimConfig`` (its seed included), built once by the caller, so a point's
result depends on nothing but its config: the serial, joblib and Ray backends give the same table, in grid
order, whatever the number of workers or the order in which points finish. Workers return only the
metrics dict (a few hundred bytes), never the per-request records.

``run_sweep(configs, jobs=None, backend="joblib", address=None, progress=None)`` is the entry point;
``progress(done, total)`` is called after each finished point (the terminal bar and the page's
``st.progress`` both hang off it). joblib and ray are imported only when a backend needs them.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence

from sim.errors import ConfigError, show

BACKENDS = ("joblib", "ray")
RAY_PIN = "ray==2.60.0"  # as requirements-dev.txt pins it: an optional dependency of the app


def default_jobs() -> int:
    """All cores this process may use (the scheduler affinity mask where the OS has one)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


def run_point(cfg) -> dict:
    """One grid point: simulate ``cfg`` without a trace and return its metrics (what a worker sends back)."""
    from dataclasses import replace

    from sim.engine import simulate
    if cfg.record_iterations:
        cfg = replace(cfg, record_iterations=False)
    return simulate(cfg).metrics


def run_sweep(configs: Sequence, jobs: int | None = None, backend: str = "joblib", address: str | None = None,
              progress: Callable[[int, int], None] | None = None) -> list[dict]:
    """Metrics of every config, in the order given. ``jobs`` = worker processes (None = all cores;
    1 = serial in this process, whatever the backend unless ``address`` names a Ray cluster)."""
    if backend not in BACKENDS:
        raise ConfigError("backend", f"unknown backend {show(backend)}; choose one of {', '.join(BACKENDS)}")
    jobs = default_jobs() if jobs is None else jobs
    configs = list(configs)
    if backend == "ray":
        return _run_ray(configs, jobs, address, progress)
    if jobs <= 1 or len(configs) <= 1:
        return _run_serial(configs, progress)
    return _run_joblib(configs, jobs, progress)


def _run_serial(configs, progress) -> list[dict]:
    out = []
    for cfg in configs:
        out.append(run_point(cfg))
        if progress:
            progress(len(out), len(configs))
    return out


def _run_joblib(configs, jobs, progress) -> list[dict]:
    from joblib import Parallel, delayed
    # loky: fresh worker processes (no fork of a process that may hold threads); results come back in
    # grid order as a generator, so progress is reported as points finish in order.
    par = Parallel(n_jobs=min(jobs, len(configs)), backend="loky", return_as="generator", batch_size=1,
                   pre_dispatch="2*n_jobs")
    out = []
    for metrics in par(delayed(run_point)(cfg) for cfg in configs):
        out.append(metrics)
        if progress:
            progress(len(out), len(configs))
    return out


def _sim_dir() -> str:
    return os.path.dirname(os.path.abspath(__file__))


def _run_ray(configs, jobs, address, progress) -> list[dict]:
    try:
        import ray
    except ImportError:
        raise ConfigError("backend", f"ray is not installed; install it with: pip install {RAY_PIN} "
                                     "(every node of a cluster needs the same version)") from None
    started = False
    if not ray.is_initialized():
        # The workers import this package from a copy Ray ships to every node, so a cluster whose nodes
        # do not have Batch Lab installed runs the sweep too.
        env = {"py_modules": [_sim_dir()]}
        if address:
            ray.init(address=address, runtime_env=env, log_to_driver=False)
        else:  # a local cluster of `jobs` worker slots, started here and stopped when done
            ray.init(num_cpus=max(1, jobs), runtime_env=env, include_dashboard=False, log_to_driver=False,
                     configure_logging=False)
        started = True
    try:
        remote = ray.remote(num_cpus=1)(run_point)
        pending = {remote.remote(cfg): i for i, cfg in enumerate(configs)}
        out: list = [None] * len(configs)
        done = 0
        while pending:
            ready, _ = ray.wait(list(pending), num_returns=1)
            for ref in ready:
                out[pending.pop(ref)] = ray.get(ref)
                done += 1
                if progress:
                    progress(done, len(configs))
        return out
    finally:
        if started:
            ray.shutdown()


class TerminalBar:
    """A one-line progress bar on stderr (``progress`` callback): points done, elapsed and remaining time.
    Redrawn in place on a terminal; elsewhere (a log file) one line per tenth of the sweep."""

    def __init__(self, stream=None, width: int = 30):
        self.stream = stream or sys.stderr
        self.width = width
        self.t0 = time.perf_counter()
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.last_tenth = -1

    def __call__(self, done: int, total: int) -> None:
        elapsed = time.perf_counter() - self.t0
        left = elapsed / done * (total - done) if done else 0.0
        fill = int(self.width * done / total) if total else self.width
        line = (f"sweep [{'#' * fill}{'.' * (self.width - fill)}] {done}/{total} points, "
                f"{elapsed:.1f} s elapsed, ~{left:.0f} s left")
        if self.tty:
            self.stream.write("\r" + line + ("\n" if done == total else ""))
        else:
            tenth = done * 10 // total if total else 10
            if tenth == self.last_tenth:
                return
            self.last_tenth = tenth
            self.stream.write(line + "\n")
        self.stream.flush()
