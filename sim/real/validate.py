"""Validation: one workload through the simulator and through the real tiny model; how far apart they are.

``python -m sim validate [--policy P] [--requests N] [--seed S] [--rate R] [--recalibrate] [--repeat N] [--json]``
(DESIGN.md section 6). Steps: run the workload with the simulator's scheduler on the real model
(``sim.real.executor``; each pass's time is the median of its timing in the run and in replays of the
whole run, see PASS_REPEATS), fit the ``tiny-cpu`` cost model to this machine with timings right before,
during (short pauses off the run's clock) and right after that run (``sim.real.calibrate``; a cached fit is
reused only if it is younger than ``FIT_MAX_AGE_S``, because a shared CPU drifts by 20-30% over minutes),
simulate the same workload with the fit, and compare.

Errors, all in percent of the measured value:

* ``e2e_median_abs_pct`` / ``ttft_median_abs_pct``: per request |simulated - measured| / measured, median
  over requests (requests are matched by id);
* ``tbt_p50_abs_pct``, ``makespan_abs_pct``: the run-level metric's error;
* ``iteration_mape_pct``: the cost model applied to the measured run's exact batch shapes against the
  measured pass times (mean absolute % error). These passes were never part of the calibration, so this
  is a held-out test of the cost model alone, free of the way errors compound along a schedule.

``--repeat N`` runs the whole validation N times (each calibrated around itself) and reports every
error cell's median and range (smallest to largest): on a shared CPU one run's error is one draw, and
the range says how far to trust it.

Next to them, ``amplification`` says how much of a per-request error the workload itself can produce
from a small uniform timing error (queueing near saturation, static batch boundaries).
"""

from __future__ import annotations

import json
import statistics
import time
from dataclasses import dataclass, field

import numpy as np

from sim.config import SimConfig, build
from sim.engine import simulate
from sim.errors import ConfigError
from sim.trace import SimResult
from sim.workload import LengthDist, RequestClass, WorkloadConfig

FIT_MAX_AGE_S = 120.0  # reuse a cached fit only this fresh: the machine's speed drifts over minutes
BRACKET_ROUNDS = 1  # calibration rounds (every shape timed once) right before and right after the run
PAUSE_EVERY = 8  # during the measured run and its replays, a short calibration pause after every 8th pass ...
PAUSE_SHAPES = 4  # ... timing the next 4 calibration shapes (about 25 ms, off the run's clock)
# 50 requests take 20-25 s on a 2-core CPU, calibration included, 400 a few minutes; the replays keep every
# sequence's KV cache until the end (about 1 MB per request of the validation workload).
MAX_REQUESTS = 400
ERROR_KEYS = ("e2e_median_abs_pct", "ttft_median_abs_pct", "tbt_p50_abs_pct", "makespan_abs_pct",
              "iteration_mape_pct")
VALIDATION_POLICIES = ("continuous", "prefill-first", "chunked", "static")
MAX_BATCH = 16  # small enough that requests queue, so the policies differ
# Each measured pass is timed PASS_REPEATS times: once as the run goes, then in replays of the whole run
# (``real_executor.replay``), and the median is kept, as calibration keeps each shape's median. On a shared
# CPU a burst of other programs' load (+40% for ~0.2 s) hits one of the timings, not all three; timed once,
# a pass carried whichever burst it met, which made the measured makespan 2-3% longer than a fit of
# medians and decided the p99 TBT of chunked batching (its passes are all alike: a burst is its tail).
PASS_REPEATS = 3
TOKEN_BUDGET = 64  # chunked: a few decodes plus a prompt chunk per pass (decode-prioritized)
# By default every request is waiting at t = 0 (a backlog, like the legal-archive scenario): the plans then
# never depend on time, so the run can be replayed pass for pass, and every policy works from a queue.
# With Poisson arrivals (``--rate``) near the service rate (25-40 requests/s here), queueing amplifies a
# small timing error into a large per-request one, and under static batching a boundary that moves by a few
# ms changes which requests share a batch (``amplification`` measures this: a 3% change in every pass moved
# static's per-request end-to-end latency by up to 35% at 60 req/s, by 3% with a backlog).
RATE_PER_S = None  # None: backlog
MIN_RATE, MAX_RATE = 1.0, 10_000.0  # below 1 req/s a run is mostly idle waiting


def arrivals(rate_per_s: float | None) -> str:
    return "all waiting at t = 0" if rate_per_s is None else f"arriving as a Poisson stream at {rate_per_s:g} req/s"


def workload(n_requests: int = 50, rate_per_s: float | None = RATE_PER_S) -> WorkloadConfig:
    """Chat-like requests sized for the tiny model: prompts 16..256 tokens, outputs 8..64 tokens; all
    waiting at t = 0 or, with ``rate_per_s``, arriving as a Poisson stream."""
    backlog = rate_per_s is None
    return WorkloadConfig(
        name="tiny-chat", n_requests=n_requests, arrival="backlog" if backlog else "poisson",
        rate_per_s=1.0 if backlog else rate_per_s,  # a backlog has no rate; the field just needs a valid one
        classes=(RequestClass("chat", 0, 1.0, LengthDist("lognormal", median=64, sigma=0.8, low=16, high=256),
                              LengthDist("lognormal", median=24, sigma=0.6, low=8, high=64),
                              ttft_slo_s=0.25, tbt_slo_s=0.05),),
        description=f"{n_requests} chat-like requests, {arrivals(rate_per_s)}; "
                    "prompts log-normal (median 64, 16..256 tokens), outputs log-normal (median 24, 8..64 tokens).",
        look_for="Simulated and measured timelines should line up; the policies should rank the same way.")


def config(policy: str, n_requests: int, seed: int, linear_cost=None,
           rate_per_s: float | None = RATE_PER_S) -> SimConfig:
    if policy not in VALIDATION_POLICIES:
        raise ConfigError("policy", f"validation runs {', '.join(VALIDATION_POLICIES)}; got {policy!r}")
    if not 1 <= n_requests <= MAX_REQUESTS:
        raise ConfigError("requests", f"must be from 1 to {MAX_REQUESTS} for a real-model run, got {n_requests}")
    if rate_per_s is not None and not (isinstance(rate_per_s, (int, float)) and MIN_RATE <= rate_per_s <= MAX_RATE):
        raise ConfigError("rate", f"must be from {MIN_RATE:g} to {MAX_RATE:g} requests/s for a real-model run, "
                                  f"got {rate_per_s!r}")
    return build(dict(workload=workload(n_requests, rate_per_s), policy=policy, model="tiny", hardware="tiny-cpu",
                      max_batch=MAX_BATCH, token_budget=TOKEN_BUDGET, seed=seed, linear_cost=linear_cost))


@dataclass
class Validation:
    """Both runs, the fit that priced the simulated one, and the errors."""

    simulated: SimResult
    measured: SimResult
    fit: object  # sim.real.calibrate.Fit
    device: str
    errors: dict
    iteration_predicted_s: list  # cost model on each measured pass's shape
    iteration_measured_s: list
    seconds: float  # wall time of the whole validation
    clock: str = "wall"  # how passes were timed (sim.real.executor.CLOCKS)
    pass_repeats: int = PASS_REPEATS  # each measured pass: the median of this many timings (run + replays)
    rate_per_s: float | None = RATE_PER_S  # the workload's arrival rate (None: a backlog)
    amplification: dict = field(default_factory=dict)  # see amplification(): key -> % from a uniform 3% error

    def to_json(self) -> dict:
        from dataclasses import asdict
        from sim.real.calibrate import COEFFS
        cost = self.fit.cost
        return {"simulated": self.simulated.metrics, "measured": self.measured.metrics, "error": self.errors,
                "device": self.device, "clock": self.clock,
                "fit": {**{k: getattr(cost, k) for k in COEFFS}, "r2": self.fit.r2,
                        "heldout_mape_pct": self.fit.heldout_mape_pct, "shapes": self.fit.n_fit + self.fit.n_heldout,
                        "calibration_s": self.fit.seconds, "fitted_on": cost.fitted_on},
                "config": {"policy": self.simulated.config.policy, "requests": len(self.simulated.requests),
                           "seed": self.simulated.config.seed, "max_batch": MAX_BATCH, "token_budget": TOKEN_BUDGET,
                           "rate_per_s": self.rate_per_s, "pass_repeats": self.pass_repeats,
                           "workload": asdict(self.simulated.config.workload)["description"]},
                "amplification": {"uniform_error_pct": AMPLIFICATION_PCT, **self.amplification},
                "seconds": self.seconds}


def _pct(sim: float | None, real: float | None) -> float | None:
    if sim is None or real is None or real == 0:
        return None
    return abs(sim - real) / abs(real) * 100.0


def errors(sim: SimResult, real: SimResult, predicted: list, measured: list) -> dict:
    by_id = {r.id: r for r in sim.requests}
    e2e, ttft = [], []
    for r in real.requests:
        s = by_id.get(r.id)
        if s is None or not r.completed or not s.completed:
            continue
        e2e.append(_pct(s.e2e_s, r.e2e_s))
        ttft.append(_pct(s.ttft_s, r.ttft_s))
    p, m = np.asarray(predicted, dtype=float), np.asarray(measured, dtype=float)
    return {
        "e2e_median_abs_pct": float(np.median([x for x in e2e if x is not None])) if e2e else None,
        "ttft_median_abs_pct": float(np.median([x for x in ttft if x is not None])) if ttft else None,
        "tbt_p50_abs_pct": _pct(sim.metrics["tbt_p50_s"], real.metrics["tbt_p50_s"]),
        "makespan_abs_pct": _pct(sim.metrics["makespan_s"], real.metrics["makespan_s"]),
        "iteration_mape_pct": float(np.mean(np.abs(p - m) / m) * 100) if len(m) else None,
    }


AMPLIFICATION_PCT = 3.0  # the uniform timing error whose effect ``amplification`` reports
AMPLIFIED_KEYS = ("e2e_median_abs_pct", "ttft_median_abs_pct", "makespan_abs_pct")


def amplification(policy: str, n_requests: int, seed: int, cost, rate_per_s: float | None = RATE_PER_S,
                  base: SimResult | None = None) -> dict:
    """What a small, uniform timing error does to the errors above on this workload: the simulator
    against itself, with every pass AMPLIFICATION_PCT % slower and then faster than ``cost`` says; the
    larger error of the two, per key. Near the service rate, queueing turns a few % per pass into many %
    per request, and static batching can move a request into another batch; this says how much of a
    validation's per-request error such amplification can explain."""
    base = base or simulate(config(policy, n_requests, seed, cost, rate_per_s))
    out = dict.fromkeys(AMPLIFIED_KEYS, 0.0)
    for sign in (1, -1):
        other = simulate(config(policy, n_requests, seed, cost.scaled(1 + sign * AMPLIFICATION_PCT / 100),
                                rate_per_s))
        e = errors(other, base, [], [])
        for k in AMPLIFIED_KEYS:
            out[k] = max(out[k], e[k] or 0.0)
    return out


def _median_of_replays(cfg, model, real_run, repeats: int, clock: str, between, say):
    """Replay the measured run ``repeats - 1`` times (every pass again on its caches as they were) and lay
    the same plans on each pass's median timing (see PASS_REPEATS)."""
    from sim.real.executor import execute, replay
    timings = [real_run.durations_s]
    for r in range(repeats - 1):
        say(0.6 + 0.15 * r / (repeats - 1), f"replaying the run: every pass timed again ({r + 1} of {repeats - 1})")
        timings.append(replay(model, real_run, clock, between))
    typical = [statistics.median(t) for t in zip(*timings)]
    tokens = real_run.tokens
    laid = execute(cfg, model, clock=clock, timings=(real_run.shapes, typical))  # lets the caches go
    laid.tokens = tokens
    return laid


def run_validation(policy: str = "continuous", n_requests: int = 50, seed: int = 0, recalibrate: bool = False,
                   model=None, progress=None, fit_max_age_s: float | None = FIT_MAX_AGE_S,
                   clock: str = "wall", repeats: int = PASS_REPEATS,
                   rate_per_s: float | None = RATE_PER_S) -> Validation:
    """Calibrate (unless a fresh fit is cached), run for real, simulate, compare.

    A new calibration follows the measured run: a round of shapes right before it, PAUSE_SHAPES shapes in
    a pause after every PAUSE_EVERY-th pass of the run and its replays (off the run's clock), a round right
    after, one fit over all (``sim.real.calibrate.Session``), so slow drift of a shared machine affects the fit
    and the run alike. The fit never sees the run's own passes, and the simulation uses only the fit. (The
    measured run needs a cost model only to label generation stalls; it uses the fit from the first
    round.) With a backlog (the default), the run is replayed ``repeats - 1`` times (``_median_of_replays``);
    with ``rate_per_s`` its passes are timed once. ``progress(fraction, text)`` reports the stage."""
    config(policy, n_requests, seed, rate_per_s=rate_per_s)  # bad input fails here, before torch is imported
    if isinstance(repeats, bool) or not isinstance(repeats, int) or not 1 <= repeats <= 9:
        raise ConfigError("pass-repeats", f"must be a whole number from 1 to 9, got {repeats!r}")
    from sim.real import calibrate
    from sim.real.executor import effective_clock, execute, load_model
    from sim.real.model import describe_device
    t0 = time.perf_counter()
    say = progress or (lambda frac, text: None)
    say(0.0, "loading the tiny model")
    model = model or load_model()
    device, clock = describe_device(model.device), effective_clock(clock, model.device)  # GPU: the wall clock
    fit = None if recalibrate else calibrate.fresh(device, clock, fit_max_age_s)
    session = between = None
    if fit is None:
        say(0.05, "calibrating: timing batch shapes before the run")
        session = calibrate.Session(model, clock=clock)
        session.measure(BRACKET_ROUNDS)
        fit = session.fit()

        def between(passes: int) -> None:
            if passes % PAUSE_EVERY == 0:
                session.measure_next(PAUSE_SHAPES)
    say(0.4, "running the real model (with short calibration pauses)")
    cfg = config(policy, n_requests, seed, fit.cost, rate_per_s)
    if rate_per_s is not None:
        repeats = 1  # arrivals during the run: on the replays' median clock the scheduler would plan other passes
    real_run = execute(cfg, model, clock=clock, between=between, keep_work=repeats > 1,
                       progress=lambda done, total: say(0.4 + 0.2 * done / max(total, 1),
                                                        f"real model: {done}/{total} requests done"))
    if repeats > 1:
        real_run = _median_of_replays(cfg, model, real_run, repeats, clock, between, say)
    if session is not None:
        say(0.75, "calibrating: timing batch shapes after the run")
        session.measure(BRACKET_ROUNDS)
        fit = session.fit()
        try:
            calibrate.save(fit, device, clock)
        except OSError:
            pass  # a read-only home still gets a fit, just not a cached one
    say(0.95, "simulating")
    sim = simulate(config(policy, n_requests, seed, fit.cost, rate_per_s))  # the final fit, run and all
    predicted = [fit.cost.iteration_time(s) for s in real_run.shapes]
    errs = errors(sim, real_run.result, predicted, real_run.durations_s)
    amp = amplification(policy, n_requests, seed, fit.cost, rate_per_s, base=sim)
    say(1.0, "done")
    return Validation(sim, real_run.result, fit, real_run.device, errs, predicted, real_run.durations_s,
                      time.perf_counter() - t0, clock, repeats, rate_per_s, amp)


def ratios(runs: dict) -> dict:
    """Policy ratios the issue asks to hold (simulated vs measured): throughput continuous / static and
    p99 TBT chunked / prefill-first. ``runs`` maps policy -> Validation."""
    out = {}
    pairs = (("throughput continuous/static", "continuous", "static", "throughput_tokens_per_s"),
             ("p99 TBT chunked/prefill-first", "chunked", "prefill-first", "tbt_p99_s"))
    for name, a, b, key in pairs:
        if a in runs and b in runs:
            s = runs[a].simulated.metrics[key] / runs[b].simulated.metrics[key]
            m = runs[a].measured.metrics[key] / runs[b].measured.metrics[key]
            out[name] = {"simulated": s, "measured": m, "error_pct": abs(s - m) / m * 100}
    return out



MAX_REPEAT = 20  # --repeat: whole validations (each about 20-25 s for 50 requests on a small CPU)


def spread(values: list) -> dict:
    """Median and range of one error cell over repeated runs (None values, where a run had no such
    number, are left out): {"median", "min", "max", "runs"}."""
    vals = [float(v) for v in values if v is not None]
    if not vals:
        return {"median": None, "min": None, "max": None, "runs": 0}
    return {"median": statistics.median(vals), "min": min(vals), "max": max(vals), "runs": len(vals)}


def repeated(runs: list) -> dict:
    """Every error key's spread over ``runs`` (a list of Validation of the same policy and workload)."""
    return {k: spread([v.errors[k] for v in runs]) for k in ERROR_KEYS}


def fmt_spread(sp: dict, unit: str = "%") -> str:
    if sp["median"] is None:
        return "-"
    if sp["runs"] == 1:
        return f"{sp['median']:.1f}{unit}"
    return f"{sp['median']:.1f}{unit} ({sp['min']:.1f}-{sp['max']:.1f})"


def repeat_validation(policy: str, n_requests: int, seed: int, repeat: int, recalibrate: bool = False,
                      progress=None, **kw) -> list:
    """``repeat`` whole validations of one policy, one after another. Every run after the first
    calibrates around itself (a shared CPU drifts over the minutes the runs take, so a reused fit would
    widen the range with drift rather than with the run's own noise)."""
    if not isinstance(repeat, int) or isinstance(repeat, bool) or not 1 <= repeat <= MAX_REPEAT:
        raise ConfigError("repeat", f"must be a whole number from 1 to {MAX_REPEAT}, got {repeat!r}")
    say = progress or (lambda frac, text: None)
    runs = []
    for i in range(repeat):
        def part(frac, text, i=i):
            say((i + frac) / repeat, f"run {i + 1} of {repeat}: {text}" if repeat > 1 else text)
        runs.append(run_validation(policy, n_requests, seed, recalibrate=recalibrate or i > 0, progress=part, **kw))
    return runs

SHOW = (("makespan_s", "makespan"), ("throughput_tokens_per_s", "throughput (tokens/s)"),
        ("ttft_p50_s", "TTFT p50"), ("ttft_p99_s", "TTFT p99"), ("tbt_p50_s", "TBT p50"), ("tbt_p99_s", "TBT p99"),
        ("e2e_p50_s", "end-to-end p50"), ("e2e_p99_s", "end-to-end p99"), ("queue_p50_s", "queueing p50"),
        ("stalls", "generation stalls"), ("completed", "completed"))


def report(v: Validation, runs: list | None = None) -> str:
    """The run's table; with ``runs`` (repeated validations, ``v`` the last), each error cell's median and
    range over them too."""
    def fmt(key, x):
        if x is None:
            return "-"
        if key.endswith("_s") and not key.endswith("per_s"):
            return f"{x * 1e3:,.1f} ms"
        return f"{x:,.1f}" if isinstance(x, float) else f"{x:,}"

    lines = [f"device: {v.device} ({v.clock} clock)",
             f"cost model fit: R^2 {v.fit.r2:.3f}, held-out error {v.fit.heldout_mape_pct:.1f}% over "
             f"{v.fit.n_fit + v.fit.n_heldout} shapes ({v.fit.cost.fitted_on})",
             f"policy {v.simulated.config.policy}, {len(v.simulated.requests)} requests {arrivals(v.rate_per_s)}, "
             f"seed {v.simulated.config.seed}; each pass: the median of {v.pass_repeats} timing(s) (run + replays)",
             "", f"{'metric':<24}{'simulated':>14}{'measured':>14}{'error':>9}"]
    for key, label in SHOW:
        s, m = v.simulated.metrics.get(key), v.measured.metrics.get(key)
        e = _pct(s, m) if isinstance(s, (int, float)) and isinstance(m, (int, float)) else None
        lines.append(f"{label:<24}{fmt(key, s):>14}{fmt(key, m):>14}{'-' if e is None else f'{e:.1f}%':>9}")
    lines.append("")
    for k in ERROR_KEYS:
        x = v.errors[k]
        lines.append(f"{k:<24}{'-' if x is None else f'{x:.1f}%':>14}")
    if v.amplification:
        moved = ", ".join(f"{k.replace('_abs_pct', '')} {v.amplification[k]:.1f}%" for k in AMPLIFIED_KEYS)
        lines.append(f"\nOn this workload a uniform {AMPLIFICATION_PCT:g}% error in every pass would alone give: {moved}")
    if runs and len(runs) > 1:
        lines += ["", f"over {len(runs)} runs (each calibrated around itself): median (smallest-largest)"]
        for k, sp in repeated(runs).items():
            lines.append(f"{k:<24}{fmt_spread(sp):>26}")
        lines.append(f"\n({sum(r.seconds for r in runs):.1f} s for {len(runs)} runs, calibration included)")
        return "\n".join(lines)
    lines.append(f"\n({v.seconds:.1f} s including calibration)")
    return "\n".join(lines)


def main(args) -> int:
    """Entry point of ``python -m sim validate`` (wired in sim.cli)."""
    import importlib.util
    if importlib.util.find_spec("torch") is None:  # a clear message when it is missing, without importing it
        raise ConfigError("validate", "needs torch (pip install -r requirements.txt)")
    repeats, rate = getattr(args, "pass_repeats", None), getattr(args, "rate", None)
    runs = repeat_validation(args.policy, args.requests, args.seed, getattr(args, "repeat", 1), args.recalibrate,
                             clock=getattr(args, "clock", "wall"), repeats=PASS_REPEATS if repeats is None else repeats,
                             rate_per_s=rate)
    v = runs[-1]
    if args.json:
        out = v.to_json()
        if len(runs) > 1:
            # "error" holds each cell's median over the runs (the contract's keys); the spread beside it.
            spreads = repeated(runs)
            out["error"] = {k: sp["median"] for k, sp in spreads.items()}
            out["error_spread"] = spreads
            out["runs"] = [r.errors for r in runs]
        out["repeat"] = len(runs)
        print(json.dumps(out))
    else:
        print(report(v, runs))
    return 0


def accuracy_table(n_requests: int = 50, seed: int = 0, clock: str = "wall", repeat: int = 1,
                   pass_repeats: int = PASS_REPEATS, rate_per_s: float | None = RATE_PER_S) -> str:
    """All four policies, each calibrated around its own run, then the policy ratios: the issue's
    accuracy table. With ``repeat`` > 1 the whole table is measured that many times and a last table
    gives each cell's median, a fairer summary on a machine whose load comes in bursts.
    ``python -m sim.real.validate [--requests N] [--seed S] [--clock wall|cpu] [--repeat K]``."""
    from sim.real.executor import load_model
    model = load_model()
    cols = "".join(f"{k.replace('_abs_pct', '').replace('_pct', ''):>16}" for k in ERROR_KEYS)
    head = f"{'policy':<15}{'fit R^2':>8}{'fit err':>9}{cols}"
    tables, lines = [], []
    for rep in range(repeat):
        runs = {p: run_validation(p, n_requests, seed, recalibrate=True, model=model, clock=clock,
                                  repeats=pass_repeats, rate_per_s=rate_per_s)
                for p in VALIDATION_POLICIES}
        rows = {p: [v.fit.r2, v.fit.heldout_mape_pct] + [v.errors[k] for k in ERROR_KEYS] for p, v in runs.items()}
        rat = {name: [r["simulated"], r["measured"], r["error_pct"]] for name, r in ratios(runs).items()}
        tables.append((rows, rat))
        if rep == 0:
            lines.append(f"device {runs['continuous'].device}, {clock} clock, {n_requests} requests "
                         f"{arrivals(rate_per_s)}, seed {seed}; "
                         "errors in % of measured")
    for i, (rows, rat) in enumerate(tables):
        lines += ["", f"repeat {i + 1} of {repeat}", head]
        for p, r in rows.items():
            lines.append(f"{p:<15}{r[0]:>8.3f}{r[1]:>8.1f}%" + "".join(f"{x:>15.1f}%" for x in r[2:]))
        for name, (sim_r, real_r, err) in rat.items():
            lines.append(f"{name:<32} simulated {sim_r:.3f}  measured {real_r:.3f}  error {err:.1f}%")
    if repeat > 1:
        lines += ["", f"median (smallest-largest) over {repeat} repeats",
                  f"{'policy':<15}" + "".join(f"{k.replace('_abs_pct', '').replace('_pct', ''):>22}" for k in ERROR_KEYS)]
        for p in tables[0][0]:
            cells = [fmt_spread(spread([t[0][p][2 + j] for t in tables])) for j in range(len(ERROR_KEYS))]
            lines.append(f"{p:<15}" + "".join(f"{c:>22}" for c in cells))
        for name in tables[0][1]:
            lines.append(f"{name:<32} error {fmt_spread(spread([t[1][name][2] for t in tables]))}")
    return "\n".join(lines)


if __name__ == "__main__":
    import argparse
    ap = argparse.ArgumentParser(prog="python -m sim.real.validate", description=accuracy_table.__doc__)
    ap.add_argument("--requests", type=int, default=50)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--clock", choices=("wall", "cpu"), default="wall")
    ap.add_argument("--repeat", type=int, default=1, help="measure the whole table this many times")
    ap.add_argument("--pass-repeats", type=int, default=PASS_REPEATS, help="time each real pass as the median of "
                    "this many runs of it (see python -m sim validate --help)")
    ap.add_argument("--rate", type=float, default=RATE_PER_S, help="Poisson arrivals at this many requests/s "
                    "(default: all waiting at t = 0)")
    a = ap.parse_args()
    print(accuracy_table(a.requests, a.seed, a.clock, max(1, a.repeat), a.pass_repeats, a.rate))
