"""Command line for instructors, scripts and checks: ``python -m sim run | sweep | cost | bench | validate``.

Bad input of any kind prints one message naming the field (and row) on stderr and exits with status 2.
"""

from __future__ import annotations

import argparse
import json
import sys

from sim.batching import POLICIES, STRATEGIES
from sim.config import SCENARIOS, build, load_scenario_file, resolve_workload, resolve_workload_overrides, scenario
from sim.cost_model import HARDWARE, MODELS
from sim.errors import ConfigError, number, show, whole
from sim.files import check_output, write_atomic
from sim.kv_memory import KV_MANAGERS
from sim.limits import (LIMITS_HELP, MAX_RATE_PER_S, MAX_REQUESTS, MAX_REQUESTS_LARGE, MAX_SWEEP_POINTS,
                        MAX_SWEEP_REQUESTS, MIN_RATE_PER_S)
from sim.metrics import METRIC_KEYS
from sim.preemption import PREEMPT_MODES
from sim.queue_order import EXPR_FIELDS, ORDERS
from sim.trace import requests_csv
from sim.workload import PRESETS


def _whole_number(text: str) -> int:
    try:
        v = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {_arg(text)}") from None
    return v


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {_arg(text)}") from None


def _arg(text: str) -> str:
    return repr(text) if len(text) <= 30 else f"{len(text):,} characters"


def _summaries(registry: dict) -> str:
    """'name = summary; ...' from a policy registry (each class carries its one-line summary). argparse
    expands '%' in help texts, so a summary's '%' is doubled."""
    return "; ".join(f"{name} = {cls.summary}" for name, cls in registry.items()).replace("%", "%%")


def add_config_flags(p: argparse.ArgumentParser, policy_default: str | None = None) -> None:
    g = p.add_argument_group("scheduling policy")
    g.add_argument("--policy", choices=tuple(STRATEGIES), default=policy_default,
                   help="batching strategy: " + _summaries(STRATEGIES))
    g.add_argument("--order", choices=tuple(ORDERS),
                   help="queue order for admission and preemption (lower = more urgent): " + _summaries(ORDERS))
    g.add_argument("--expr", help="custom order's expression over: " + ", ".join(EXPR_FIELDS)
                   + "; functions min, max, abs, log, sqrt (e.g. 'priority * 10 + prompt_tokens / 1000')")
    g.add_argument("--aging-step", type=_number, dest="aging_step_s",
                   help="aging order: seconds of waiting that improve the priority by one level")
    g.add_argument("--preempt", choices=tuple(PREEMPT_MODES), help="preemption mode: " + _summaries(PREEMPT_MODES))
    g.add_argument("--memory", choices=tuple(KV_MANAGERS), help="KV memory manager: " + _summaries(KV_MANAGERS))
    g.add_argument("--block-size", type=_whole_number, help="tokens per KV block (paged memory)")
    g.add_argument("--max-batch", type=_whole_number, help="most sequences in one engine's running batch")
    g.add_argument("--token-budget", type=_whole_number,
                   help="chunked: tokens per forward pass; disaggregated: prompt tokens per prefill pass")
    g.add_argument("--max-batched-tokens", type=_whole_number,
                   help="most tokens one forward pass computes (prompt tokens + one per decode), for every "
                        "iteration-level strategy (all but static), like vLLM's max_num_batched_tokens; "
                        "default 8192. Prompts that do not fit wait for the next pass; a prompt longer "
                        "than the cap is prefilled cap tokens at a time")
    g = p.add_argument_group("workload")
    g.add_argument("--workload", help="preset (" + ", ".join(PRESETS) + ") or a trace file (.csv or .jsonl "
                   "with arrival_s, prompt_tokens, output_tokens and optional id, priority, class, deadline_s)")
    g.add_argument("--requests", type=_whole_number, help="number of requests to generate (at most 100,000); "
                   "a scripted workload keeps its first N requests")
    g.add_argument("--rate", type=_number, help="arrival rate in requests per second, 0.001 to 1,000,000 "
                   "(Poisson/gamma presets; refused for backlog and scripted ones)")
    g.add_argument("--seed", type=_whole_number, help="random seed; same config + seed = identical trace")
    g.add_argument("--predictor-noise", type=_number,
                   help="sjf: sigma of log-normal noise on the predicted output length (0 = perfect predictor)")
    g = p.add_argument_group("engine and hardware")
    g.add_argument("--model", choices=tuple(MODELS), help="model preset (published config.json numbers)")
    g.add_argument("--hardware", choices=tuple(HARDWARE), help="accelerator preset (datasheet numbers)")
    g.add_argument("--kv-capacity", type=_whole_number, dest="kv_capacity_tokens",
                   help="KV cache size in tokens (default: what fits after the weights)")
    g.add_argument("--reorg-ms", type=_number, help="cost per sequence joining or leaving the batch, in ms (C4)")
    g.add_argument("--prefill-engines", type=_whole_number, help="disaggregated: number of prefill engines")
    g.add_argument("--decode-engines", type=_whole_number, help="disaggregated: number of decode engines")
    g.add_argument("--link-gbps", type=_number, dest="link_gb_per_s",
                   help="disaggregated: KV transfer bandwidth between engines in GB/s (1e9 bytes/s)")


CONFIG_FLAGS = ("policy", "order", "expr", "aging_step_s", "preempt", "memory", "block_size", "max_batch",
                "token_budget", "max_batched_tokens", "seed", "model", "hardware", "kv_capacity_tokens", "prefill_engines",
                "decode_engines", "link_gb_per_s")


def config_from_args(args, **extra):
    """Scenario (preset name or YAML/JSON file) + flags -> validated SimConfig."""
    name = getattr(args, "scenario", None) or "chat"
    if name in SCENARIOS:
        values = dict(SCENARIOS[name])
        wname = args.workload or name
    elif name.lower().endswith((".yaml", ".yml", ".json")):
        values = load_scenario_file(name)
        wname = args.workload
    else:
        raise ConfigError("scenario", f"unknown scenario {name!r}; choose one of {', '.join(SCENARIOS)} "
                                      "or give a .yaml/.json scenario file")
    for flag in CONFIG_FLAGS:
        v = getattr(args, flag, None)
        if v is not None:
            values[flag] = v
    if getattr(args, "reorg_ms", None) is not None:
        values["reorg_s"] = args.reorg_ms / 1000.0
    noise = getattr(args, "predictor_noise", None)
    if wname is not None or args.requests is not None or args.rate is not None or noise is not None:
        base = values.get("workload")
        if wname is not None:
            values["workload"] = resolve_workload(wname, args.requests, args.rate, strict=True)
        else:
            values["workload"] = resolve_workload_overrides(base, args.requests, args.rate)
        if noise is not None:
            from dataclasses import replace
            values["workload"] = replace(values["workload"], predictor_noise=noise)
    order = values.get("order")
    if isinstance(order, str) and "expr" in getattr(ORDERS.get(order), "knobs", ()) and not values.get("expr"):
        raise ConfigError("expr", f"--order {values['order']} needs --expr, e.g. --expr 'priority * 10 + prompt_tokens / 1000'")
    values.update(extra)
    return build(values)


def _fmt(key: str, v) -> str:
    if v is None:
        return "-"
    if key.endswith("_s") and not key.endswith("per_s"):
        return f"{v * 1e3:,.1f} ms" if v < 10 else f"{v:,.2f} s"
    if isinstance(v, float):
        return f"{v:,.3f}"
    return f"{v:,}"


def _table(metrics: dict, by_class: dict) -> str:
    classes = list(by_class) if len(by_class) > 1 else []
    head = ["metric", "all"] + classes
    rows = [head]
    for k in METRIC_KEYS:
        rows.append([k, _fmt(k, metrics.get(k))] + [_fmt(k, by_class[c].get(k)) for c in classes])
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    return "\n".join("  ".join(c.ljust(w) if i == 0 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
                     for r in rows)


def _inputs(args) -> tuple[str, ...]:
    """The files a run reads (an output may not overwrite one of them)."""
    return tuple(p for p in (getattr(args, "scenario", None), getattr(args, "workload", None)) if p)


def cmd_run(args) -> int:
    from sim.engine import simulate
    if args.trace_out is not None:  # refuse a bad output path before the run, not after it
        check_output(args.trace_out, "trace-out", _inputs(args))
    if args.iterations_out is not None:
        check_output(args.iterations_out, "iterations-out", _inputs(args))
        if args.trace_out is not None and args.iterations_out == args.trace_out:
            raise ConfigError("iterations-out", "must name a different file than --trace-out")
        if args.large:
            raise ConfigError("iterations-out", "a --large run is untraced (one row per request per pass "
                                                "would not fit); drop one of the two")
    from contextlib import nullcontext

    from sim.limits import large_runs
    with large_runs() if args.large else nullcontext():  # the limit is checked while building and running
        # The iteration log needs every pass planned and recorded (the fast path skips decode-only
        # stretches; its metrics agree to ~1e-9 relative).
        cfg = config_from_args(args, record_iterations=args.iterations_out is not None)
        res = simulate(cfg)
    if args.trace_out is not None:
        write_atomic(args.trace_out, requests_csv(res.requests), "trace-out", _inputs(args))
    if args.iterations_out is not None:
        from sim.iteration_log import iterations_csv
        write_atomic(args.iterations_out, iterations_csv(res), "iterations-out", _inputs(args))
    if args.json:
        print(json.dumps({"config": cfg.to_dict(), "metrics": res.metrics, "by_class": res.by_class}))
    else:
        w = cfg.workload
        print(f"scenario {w.name}: {len(res.requests)} requests; policy {cfg.policy}, order {cfg.order}, "
              f"preempt {cfg.preempt}, memory {cfg.memory}; {cfg.model} on {cfg.hardware}, "
              f"KV cache {res.kv_capacity_tokens:,} tokens")
        print(_table(res.metrics, res.by_class))
        # The compiled engine keeps its results as columns (sim.fastpath.RequestTable): scan them only if needed.
        rejected = [r for r in res.requests if r.rejected_reason] if res.metrics["rejected"] else []
        if rejected:
            print(f"\n{len(rejected)} rejected, e.g. {rejected[0].id}: {rejected[0].rejected_reason}")
    return 0


def cmd_sweep(args) -> int:
    if len(args.policies) > 1000 or len(args.rates) > 10_000:
        raise ConfigError("policies" if len(args.policies) > 1000 else "rates", "the list is too long")
    policies = args.policies.split(",")
    for p in policies:
        if p not in POLICIES:
            raise ConfigError("policies", f"unknown policy {show(p)}; choose from {', '.join(POLICIES)}")
    try:
        rates = [float(x) for x in args.rates.split(",")]
    except ValueError:
        raise ConfigError("rates", f"expected comma-separated numbers, got {show(args.rates)}") from None
    for r in rates:
        number("rates", r, MIN_RATE_PER_S, MAX_RATE_PER_S, "requests per second")
    whole("seeds", args.seeds, 1, MAX_SWEEP_POINTS)
    points = len(policies) * len(rates) * args.seeds
    if points > MAX_SWEEP_POINTS:
        raise ConfigError("sweep", f"{len(policies)} policies x {len(rates)} rates x {args.seeds} seeds = "
                                   f"{points:,} runs; at most {MAX_SWEEP_POINTS} per sweep")
    first = config_from_args(_with(args, policy=policies[0], rate=rates[0], seed=0), record_iterations=False)
    n = len(first.workload.script) if first.workload.arrival == "scripted" else first.workload.n_requests
    if points * n > MAX_SWEEP_REQUESTS:
        raise ConfigError("sweep", f"{points:,} runs x {n:,} requests = {points * n:,} requests; at most "
                                   f"{MAX_SWEEP_REQUESTS:,} per sweep")
    from sim.sweep import TerminalBar, run_sweep
    if args.jobs is not None:
        whole("jobs", args.jobs, 1, 1024)
    grid = [(p, rate, seed) for p in policies for rate in rates for seed in range(args.seeds)]
    # Each point's config (seed included) is built here, so a point's result is the same whichever
    # process or node runs it.
    configs = [config_from_args(_with(args, policy=p, rate=rate, seed=seed), record_iterations=False)
               for p, rate, seed in grid]
    show_bar = args.progress if args.progress is not None else sys.stderr.isatty()
    results = run_sweep(configs, jobs=args.jobs, backend=args.backend, address=args.address,
                        progress=TerminalBar() if show_bar else None)
    cols = ["policy", "rate_per_s", "seed"] + list(METRIC_KEYS)
    rows = [[p, rate, seed] + [m.get(k) for k in METRIC_KEYS] for (p, rate, seed), m in zip(grid, results)]
    if args.csv:
        print("\n".join([",".join(cols)] + [",".join("" if v is None else str(v) for v in r) for r in rows]))
    else:
        shown = ["policy", "rate_per_s", "seed", "throughput_tokens_per_s", "ttft_p50_s", "ttft_p99_s",
                 "tbt_p99_s", "e2e_p50_s", "stalls"]
        idx = [cols.index(c) for c in shown]
        table = [shown] + [[_fmt(cols[i], r[i]) if i > 2 else str(r[i]) for i in idx] for r in rows]
        widths = [max(len(t[i]) for t in table) for i in range(len(shown))]
        for t in table:
            print("  ".join(c.rjust(w) for c, w in zip(t, widths)))
    return 0


def _with(args, **changes):
    import copy
    out = copy.copy(args)
    for k, v in changes.items():
        setattr(out, k, v)
    return out


def cmd_bench(args) -> int:
    from sim.bench import main as bench_main
    return bench_main(args)


COST_FLAGS = ("prefill", "cached", "decode", "context")


def cmd_cost(args) -> int:
    """Price one pass with a preset pair and print its parts (``--json``: the keys of PassCost.as_ms)."""
    from sim.cost_model import price_pass
    counts = {}
    for flag in COST_FLAGS:
        text = getattr(args, flag)
        try:
            counts[flag] = int(text)
        except ValueError:
            raise ConfigError(flag, f"expected a whole number of tokens, got {text!r}") from None
    p = price_pass(args.model, args.hardware, **counts)
    if args.json:
        print(json.dumps(p.as_ms()))
        return 0
    what = []
    if counts["prefill"]:
        what.append(f"a prompt chunk of {counts['prefill']:,} tokens"
                    + (f" on {counts['cached']:,} cached" if counts["cached"] else ""))
    if counts["decode"]:
        what.append(f"{counts['decode']:,} decoding sequences at {counts['context']:,} tokens of context")
    print(f"One pass of {args.model} on {args.hardware}: {' and '.join(what)}")
    linear_note = (f"compute {p.linear_compute_s * 1e3:.2f} ms, weights read {p.linear_memory_s * 1e3:.2f} ms"
                   if p.linear_memory_s else "")
    if p.linear_fixed_s:
        linear_note += f", kernels' least time {p.linear_fixed_s * 1e3:.2f} ms"
    rows = [("linear layers", p.linear_s, linear_note),
            ("attention", p.attention_s, f"compute {p.attention_compute_s * 1e3:.2f} ms, KV read "
                                         f"{p.attention_memory_s * 1e3:.2f} ms" if p.attention_memory_s else ""),
            ("KV-cache write", p.kv_write_s, "K and V of the new tokens" if p.kv_write_s else
             "priced inside the per-token and per-sequence terms"),
            ("CPU overhead", p.overhead_s, "scheduling, inputs, sampling, outputs"),
            ("pass", p.total_s, f"bound: {p.bound}")]
    for name, v, note in rows:
        print(f"  {name:<15}{v * 1e3:>10.2f} ms   {note}")
    return 0


def cmd_validate(args) -> int:
    from sim.real.validate import main as validate_main
    return validate_main(args)


def _bench_parser(sub) -> None:
    b = sub.add_parser("bench", help="time the simulator's speed targets beside the CPU yardstick (ratios)")
    b.add_argument("--requests", type=_whole_number, default=10_000, help="requests per run")
    b.add_argument("--heavy-rate", type=_number, default=12.0, help="arrival rate of the heavy load, requests/s")
    b.add_argument("--repeat", type=_whole_number, default=3, help="pairs (yardstick, target) per target")
    b.add_argument("--only", default="", metavar="POLICIES", help="comma-separated strategies (default: all)")
    b.add_argument("--million", action="store_true",
                   help="also 10,000, 100,000 and 1,000,000 continuous requests (time and peak memory)")
    b.add_argument("--sweep", action="store_true",
                   help="also the 5 policies x 10 rates x 3 seeds x 2,000 requests sweep, --jobs 1 and 2")
    b.add_argument("--long-repeat", type=_whole_number, default=1, metavar="N",
                   help="pairs for the --million and --sweep rows (default 1: a million requests take minutes)")
    b.add_argument("--baseline", metavar="DIR", default=None,
                   help="also run every target from another checkout of the repository (DIR holds sim/), in "
                        "the same pairs, and print this tree's time over DIR's (median, run by run)")
    b.set_defaults(func=cmd_bench)


def _sweep_parser(sub) -> None:
    s = sub.add_parser("sweep", help="run a grid of policies x arrival rates over several seeds", epilog=LIMITS_HELP)
    s.add_argument("scenario", nargs="?", help="scenario preset or file; default chat")
    add_config_flags(s)
    s.add_argument("--policies", default="static,continuous,chunked", help="comma-separated policies")
    s.add_argument("--rates", default="1,2,4,8", help="comma-separated arrival rates in requests/s")
    s.add_argument("--seeds", type=_whole_number, default=3, help="seeds per grid point")
    s.add_argument("--csv", action="store_true", help="print CSV with every metric instead of a table")
    s.add_argument("--jobs", type=_whole_number, default=None, metavar="N",
                   help="grid points run in N worker processes at once (default: all cores; 1 = serial, "
                        "in this process); results are identical whatever N")
    s.add_argument("--backend", choices=("joblib", "ray"), default="joblib",
                   help="joblib = processes on this machine; ray = a Ray cluster (--address, or a local one "
                        "of N worker slots started for this sweep)")
    s.add_argument("--address", default=None, help="ray: address of an existing cluster, e.g. 'auto' or "
                   "'ray://head:10001' (default: start a local one)")
    s.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar on stderr (default: when stderr is a terminal)")
    s.set_defaults(func=cmd_sweep)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m sim", description="Batch Lab's LLM inference scheduling simulator. "
                                "Times are reported in seconds (JSON) or ms (tables).")
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run one scenario and print its metrics", epilog=LIMITS_HELP)
    r.add_argument("scenario", nargs="?", help="scenario preset (" + ", ".join(SCENARIOS) + ") or a .yaml/.json "
                   "file of settings; default chat")
    add_config_flags(r)
    r.add_argument("--json", action="store_true", help="print one JSON object: config, metrics, by_class")
    r.add_argument("--trace-out", metavar="FILE", help="write one CSV row per request to FILE")
    r.add_argument("--iterations-out", metavar="FILE",
                   help="write the iteration log to FILE: one CSV row per request per iteration (iteration, "
                        "engine, start_s, end_s, request_id, action, tokens); actions prefill, decode, waiting, "
                        "preempted, finished, padding")
    r.add_argument("--large", action="store_true", help=f"allow up to {MAX_REQUESTS_LARGE:,} generated requests "
                   f"(default limit {MAX_REQUESTS:,}; a million chat requests take about 0.85 GB and minutes)")
    r.set_defaults(func=cmd_run)
    _sweep_parser(sub)
    _bench_parser(sub)
    c = sub.add_parser("cost", help="price one forward pass with a model and hardware preset, part by part")
    c.add_argument("--model", required=True, help="model preset: " + ", ".join(MODELS))
    c.add_argument("--hardware", required=True, help="hardware preset: " + ", ".join(HARDWARE))
    c.add_argument("--prefill", default="0", metavar="P", help="prompt tokens computed in the pass (one chunk)")
    c.add_argument("--cached", default="0", metavar="C", help="tokens of that prompt already cached (chunked prefill)")
    c.add_argument("--decode", default="0", metavar="B", help="decoding sequences in the pass (one token each)")
    c.add_argument("--context", default="0", metavar="X", help="KV tokens each decoding sequence has cached")
    c.add_argument("--json", action="store_true",
                   help="print one JSON object: pass_ms, linear_ms, attention_ms, kv_write_ms, overhead_ms, bound")
    c.set_defaults(func=cmd_cost)
    v = sub.add_parser("validate", help="run one workload through the simulator and the real torch model")
    v.add_argument("--policy", choices=POLICIES[:4], default="continuous", help="batching strategy to validate")
    v.add_argument("--requests", type=_whole_number, default=50, help="number of requests")
    v.add_argument("--seed", type=_whole_number, default=0, help="random seed")
    v.add_argument("--rate", type=_number, default=None, metavar="R",
                   help="Poisson arrivals at R requests/s (default: every request waiting at t = 0)")
    v.add_argument("--recalibrate", action="store_true", help="fit the tiny-cpu cost model again first")
    v.add_argument("--json", action="store_true", help="print one JSON object: simulated, measured, error")
    v.add_argument("--clock", choices=("wall", "cpu"), default="wall",
                   help="time each pass by wall clock (time.perf_counter) or, on a shared CPU, by the compute "
                        "thread's CPU time (steadier when other programs compete for the cores)")
    v.add_argument("--pass-repeats", type=_whole_number, default=None, metavar="N",
                   help="time each real pass N times, once as the run goes and in N-1 replays of the whole run, "
                        "and keep the median (1-9; default 3, as calibration keeps each shape's median). With "
                        "--rate, passes are timed once: plans there depend on time, so a replay's clock would differ")
    v.add_argument("--repeat", type=_whole_number, default=1, metavar="N",
                   help="run the whole validation N times (1-20; each after the first calibrates around itself) and "
                        "report every error's median and range; --json: 'error' holds the medians, "
                        "'error_spread' median/min/max per key, 'runs' each run's errors")
    v.set_defaults(func=cmd_validate)
    return p


def main(argv: list[str] | None = None) -> int:
    p = parser()
    args = p.parse_args(argv)
    try:
        return args.func(args)
    except ConfigError as e:
        if args.func is cmd_cost:  # name the flag as typed
            print(f"error: --{e.field}: {e.reason}", file=sys.stderr)
        else:
            print(f"error: {e}", file=sys.stderr)
        return 2
    except ImportError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except BrokenPipeError:  # `sim sweep --csv | head`: the reader has all it wants; leave quietly
        _quiet_stdout()
        return 0


def _quiet_stdout() -> None:
    """After a broken pipe, point stdout at /dev/null so the interpreter's final flush raises nothing."""
    import os
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
