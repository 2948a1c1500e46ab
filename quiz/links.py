"""'Open in the simulator' links: the app's pages, the query parameters each reads, and their checks.

The page table is the agreed contract of the app (url_path -> query parameters the page understands); a
link is valid when its page is in the table, every parameter is one that page reads, and every value is
one the simulator accepts (a known scenario, policy, order, ...). ``link_configs`` turns a comparison
link into the simulator configurations it shows, so a claim like "continuous beats static on throughput"
can be checked by running exactly what the learner will see.
"""

from __future__ import annotations

from sim import SCENARIOS, ConfigError, SimConfig, scenario
from sim.batching import POLICIES
from sim.config import MEMORIES, resolve_workload
from sim.metrics import METRIC_KEYS
from sim.queue_order import ORDERS
from sim.scheduler import PREEMPT_MODES
from sim.workload import PRESETS

_PLAYGROUND = ("scenario", "policy", "order", "preempt", "memory", "rate", "requests", "max_batch", "budget",
               "kv", "expr", "seed")
_COMPARE = ("scenario", "a", "b", "rate", "requests", "seed")
PAGES: dict[str, tuple[str, ...]] = {
    "step-by-step": ("scenario",),
    "playground": _PLAYGROUND,
    "prefill-vs-decode": _COMPARE,
    "memory": ("scenario",),
    "reorganization": ("scenario",),
    "priorities": ("scenario",),
    "disaggregation": ("scenario",),
    "choosing": ("scenario",),
}
PAGE_FILES = {p: f"pages/{p.replace('-', '_')}.py" for p in PAGES}
PAGE_TITLES = {
    "step-by-step": "Continuous batching, step by step", "playground": "Scheduling playground",
    "prefill-vs-decode": "Prefill vs decode priority", "memory": "Memory and fragmentation",
    "reorganization": "Batch reorganization overhead", "priorities": "Priorities and custom policies",
    "disaggregation": "Disaggregation", "choosing": "Choosing a strategy",
}

_CHOICES = {"scenario": tuple(SCENARIOS), "policy": POLICIES, "a": POLICIES, "b": POLICIES, "order": ORDERS,
            "preempt": PREEMPT_MODES, "memory": MEMORIES}
_INTS = ("requests", "max_batch", "budget", "kv", "seed")
_FLOATS = ("rate",)
# The ranges of the pages' widgets: a URL value outside them is silently replaced by the page's default,
# so a link must stay inside them to show what it claims.
_RANGES = {
    "playground": {"requests": (1, 500), "rate": (0.1, 1000.0), "max_batch": (1, 1024), "budget": (16, 16384),
                   "kv": (0, 5_000_000), "seed": (0, 1_000_000)},
    "prefill-vs-decode": {"requests": (10, 200), "rate": (0.5, 32.0), "seed": (0, 10_000)},
}


def check_link(page, params) -> list[tuple[str, str]]:
    """Problems with a link as (field, message); empty when the link resolves."""
    if page not in PAGES:
        return [("link.page", f"unknown page {page!r}; pages are {', '.join(PAGES)}")]
    if not isinstance(params, dict):
        return [("link.params", "must be a mapping of query parameter: value")]
    out = []
    if "scenario" not in params:
        out.append(("link.params.scenario", "a link must name the scenario it preloads"))
    for k, v in params.items():
        where = f"link.params.{k}"
        if k not in PAGES[page]:
            out.append((where, f"page {page!r} does not read {k!r}; it reads {', '.join(PAGES[page])}"))
        elif k in _CHOICES and str(v) not in _CHOICES[k]:
            out.append((where, f"unknown value {v!r}; choose one of {', '.join(_CHOICES[k])}"))
        elif k in _INTS and not str(v).isdigit():
            out.append((where, f"must be a whole number, got {v!r}"))
        elif k in _FLOATS:
            try:
                if not float(v) > 0:
                    raise ValueError
            except ValueError:
                out.append((where, f"must be a positive number, got {v!r}"))
    for k, (lo, hi) in _RANGES.get(page, {}).items():
        if k in params and not any(f.startswith(f"link.params.{k}") for f, _ in out):
            if not lo <= float(params[k]) <= hi:
                out.append((f"link.params.{k}", f"{params[k]} is outside the page's range {lo:g}..{hi:g}"))
    if page == "prefill-vs-decode":
        needed = ["a", "b", "seed"]
        arrival = PRESETS[params["scenario"]].arrival if params.get("scenario") in PRESETS else "scripted"
        if arrival != "scripted":
            needed.append("requests")
        if arrival in ("poisson", "gamma"):
            needed.append("rate")
        missing = [k for k in needed if k not in params]
        if missing:
            out.append(("link.params", f"a comparison link must state {', '.join(missing)} so the view "
                                       "does not depend on the page's defaults"))
    return out


def check_claim(metric, better, worse) -> list[tuple[str, str]]:
    out = []
    if metric not in METRIC_KEYS:
        out.append(("claim.metric", f"unknown metric {metric!r}; use one of {', '.join(METRIC_KEYS)}"))
    if {better, worse} != {"a", "b"}:
        out.append(("claim", "better and worse must be the two sides of the comparison, a and b"))
    return out


def link_configs(page: str, params: dict) -> dict[str, SimConfig]:
    """The configurations a link shows: ``{"a": cfg, "b": cfg}`` for a comparison, ``{"": cfg}`` else."""
    name = params["scenario"]
    common = {}
    if "seed" in params:
        common["seed"] = int(params["seed"])
    n = int(params["requests"]) if "requests" in params else None
    rate = float(params["rate"]) if "rate" in params else None
    if n is not None or rate is not None:
        # Rate and request count only apply where the preset draws its arrivals (as on the pages).
        preset = PRESETS[name]
        if preset.arrival not in ("poisson", "gamma"):
            rate = None
        if preset.arrival == "scripted":
            n = None
        common["workload"] = resolve_workload(name, n, rate)
    if page == "prefill-vs-decode":
        return {side: scenario(name, policy=params[side], **common) for side in ("a", "b")}
    fields = {"policy": "policy", "order": "order", "preempt": "preempt", "memory": "memory",
              "max_batch": "max_batch", "budget": "token_budget", "kv": "kv_capacity_tokens", "expr": "expr"}
    for k, f in fields.items():
        if k in params:
            common[f] = int(params[k]) if k in ("max_batch", "budget", "kv") else params[k]
    return {"": scenario(name, **common)}


def run_claim(link, claim) -> tuple[bool, str]:
    """Run both sides of a comparison link and say whether the claim holds, with the numbers."""
    from sim import simulate
    try:
        cfgs = link_configs(link.page, link.as_dict())
    except ConfigError as e:
        return False, f"the link does not build a configuration: {e}"
    m = {side: simulate(cfg).metrics[claim.metric] for side, cfg in cfgs.items()}
    b, w = m[claim.better], m[claim.worse]
    ok = b > w if claim.higher_is_better else b < w
    pol = link.as_dict()
    text = (f"{claim.metric}: {pol[claim.better]} {b:,.4g} vs {pol[claim.worse]} {w:,.4g} "
            f"({'higher' if claim.higher_is_better else 'lower'} is better)")
    return ok, text
