"""Run configuration: one frozen, hashable dataclass (so pages can cache on it) plus scenario presets.

A scenario is a workload preset together with the engine settings that make its lesson visible
(``book-example`` needs an engine that holds 3 sequences; ``fragmentation`` needs a small cache).
Command-line flags and page widgets override a scenario field by field.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, fields, replace

from sim import workload as wl
from sim.batching import STRATEGIES
from sim.cost_model import HARDWARE, MODELS
from sim.errors import ConfigError
from sim.kv_memory import KV_MANAGERS
from sim.preemption import PREEMPT_MODES
from sim.queue_order import ORDERS

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
        def one_of(name, value, allowed):
            if value not in allowed:
                raise ConfigError(name, f"unknown value {value!r}; choose one of {', '.join(allowed)}")
        one_of("policy", self.policy, STRATEGIES)
        one_of("order", self.order, ORDERS)
        one_of("preempt", self.preempt, PREEMPT_MODES)
        one_of("memory", self.memory, KV_MANAGERS)
        one_of("model", self.model, tuple(MODELS))
        one_of("hardware", self.hardware, tuple(HARDWARE))
        for name, lo, hi in (("block_size", 1, 4096), ("max_batch", 1, 4096), ("token_budget", 1, 1_000_000),
                             ("prefill_engines", 1, 16), ("decode_engines", 1, 16)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or not lo <= v <= hi:
                raise ConfigError(name, f"must be a whole number from {lo} to {hi:,}, got {v!r}")
        if self.kv_capacity_tokens is not None:
            v = self.kv_capacity_tokens
            if isinstance(v, bool) or not isinstance(v, int) or not 1 <= v <= 100_000_000:
                raise ConfigError("kv_capacity", f"must be a whole number of tokens from 1 to 100,000,000, got {v!r}")
            if self.memory == "paged" and v < self.block_size:
                raise ConfigError("kv_capacity", f"{v} tokens is less than one block of {self.block_size}")
        if not (0 < self.link_gb_per_s <= 10_000 and math.isfinite(self.link_gb_per_s)):
            raise ConfigError("link_gb_per_s", f"must be between 0 and 10,000 GB/s, got {self.link_gb_per_s}")
        if not (0 < self.aging_step_s and math.isfinite(self.aging_step_s)):
            raise ConfigError("aging_step_s", f"must be > 0 seconds, got {self.aging_step_s}")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not 0 <= self.seed < 2**32:
            raise ConfigError("seed", f"must be a whole number from 0 to 2^32 - 1, got {self.seed!r}")
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
    """Read a YAML or JSON scenario: top-level settings plus optional ``workload`` (a preset name) and
    ``requests`` / ``rate_per_s`` overrides. Returns a dict for ``build``."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read(1_000_001)
    except OSError as e:
        raise ConfigError("scenario", f"cannot read {path!r}: {e.strerror}") from None
    if len(text) > 1_000_000:
        raise ConfigError("scenario", "scenario file is larger than 1 MB")
    if path.lower().endswith(".json"):
        try:
            data = json.loads(text)
        except json.JSONDecodeError as e:
            raise ConfigError("scenario", f"not valid JSON (line {e.lineno}): {e.msg}") from None
    else:
        import yaml  # only scenario files need it
        try:
            data = yaml.safe_load(text)
        except yaml.YAMLError as e:
            raise ConfigError("scenario", f"not valid YAML: {str(e).splitlines()[0]}") from None
    if not isinstance(data, dict):
        raise ConfigError("scenario", "a scenario file must hold a mapping of setting: value")
    data = dict(data)
    wname = data.pop("workload", "chat")
    if not isinstance(wname, str):
        raise ConfigError("workload", "must be a preset name or a trace file path")
    n = data.pop("requests", None)
    rate = data.pop("rate_per_s", None)
    base = dict(SCENARIOS.get(wname, {}))
    base.update(data)
    base["workload"] = resolve_workload(wname, n, rate)
    return base


def resolve_workload(name: str, n_requests: int | None = None, rate_per_s: float | None = None) -> wl.WorkloadConfig:
    """A preset name or a trace file path, with request-count and rate overrides."""
    if name in wl.PRESETS:
        w = wl.PRESETS[name]
    elif name.lower().endswith((".csv", ".jsonl", ".ndjson", ".json")):
        w = wl.trace_workload(wl.load_trace(name), name=name)
    else:
        w = wl.preset(name)  # raises the 'unknown preset' message
    if n_requests is not None and (isinstance(n_requests, bool) or not isinstance(n_requests, int) or n_requests < 1):
        raise ConfigError("requests", f"must be a whole number >= 1, got {n_requests!r}")
    if rate_per_s is not None and (isinstance(rate_per_s, bool) or not isinstance(rate_per_s, (int, float))):
        raise ConfigError("rate", f"must be a number of requests per second, got {rate_per_s!r}")
    return wl.with_overrides(w, n_requests=n_requests, rate_per_s=None if rate_per_s is None else float(rate_per_s))


def with_changes(cfg: SimConfig, **changes) -> SimConfig:
    new = replace(cfg, **changes)
    new.validate()
    return new
