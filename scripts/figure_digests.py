"""Digests of the figures the pages draw, so a change meant to make them faster can show it drew nothing
different: each figure's JSON as Streamlit sends it to the browser (``plotly.io.to_json`` of the figure,
parsed and written back with sorted keys, plotly's default template left out), hashed with SHA-256, for a
fixed set of runs.

    .venv/bin/python scripts/figure_digests.py -o tests/golden/figures.json   # record
    .venv/bin/python scripts/figure_digests.py --check tests/golden/figures.json   # compare (exit 1 on a difference)
    .venv/bin/python scripts/figure_digests.py --dump DIR   # every figure's JSON into DIR, to diff two versions

``tests/test_figure_digests.py`` runs the check. A change that alters a figure on purpose records the file
again and says why in its commit message.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)


def runs():
    """(label, config, lanes kwargs) of the runs whose figures are recorded: the playground's default view,
    each preset the pages open, and runs reaching every phase and code path (padding, preemption, engine
    lanes and transfers, rejected requests, coarsened long runs, the step-by-step cut, no animation)."""
    from sim import scenario
    from sim.config import resolve_workload
    pg = dict(max_batch=16)
    out = [
        ("playground default (chat, 60 requests, 8/s, 16 slots)",
         scenario("chat", workload=resolve_workload("chat", 60, 8.0), **pg), {"title": "Batch timeline: continuous, fcfs, 60 requests"}),
        ("playground, seed 1000", scenario("chat", workload=resolve_workload("chat", 60, 8.0), seed=1000, **pg), {}),
        ("book example", scenario("book-example"), {}),
        ("book example, step-by-step cut at 4", scenario("book-example"), {"upto": 4}),
        ("book example, static (padding)", scenario("book-example", policy="static"), {}),
        ("book example, no animation", scenario("book-example"), {"animate": False}),
        ("chat preset, 200 requests (merged, coarsened)", scenario("chat"), {}),
        ("legal-archive", scenario("legal-archive"), {}),
        ("fragmentation", scenario("fragmentation"), {}),
        ("hybrid-service (chunked, priority)", scenario("hybrid-service"), {}),
        ("summarization, disaggregated", scenario("summarization", policy="disaggregated", requests=40), {}),
        ("chat, recompute preemption on a small cache", scenario("chat", requests=60, rate_per_s=8.0,
                                                                kv_capacity_tokens=6000, preempt="recompute"), {}),
        ("chat, swap preemption, chunked", scenario("chat", requests=60, rate_per_s=8.0, kv_capacity_tokens=6000,
                                                    preempt="swap", policy="chunked"), {}),
        ("three-long-one-short", scenario("three-long-one-short"), {}),
        ("many-tiny", scenario("many-tiny"), {}),
        ("legal-archive, 30 requests on 4,000 slots (rejections)", scenario("legal-archive", requests=30,
                                                                           kv_capacity_tokens=4000), {}),
    ]
    return out


def canonical(fig) -> str:
    """The figure's JSON with sorted keys, without ``layout.template``: the template is plotly's default at
    the time the figure is made (importing Streamlit switches it to Streamlit's), not something the builders
    draw, and the digests must not depend on which modules a process imported first."""
    import plotly.io as pio
    d = json.loads(pio.to_json(fig, validate=False))
    d.get("layout", {}).pop("template", None)
    return json.dumps(d, sort_keys=True, separators=(",", ":"))


def figures():
    """label -> canonical JSON text, for every recorded figure."""
    from sim import simulate
    from viz import timeline as tl
    out = {}
    for label, cfg, kw in runs():
        res = simulate(cfg)
        out[f"{label}: request_lanes"] = canonical(tl.request_lanes(res, **kw))
        out[f"{label}: batch_composition"] = canonical(tl.batch_composition(res))
        out[f"{label}: kv_and_queue"] = canonical(tl.kv_and_queue(res))
    return out


def digests() -> dict:
    return {k: hashlib.sha256(v.encode()).hexdigest() for k, v in figures().items()}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-o", "--out")
    ap.add_argument("--check")
    ap.add_argument("--dump")
    a = ap.parse_args(argv)
    if a.dump:
        os.makedirs(a.dump, exist_ok=True)
        for i, (k, v) in enumerate(figures().items()):
            with open(os.path.join(a.dump, f"{i:02d}.json"), "w") as f:
                f.write(json.dumps({"figure": k, "json": json.loads(v)}, indent=1, sort_keys=True))
        return 0
    got = digests()
    if a.check:
        with open(a.check) as f:
            want = json.load(f)
        bad = [k for k in sorted(set(want) | set(got)) if want.get(k) != got.get(k)]
        for k in bad:
            print(f"differs: {k}")
        return 1 if bad else 0
    text = json.dumps(got, indent=1, sort_keys=True) + "\n"
    if a.out:
        with open(a.out, "w") as f:
            f.write(text)
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
