"""'Open in the simulator' links: the app's pages, the query parameters each reads, and their checks.

The pages, the query parameters each reads and their widgets' ranges come from quiz/catalog.py (the one
description of the app's pages); a link is valid when its page is in the catalog, every parameter is one
that page reads, and every value is one the simulator accepts (a known scenario, policy, order, ...) and
lies inside the page's range. ``link_configs`` turns a comparison
link into the simulator configurations it shows, so a claim like "continuous beats static on throughput"
can be checked by running exactly what the learner will see.
"""

from __future__ import annotations

from quiz import catalog
from sim import SCENARIOS, ConfigError, SimConfig, scenario
from sim.batching import POLICIES
from sim.config import MEMORIES, resolve_workload, with_changes
from sim.metrics import METRIC_KEYS
from sim.queue_order import ORDERS
from sim.preemption import PREEMPT_MODES
from sim.workload import PRESETS

_CHOICES = {"scenario": tuple(SCENARIOS), "policy": POLICIES, "a": POLICIES, "b": POLICIES, "order": ORDERS,
            "preempt": PREEMPT_MODES, "memory": MEMORIES}


def check_link(page, params) -> list[tuple[str, str]]:
    """Problems with a link as (field, message); empty when the link resolves.

    The page must be in quiz/catalog.py; every parameter one the page reads (its catalog ``params``), every
    value one the simulator accepts and inside the page's widget range (outside it, the page would quietly
    show its default instead). ``scenario`` names the page's own scenario when the page always shows one.
    """
    if page not in catalog.BY_URL:
        return [("link.page", f"unknown page {page!r}; pages are {', '.join(catalog.BY_URL)}")]
    if not isinstance(params, dict):
        return [("link.params", "must be a mapping of query parameter: value")]
    entry = catalog.page(page)
    out = []
    if "scenario" not in params:
        out.append(("link.params.scenario", "a link must name the scenario it preloads"))
    for k, v in params.items():
        where = f"link.params.{k}"
        if k == "scenario" and entry.scenario is not None:
            if str(v) != entry.scenario:
                out.append((where, f"page {page!r} always shows scenario {entry.scenario!r}, not {v!r}"))
        elif k not in entry.params:
            reads = ", ".join(entry.params) or "no parameters"
            out.append((where, f"page {page!r} does not read {k!r}; it reads {reads}"))
        else:
            out += _check_value(where, entry.params[k], k, v)
    if page == "prefill-vs-decode":
        if not {"a", "b"} <= set(params):
            out.append(("link.params", "a comparison link must state both policies, a and b"))
        out += _pinned(params)
    return out


def _check_value(where: str, spec: catalog.Param, key: str, v) -> list[tuple[str, str]]:
    """One value against the simulator's names (for a choice) or the widget's kind and range."""
    if key in _CHOICES:
        if str(v) not in _CHOICES[key]:
            return [(where, f"unknown value {v!r}; choose one of {', '.join(_CHOICES[key])}")]
        return []
    if spec.kind == "int":
        if not (str(v).isascii() and str(v).isdigit()):  # "²".isdigit() is true
            return [(where, f"must be a whole number, got {v!r}")]
        x = float(v)
    elif spec.kind == "float":
        try:
            x = float(v)
            if not x > 0:
                raise ValueError
        except (ValueError, OverflowError):
            return [(where, f"must be a positive number, got {v!r}")]
    else:
        return []
    if (spec.lo is not None and x < spec.lo) or (spec.hi is not None and x > spec.hi):
        lo = "" if spec.lo is None else f"{spec.lo:g}"
        hi = "" if spec.hi is None else f"{spec.hi:g}"
        return [(where, f"{v} is outside the page's range {lo}..{hi}")]
    return []


def check_claim(link_page: str, params: dict, metric, better, worse) -> list[tuple[str, str]]:
    """A claim compares two policies on the link's scenario; the linked view must show (one of) them."""
    out = []
    if metric not in METRIC_KEYS:
        out.append(("claim.metric", f"unknown metric {metric!r}; use one of {', '.join(METRIC_KEYS)}"))
    for name, v in (("better", better), ("worse", worse)):
        if v not in POLICIES:
            out.append((f"claim.{name}", f"unknown policy {v!r}; choose one of {', '.join(POLICIES)}"))
    if better == worse:
        out.append(("claim", "better and worse must be two different policies"))
    if link_page == "prefill-vs-decode":
        if {better, worse} != {params.get("a"), params.get("b")}:
            out.append(("claim", "better and worse must be the link's two policies, a and b"))
    elif link_page == "playground":
        if params.get("policy") not in (better, worse):
            out.append(("claim", "the link's policy must be one of the two compared (better or worse)"))
    else:
        out.append(("claim", "a claim needs a link to the playground or to prefill-vs-decode"))
    if not out:
        out += [(f, m) for f, m in _pinned(params) if f == "link.params"]
    return out


def _pinned(params: dict) -> list[tuple[str, str]]:
    """A view whose numbers are claimed must not depend on a page's defaults: state seed, and requests and
    rate where the scenario draws its arrivals."""
    arrival = PRESETS[params["scenario"]].arrival if params.get("scenario") in PRESETS else "scripted"
    needed = ["seed"] + (["requests"] if arrival != "scripted" else []) + (["rate"] if arrival in ("poisson", "gamma") else [])
    missing = [k for k in needed if k not in params]
    if missing:
        return [("link.params", f"the link must state {', '.join(missing)} so the view does not depend on the "
                                "page's defaults")]
    return []


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


def claim_configs(link, claim) -> dict[str, SimConfig]:
    """{policy: config} for the two policies a claim compares, on exactly the linked scenario settings."""
    base = next(iter(link_configs(link.page, link.as_dict()).values()))
    return {p: with_changes(base, policy=p) for p in (claim.better, claim.worse)}


def claim_metrics(link, claim) -> dict[str, dict]:
    """{policy: metrics} of both sides (a few hundred ms for the bank's scenarios)."""
    from sim import simulate
    return {p: simulate(with_changes(cfg, record_iterations=False)).metrics for p, cfg in claim_configs(link, claim).items()}


def run_claim(link, claim) -> tuple[bool, str]:
    """Run both sides of a claim and say whether it holds, with the numbers."""
    try:
        m = claim_metrics(link, claim)
    except ConfigError as e:
        return False, f"the link does not build a configuration: {e}"
    b, w = m[claim.better][claim.metric], m[claim.worse][claim.metric]
    ok = b > w if claim.higher_is_better else b < w
    text = (f"{claim.metric}: {claim.better} {b:,.4g} vs {claim.worse} {w:,.4g} "
            f"({'higher' if claim.higher_is_better else 'lower'} is better)")
    return ok, text


# What the quiz page shows after an answer to a question with a claim (seconds in data, ms in the UI).
EVIDENCE_METRICS = (("throughput_tokens_per_s", "throughput (output tokens/s)", 1.0),
                    ("makespan_s", "makespan (s)", 1.0),
                    ("ttft_p50_s", "TTFT p50 (ms)", 1e3),
                    ("ttft_p99_s", "TTFT p99 (ms)", 1e3),
                    ("tbt_p99_s", "TBT p99 (ms)", 1e3),
                    ("completed", "requests completed", 1.0))


def evidence_rows(claim, metrics: dict[str, dict]) -> list[dict]:
    """One row per metric with both policies' values; the claimed metric is marked."""
    rows = []
    shown = list(EVIDENCE_METRICS)
    if claim.metric not in {k for k, _, _ in shown}:
        shown.append((claim.metric, claim.metric, 1.0))
    for key, label, scale in shown:
        row = {"metric": label + ("  (the claim)" if key == claim.metric else "")}
        for policy in (claim.better, claim.worse):
            v = metrics[policy].get(key)
            row[policy] = None if v is None else round(v * scale, 3)
        rows.append(row)
    return rows
