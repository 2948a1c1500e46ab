"""Run configuration: one frozen, hashable dataclass (so pages can cache on it) plus scenario presets.

A scenario is a workload preset together with the engine settings that make its lesson visible
(``book-example`` needs an engine that holds 3 sequences; ``fragmentation`` needs a small cache).
Command-line flags and page widgets override a scenario field by field.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields, replace

from sim import workload as wl
from sim.batching import STRATEGIES
from sim.cost_model import HARDWARE, MODELS, kv_capacity_tokens
from sim.errors import ConfigError, number, show, whole
from sim.files import load_json, load_yaml, read_text
from sim.kv_memory import KV_MANAGERS
from sim.limits import MAX_RATE_PER_S, MAX_SCENARIO_BYTES, MIN_RATE_PER_S, max_requests
from sim.preemption import PREEMPT_MODES
from sim.queue_order import ORDERS
from sim.trace_files import load_trace, trace_workload

# The registries (name -> class, each class with its summary) are the policy modules' own; config reads
# only their names. They are small leaf modules: importing them builds no scheduler or engine.
MEMORIES = tuple(KV_MANAGERS)  # kept for callers that list the names


@dataclass(frozen=True)
class SimConfig:
    """Everything that determines a run; same config -> identical trace."""

    workload: wl.WorkloadConfig = field(default_factory=lambda: wl.PRESETS["chat"])
    policy: str = "continuous"  # batching strategy: static, continuous, prefill-first, chunked, disaggregated
    order: str = "fcfs"  # queue order: fcfs, priority, sjf, edf, aging, custom
    expr: str = ""  # the custom order's expression (smaller value = more urgent)
    aging_step_s: float = 5.0  # aging: seconds of waiting that improve priority by one level
    preempt: str = "recompute"  # none, recompute, swap
    memory: str = "paged"  # paged or contiguous KV memory
    block_size: int = 16  # tokens per KV block (paged)
    max_batch: int = 64  # most sequences in the running batch of one engine
    token_budget: int = 512  # chunked: tokens per pass; disaggregated prefill engine: prompt tokens per pass
    # Most tokens one forward pass may compute (prompt tokens + one per decode), for every iteration-level
    # strategy: vLLM's max_num_batched_tokens, whose defaults run from 2,048 to 16,384 by release and entry
    # point. Without it a continuous engine with a backlog prefills ~90k tokens in one pass.
    max_batched_tokens: int = 8192
    kv_capacity_tokens: int | None = None  # None = what fits after the weights on the hardware
    model: str = "llama-3-8b"
    hardware: str = "a100-80gb"
    reorg_s: float | None = None  # per join/leave cost override (C4); None = the model's default
    overhead_s: float | None = None  # per pass fixed cost override; None = the model's default
    prefill_engines: int = 1  # disaggregated only
    decode_engines: int = 1  # disaggregated only
    link_gb_per_s: float = 25.0  # disaggregated: KV transfer bandwidth between engines, GB/s (1e9 bytes)
    seed: int = 0
    record_iterations: bool = True  # keep the per-iteration trace (timelines); off for benchmarks
    record_layout: bool = False  # also keep the KV block map at every iteration (memory page)
    linear_cost: object = None  # a fitted LinearCost for tiny-cpu (calibration); None = defaults

    def validate(self) -> None:
        """Every field checked in one place: its type (a boolean is not a number), a finite range, and
        whether the model and the KV cache fit the hardware. One ConfigError names the first bad field."""
        for name, allowed in (("policy", tuple(STRATEGIES)), ("order", tuple(ORDERS)),
                              ("preempt", tuple(PREEMPT_MODES)), ("memory", tuple(KV_MANAGERS)),
                              ("model", tuple(MODELS)), ("hardware", tuple(HARDWARE))):
            v = getattr(self, name)
            if not isinstance(v, str) or v not in allowed:
                raise ConfigError(name, f"unknown value {show(v)}; choose one of {', '.join(allowed)}")
        for name, lo, hi in (("block_size", 1, 4096), ("max_batch", 1, 4096), ("token_budget", 1, 1_000_000),
                             ("max_batched_tokens", 1, 1_000_000),
                             ("prefill_engines", 1, 16), ("decode_engines", 1, 16), ("seed", 0, 2**32 - 1)):
            whole(name, getattr(self, name), lo, hi)
        for name, lo, hi, unit in (("aging_step_s", 1e-6, 1e6, "seconds"), ("link_gb_per_s", 0.01, 10_000, "GB/s")):
            number(name, getattr(self, name), lo, hi, unit)
        for name in ("reorg_s", "overhead_s"):
            if getattr(self, name) is not None:
                number(name, getattr(self, name), 0, 10, "seconds")
        if not isinstance(self.expr, str) or len(self.expr) > 10_000:
            raise ConfigError("expr", f"must be text (an expression), got {show(self.expr)}")
        for name in ("record_iterations", "record_layout"):
            if not isinstance(getattr(self, name), bool):
                raise ConfigError(name, f"must be true or false, got {show(getattr(self, name))}")
        if self.linear_cost is not None and type(self.linear_cost).__name__ != "LinearCost":
            raise ConfigError("linear_cost", "is set by calibration, not in a scenario file")
        if not isinstance(self.workload, wl.WorkloadConfig):
            raise ConfigError("workload", f"must be a preset name or a trace file path, got {show(self.workload)}")
        # The weights must fit whether or not the KV capacity is given; a given capacity must fit beside them.
        model, hw = MODELS[self.model], HARDWARE[self.hardware]
        fits = kv_capacity_tokens(model, hw)
        if self.kv_capacity_tokens is not None:
            v = self.kv_capacity_tokens
            whole("kv_capacity", v, 1, 100_000_000)
            if self.hardware != "tiny-cpu" and v > fits:
                raise ConfigError("kv_capacity", f"{v:,} tokens do not fit: {model.name} on {hw.count} x {hw.name} "
                                                 f"leaves room for {fits:,} tokens after the weights")
            if "block_size" in KV_MANAGERS[self.memory].knobs and v < self.block_size:
                raise ConfigError("kv_capacity", f"{v} tokens is less than one block of {self.block_size}")
        self.workload.validate()

    def to_dict(self) -> dict:
        """JSON-friendly view (the ``config`` object of ``--json``)."""
        out = {}
        for f in fields(self):
            v = getattr(self, f.name)
            if f.name == "workload":
                out["workload"] = v.name
                out["requests"] = len(v.script) if v.arrival == "scripted" else v.n_requests
                out["arrival"] = v.arrival
                out["rate_per_s"] = None if v.arrival in ("backlog", "scripted") else v.rate_per_s
            elif f.name == "linear_cost":
                continue
            else:
                out[f.name] = v
        return out


# Scenario presets: the workload plus the engine settings its lesson needs.
SCENARIOS: dict[str, dict] = {
    "chat": {},
    "summarization": {"policy": "chunked"},
    "legal-archive": {"max_batch": 32},
    # Chunked prefill with a small budget keeps decode gaps under the interactive 50 ms TBT goal, so the
    # queue order (not prefill stalls) decides who meets its goals.
    "hybrid-service": {"order": "priority", "max_batch": 32, "kv_capacity_tokens": 60_000, "policy": "chunked",
                       "token_budget": 256},
    "three-long-one-short": {"max_batch": 4},
    "book-example": {"max_batch": 3},
    "many-tiny": {"reorg_s": 0.002},
    "fragmentation": {"kv_capacity_tokens": 12_000, "memory": "contiguous"},
}


def scenario(name: str, requests: int | None = None, rate_per_s: float | None = None, **overrides) -> SimConfig:
    """A scenario preset with field overrides (``None`` values are ignored); ``requests`` and
    ``rate_per_s`` resize or speed up its workload."""
    if name not in SCENARIOS:
        raise ConfigError("scenario", f"unknown scenario {name!r}; choose one of {', '.join(SCENARIOS)}")
    base = dict(SCENARIOS[name])
    base["workload"] = resolve_workload(name, requests, rate_per_s)
    base.update({k: v for k, v in overrides.items() if v is not None})
    return build(base)


def build(values: dict) -> SimConfig:
    """SimConfig from a dict (a scenario file's contents), rejecting unknown keys by name."""
    known = {f.name for f in fields(SimConfig)}
    for k in values:
        if k not in known:
            raise ConfigError(k, f"unknown setting; known settings are {', '.join(sorted(known))}")
    cfg = SimConfig(**values)
    cfg.validate()
    return cfg


def load_scenario_file(path: str) -> dict:
    """Read a YAML or JSON scenario: top-level settings plus optional ``workload`` (a preset name or a trace
    file) and ``requests`` / ``rate_per_s`` overrides. Returns a dict for ``build``. The file goes through
    sim.files (size before reading, UTF-8, YAML aliases and nesting counted before construction)."""
    text = read_text(path, "scenario", MAX_SCENARIO_BYTES, "scenario file")
    if path.lower().endswith(".json"):
        data = load_json(text, "scenario", "the scenario file")
    else:
        data = load_yaml(text, "scenario", "the scenario file")
    if not isinstance(data, dict):
        raise ConfigError("scenario", "a scenario file must hold a mapping of setting: value")
    for k in data:
        if not isinstance(k, str):
            raise ConfigError("scenario", f"setting names must be text, got {show(k)}")
    data = dict(data)
    wname = data.pop("workload", "chat")
    if not isinstance(wname, str):
        raise ConfigError("workload", f"must be a preset name or a trace file path, got {show(wname)}")
    n = data.pop("requests", None)
    rate = data.pop("rate_per_s", None)
    base = dict(SCENARIOS.get(wname, {}))
    base.update(data)
    base["workload"] = resolve_workload(wname, n, rate, strict=True)
    return base


def resolve_workload(name: str, n_requests: int | None = None, rate_per_s: float | None = None,
                     strict: bool = False) -> wl.WorkloadConfig:
    """A preset name or a trace file path, with request-count and rate overrides.

    ``strict`` (the command line and scenario files, where the learner typed the override) refuses an
    override the workload cannot honour, rather than ignoring it: a rate for a backlog or scripted
    workload, more requests than a scripted one has. Pages pass their sliders' values and say on the page
    what applies, so they call it without ``strict``.
    """
    if not isinstance(name, str):
        raise ConfigError("workload", f"must be a preset name or a trace file path, got {show(name)}")
    if name in wl.PRESETS:
        w = wl.PRESETS[name]
    elif name.lower().endswith((".csv", ".jsonl", ".ndjson", ".json")):
        w = trace_workload(load_trace(name), name=name)
    else:
        w = wl.preset(name)  # raises the 'unknown preset' message
    if n_requests is not None:
        whole("requests", n_requests, 1, max_requests())
    if rate_per_s is not None:
        number("rate", rate_per_s, MIN_RATE_PER_S, MAX_RATE_PER_S, "requests per second")
    if strict:
        check_overrides(w, n_requests, rate_per_s)
    return wl.with_overrides(w, n_requests=n_requests, rate_per_s=None if rate_per_s is None else float(rate_per_s))


def resolve_workload_overrides(w: wl.WorkloadConfig, n_requests: int | None,
                               rate_per_s: float | None) -> wl.WorkloadConfig:
    """``w`` (a scenario file's workload) with command-line overrides, checked as ``resolve_workload``'s."""
    if n_requests is not None:
        whole("requests", n_requests, 1, max_requests())
    if rate_per_s is not None:
        number("rate", rate_per_s, MIN_RATE_PER_S, MAX_RATE_PER_S, "requests per second")
    check_overrides(w, n_requests, rate_per_s)
    return wl.with_overrides(w, n_requests=n_requests, rate_per_s=None if rate_per_s is None else float(rate_per_s))


def check_overrides(w: wl.WorkloadConfig, n_requests: int | None, rate_per_s: float | None) -> None:
    """Refuse a request count or rate that the workload ``w`` would silently ignore."""
    if rate_per_s is not None and w.arrival in ("backlog", "scripted"):
        what = "a standing backlog at t = 0" if w.arrival == "backlog" else "fixed (scripted) arrival times"
        raise ConfigError("rate", f"the {w.name} workload has {what}, so a rate does not apply; rates apply to "
                                  f"{', '.join(n for n, p in wl.PRESETS.items() if p.arrival in ('poisson', 'gamma'))}")
    if n_requests is not None and w.arrival == "scripted" and n_requests > len(w.script):
        raise ConfigError("requests", f"the {w.name} workload has {len(w.script):,} fixed requests; "
                                      f"--requests can keep the first 1 to {len(w.script):,} of them")


def with_changes(cfg: SimConfig, **changes) -> SimConfig:
    new = replace(cfg, **changes)
    new.validate()
    return new
