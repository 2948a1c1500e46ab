"""``python -m sim bench``: the simulator's speed targets, each timed beside the CPU yardstick.

A figure is never a bare time: on a shared machine single timings vary by 2x. Each target is a whole
process (imports included, bytecode cached as Python does by default) run in pairs with the yardstick
process ``python -c "sum(i*i for i in range(10**7))"`` (Y B Y B ...), and the table shows the median of
the per-pair ratios, by wall clock and by CPU time (user + system of the process and the workers it
waited for), with the process's peak memory. The 1-minute load average is printed before and after. The
``engine`` column says which engine each ``sim run`` row takes (``compiled`` or ``python``, as
``sim.fastpath`` chooses; ``BATCH_LAB_ENGINE`` reaches the children), and the kernel's caches (numba's,
and ``sim.native``'s object file) are built before the first pair, so the rows time a warm compiled engine.

Targets (issue 15): ``sim run`` of 10,000 chat requests at 2 and 12 requests/s, ``continuous`` <= 0.5 Y,
every other strategy <= 0.8 Y; ``--million``: 1,000,000 requests at 12/s <= 25 Y and <= 1 GB peak (with
the memory at 10k and 100k beside it); ``--sweep``: 5 policies x 10 rates x 3 seeds x 2,000 requests
with ``--jobs 1`` and ``--jobs 2``, the speed-up paired run by run (>= 1.8 on 2 cores).

``--baseline DIR`` times a change: every target also runs from another checkout of the repository (a
directory holding ``sim/``, e.g. ``git archive main | tar -x -C DIR``), inside the same pairs (Y, this
tree, DIR), and a column gives the median of this tree's time over DIR's, run by run.
"""

from __future__ import annotations

import hashlib
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass, field

YARDSTICK = (sys.executable, "-c", "sum(i*i for i in range(10**7))")
# Run once before the pairs: bytecode compiled, and the compiled engine's on-disk caches built (a checkout
# from before the compiled engine has no sim.fastpath).
WARM = ("import sim.cli, sim.engine\ntry:\n    from sim.fastpath import warm\nexcept ImportError:\n    warm = None\n"
        "if warm:\n    warm()")
SWEEP_GRID = ("--policies", "static,continuous,prefill-first,chunked,disaggregated",
              "--rates", "1,2,3,4,5,6,8,10,12,16", "--seeds", "3", "--requests", "2000")


@dataclass
class Timing:
    wall_s: float
    cpu_s: float
    peak_mb: float


@dataclass
class Target:
    label: str
    argv: tuple
    limit_y: float | None = None  # target, in yardsticks (wall)
    limit_mb: float | None = None
    repeat: int | None = None  # pairs for this target (None: --repeat); the long rows take --long-repeat
    group: str = ""  # targets of one group run in turns, pair by pair (Y A Y B, Y A Y B, ...)
    outputs: set = field(default_factory=set)  # hashes of what the group's runs printed (sweeps: same table?)
    engine: str = ""  # sim run targets: the engine the run takes (sim.fastpath's choice), "" for the rest
    pairs: list = field(default_factory=list)  # (yardstick Timing, target Timing)
    base: list = field(default_factory=list)  # the same target run from --baseline's checkout, pair by pair

    def ratio(self, attr: str) -> float:
        return statistics.median(getattr(t, attr) / getattr(y, attr) for y, t in self.pairs)

    def command(self) -> str:
        return "python " + " ".join(self.argv[1:])


def _env() -> dict:
    # Children run as Python runs by default: with bytecode cached (a shell that sets PYTHONDONTWRITEBYTECODE
    # would otherwise make every child compile sim/ from source again).
    return {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}


def time_process(argv, cwd: str | None = None, outputs: set | None = None) -> Timing:
    """Wall time, CPU time and peak resident memory of one whole process (os.wait4's own rusage);
    ``cwd``: where ``python -m sim`` finds its ``sim/`` (default: this process's directory); ``outputs``:
    add a hash of what it printed."""
    t0 = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL if outputs is None else subprocess.PIPE,
                            stderr=subprocess.PIPE, env=_env(), cwd=cwd)
    if outputs is not None:  # the sweep's CSV: small, read before stderr (a bar on stderr is small too)
        outputs.add(hashlib.sha256(proc.stdout.read()).hexdigest())
    err = proc.stderr.read()
    _, status, ru = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        lines = err.decode(errors="replace").strip().splitlines() or ["(no message)"]
        raise RuntimeError(f"{' '.join(argv[1:])} failed: {lines[-1]}")
    return Timing(wall, ru.ru_utime + ru.ru_stime, ru.ru_maxrss / 1024)  # ru_maxrss is in KiB on Linux


def run_targets(targets: list[Target], repeat: int, out=sys.stdout, baseline: str | None = None) -> None:
    """Y T Y T ... for each target, ``repeat`` pairs (Y T B ... with a baseline checkout); a progress
    line per pair on stderr."""
    groups: dict = {}
    for t in targets:
        groups.setdefault(t.group or t.label, []).append(t)
    for group in groups.values():
        n = group[0].repeat or repeat
        for i in range(n):
            for t in group:
                y = time_process(YARDSTICK)
                t.pairs.append((y, time_process(t.argv, outputs=t.outputs if t.group else None)))
                if baseline and t.repeat is None:  # the long rows are not run twice
                    t.base.append(time_process(t.argv, cwd=baseline))
                print(f"  {t.label}: pair {i + 1}/{n}", file=sys.stderr, flush=True)


def sim_run(policy: str, requests: int, rate: float, *extra: str) -> tuple:
    return (sys.executable, "-m", "sim", "run", "--policy", policy, "--requests", str(requests),
            "--rate", f"{rate:g}", *extra)


def engine_of(argv: tuple) -> str:
    """Which engine a ``python -m sim run ...`` target's process runs on: sim.fastpath's choice on the same
    config, made in a child process of its own (BATCH_LAB_ENGINE reaches it unchanged). Not here: deciding
    links the kernel (llvmlite) and packs the request stream, and Linux starts a child's peak-memory count
    (ru_maxrss) from its parent's size at fork, so a parent grown by the decision would inflate every row's
    peak MB."""
    code = "import sys; from sim.bench import decide_engine; print(decide_engine(tuple(sys.argv[1:])))"
    out = subprocess.run((sys.executable, "-c", code, *argv), capture_output=True, text=True, env=_env(),
                         check=True)
    return out.stdout.strip().splitlines()[-1]


def decide_engine(argv: tuple) -> str:
    """sim.fastpath's engine for the ``python -m sim run ...`` command ``argv`` (run by ``engine_of``)."""
    from contextlib import nullcontext

    from sim import fastpath
    from sim.cli import config_from_args, parser
    from sim.limits import large_runs
    args = parser().parse_args(list(argv[3:]))
    with large_runs() if args.large else nullcontext():
        return fastpath.engine_for(config_from_args(args, record_iterations=False))


def build_targets(args, policies) -> list[Target]:
    targets = []
    for p in policies:
        for rate in (2.0, args.heavy_rate):
            limit = 0.5 if p == "continuous" else 0.8
            targets.append(Target(f"sim run {p}, {args.requests:,} chat requests, {rate:g}/s",
                                  sim_run(p, args.requests, rate), limit))
    if args.million:
        for n in (10_000, 100_000, 1_000_000):
            targets.append(Target(f"sim run continuous, {n:,} chat requests, 12/s",
                                  sim_run("continuous", n, 12.0, "--large"), 25.0 if n == 1_000_000 else None,
                                  1000.0 if n == 1_000_000 else None, repeat=args.long_repeat))
    for t in targets:
        t.engine = engine_of(t.argv)
    if args.sweep:
        base = (sys.executable, "-m", "sim", "sweep", *SWEEP_GRID, "--csv")
        for jobs in ("1", "2"):
            targets.append(Target(f"sim sweep 5x10x3 x 2,000 requests, --jobs {jobs}", base + ("--jobs", jobs),
                                  repeat=args.long_repeat, group="sweep"))
    return targets


def report(targets: list[Target], out=sys.stdout) -> None:
    w = max(len(t.label) for t in targets)
    based = any(t.base for t in targets)
    print(f"{'target':<{w}}  {'engine':<8} {'wall/Y':>7} {'CPU/Y':>7} {'peak MB':>8}  {'Y wall s':>8} {'wall s':>7}  "
          + (f"{'base/Y':>7} {'vs base':>7} {'CPU vs':>7}  " if based else "") + "goal", file=out)
    for t in targets:
        goal = []
        if t.limit_y is not None:
            goal.append(f"<= {t.limit_y:g} Y {'ok' if t.ratio('wall_s') <= t.limit_y else 'MISSED'}")
        peak = max(p[1].peak_mb for p in t.pairs)
        if t.limit_mb is not None:
            goal.append(f"<= {t.limit_mb:,.0f} MB {'ok' if peak <= t.limit_mb else 'MISSED'}")
        ywall = statistics.median(y.wall_s for y, _ in t.pairs)
        twall = statistics.median(x.wall_s for _, x in t.pairs)
        vs = ""
        if based and t.base:  # this tree over the baseline checkout, pair by pair (and the baseline over Y)
            vs = (f"{statistics.median(b.wall_s / y.wall_s for (y, _), b in zip(t.pairs, t.base)):>7.2f} "
                  f"{statistics.median(x.wall_s / b.wall_s for (_, x), b in zip(t.pairs, t.base)):>7.2f} "
                  f"{statistics.median(x.cpu_s / b.cpu_s for (_, x), b in zip(t.pairs, t.base)):>7.2f}  ")
        print(f"{t.label:<{w}}  {t.engine or '-':<8} {t.ratio('wall_s'):>7.2f} {t.ratio('cpu_s'):>7.2f} {peak:>8.0f}  "
              f"{ywall:>8.2f} "
              f"{twall:>7.2f}  {vs}{', '.join(goal)}", file=out)
    sweeps = [t for t in targets if t.label.startswith("sim sweep")]
    if len(sweeps) == 2:
        one, two = sweeps
        speedup = statistics.median(a.wall_s / b.wall_s for (_, a), (_, b) in zip(one.pairs, two.pairs))
        same = len(one.outputs | two.outputs) == 1
        print(f"sweep speed-up, --jobs 2 over --jobs 1 (median of paired runs): {speedup:.2f}x  goal >= 1.8x "
              f"{'ok' if speedup >= 1.8 else 'MISSED'}; tables {'identical' if same else 'DIFFER'} in all "
              f"{len(one.pairs) + len(two.pairs)} runs", file=out)
    print(f"commands: {targets[0].command()} ... (python -m sim bench --help lists the options)", file=out)


def main(args) -> int:
    from sim.batching import POLICIES
    from sim.errors import ConfigError, number, whole
    from sim.limits import MAX_RATE_PER_S, MAX_REQUESTS, MIN_RATE_PER_S
    whole("requests", args.requests, 1, MAX_REQUESTS)  # checked once here, not in failing children
    number("heavy-rate", args.heavy_rate, MIN_RATE_PER_S, MAX_RATE_PER_S, "requests per second")
    whole("repeat", args.repeat, 1, 99)
    whole("long-repeat", args.long_repeat, 1, 99)
    policies = POLICIES
    if args.only:
        policies = tuple(p for p in args.only.split(",") if p)
        for p in policies:
            if p not in POLICIES:
                raise ConfigError("only", f"unknown policy {p!r}; choose from {', '.join(POLICIES)}")
    baseline = args.baseline
    if baseline and not os.path.isfile(os.path.join(baseline, "sim", "__main__.py")):
        raise ConfigError("baseline", f"{baseline!r} holds no sim/ package (give a checkout of the repository)")
    for cwd in (None, baseline) if baseline else (None,):  # compile once (bytecode, the kernel's caches)
        subprocess.run([sys.executable, "-c", WARM], env=_env(), check=False, cwd=cwd)
    targets = build_targets(args, policies)
    load0 = os.getloadavg()[0]
    run_targets(targets, args.repeat, baseline=baseline)
    print(f"{os.cpu_count()} CPUs; 1-minute load average {load0:.1f} before, {os.getloadavg()[0]:.1f} after; "
          f"Y = the whole process python -c 'sum(i*i for i in range(10**7))'; {args.repeat} pairs per target "
          f"({args.long_repeat} for the million and sweep rows), "
          "medians of the pairs' ratios" + (f"; base = the same commands run from {baseline}" if baseline else ""))
    report(targets)
    return 0
