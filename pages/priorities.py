"""Priorities and custom policies (C8, C9): two classes of users on one engine, the built-in queue orders
and a learner-typed custom order compared on the same arrivals, with starvation made visible."""

import dataclasses

import streamlit as st

from pages import common
from sim import ConfigError, scenario
from sim.config import resolve_workload
from sim.queue_order import EXPR_FIELDS, EXPR_FUNCTIONS, ORDERS as ORDER_CLASSES, CustomExpression
from sim.workload import PRESETS
from viz import classes as vc
from viz import narration as nr

common.reroute_first_visit()  # first, on every run: a fresh server's first visits go through app.py's router

# Every registered queue order; one that reads the learner's expression runs only once it is accepted.
ORDERS = [name for name, cls in ORDER_CLASSES.items() if "expr" not in cls.knobs]
EXPR_ORDERS = [name for name, cls in ORDER_CLASSES.items() if "expr" in cls.knobs]

st.title("Priorities and custom policies")
common.intro(
    "**Priority-based scheduling** allocates the engine's slots and memory by the importance of requests "
    "(or of steps: decode-priority for token latency, prefill-priority for throughput). Here two classes "
    "share one engine: `interactive` users (priority 0) and `batch` jobs (priority 1). The **queue order** "
    "decides who is admitted next and, with preemption, who is evicted first. **Custom priority policies** "
    "combine deadlines, user tiers, job length and waiting time. The risk of every strict priority is "
    "**starvation**: the low class waits for as long as urgent work keeps arriving, so its longest wait "
    "grows with the stream (below: how long on this one); **aging** (priority that improves while a request "
    "waits) bounds that wait.")
preset = PRESETS["hybrid-service"]

with st.sidebar:
    st.subheader("Workload and engine")
    rate = common.url_select("Arrival rate (requests/s)", [4.0, 6.0, 10.0, 14.0], "rate", 10.0)
    share = common.url_slider("Interactive share of arrivals", 0.5, 0.95, "share", 0.85, step=0.05,
                              help="The preset sends 70% interactive; more interactive traffic keeps the "
                                   "urgent queue busy, which is when a strict priority starves the batch class.")
    requests = common.url_select("Requests", [100, 200, 300], "requests", 200)
    preempt = common.url_select("Preemption", ["recompute", "swap", "none"], "preempt", "recompute",
                                help="recompute: drop the evicted request's KV and prefill it again later; "
                                     "swap: copy it to host memory; none: never evict a running request.")
    aging = common.url_slider("Aging step (s)", 1.0, 60.0, "aging", 10.0, step=1.0,
                              help="Aging: a request's priority improves by one level for every this many "
                                   "seconds it waits.")
    seed = common.url_number("Seed", 0, 10_000, "seed", 0, step=1)

st.info(f"**Scenario `hybrid-service`** (chunked prefill, 256 tokens per pass). "
        f"{nr.workload_text(preset, float(rate), shares={'interactive': share, 'batch': 1 - share})} "
        "The page starts with more interactive traffic than the preset (85%, not 70%), so the urgent queue "
        f"stays busy.  \n**Look for:** {preset.look_for}")

st.subheader("Your custom order")
expr = common.url_text("Priority expression (smaller = more urgent)", "expr",
                       "priority * 20 - waiting_s + predicted_output_tokens / 500",
                       help="Arithmetic over the request fields listed below; min, max, abs, log, sqrt; "
                            "comparisons and `a if cond else b`.")
with st.expander("Fields and functions you can use"):
    st.markdown("\n".join(f"- `{k}`: {v}" for k, v in EXPR_FIELDS.items()) +
                f"\n- functions: {', '.join(f'`{f}`' for f in EXPR_FUNCTIONS)} (`log` is log(1 + x))")
expr_ok = True
try:
    CustomExpression(expr)
    st.caption(f"Expression accepted: `{expr}`")
except ConfigError as e:
    expr_ok = False
    common.show_error(e)

wl = resolve_workload("hybrid-service", int(requests), float(rate))
inter_cls, batch_cls = wl.classes
wl = dataclasses.replace(wl, classes=(dataclasses.replace(inter_cls, share=float(share)),
                                      dataclasses.replace(batch_cls, share=1.0 - float(share))))


def _cfg(order: str):
    return scenario("hybrid-service", workload=wl, order=order, preempt=preempt, aging_step_s=float(aging),
                    expr=expr if order in EXPR_ORDERS else "", seed=int(seed), record_iterations=False)


orders = ORDERS + (EXPR_ORDERS if expr_ok else [])
results = {}
bar = st.progress(0.0, text="Simulating each queue order")
for i, o in enumerate(orders):
    res = common.run_or_error(lambda o=o: _cfg(o))
    if res is not None:
        results[o] = res
    bar.progress((i + 1) / len(orders), text=f"Simulated {i + 1} of {len(orders)} queue orders")
bar.empty()
if not results:
    st.stop()

st.markdown("\n".join(f"- **{o}**: {ORDER_CLASSES[o].summary}" for o in results))

# ---- per-class service ------------------------------------------------------------------------------
st.subheader("How each class is served")
c1, c2 = st.columns(2)
with c1:
    common.plot(vc.class_bars(results, "ttft_p90_s", "TTFT p90 (ms, log scale)", scale=1e3, log_y=True,
                                  title="Time to first token, 90th percentile"), key="ttft")
with c2:
    common.plot(vc.class_bars(results, "slo_attainment", "requests meeting their SLOs (%)", scale=100,
                                  title="SLO attainment (TTFT and TBT goals both met)"), key="slo")
common.explain(
    "Left: how long the slowest tenth of each class waited for its first token, per queue order (log "
    "scale: each grid line is ten times the one below). Right: the share of each class that met both its "
    "goals (interactive: first token within 0.5 s and no gap between tokens over 50 ms; batch: 60 s and "
    "1 s). Same arrivals for every order.")
inter = {o: r.by_class.get("interactive", {}) for o, r in results.items()}
st.markdown("**Interactive goodput** (interactive requests per second that met both goals):")
cols = st.columns(len(results))
for col, (o, m) in zip(cols, inter.items()):
    col.metric(o, f"{m.get('goodput_requests_per_s', 0):.2f}/s")

# ---- starvation ---------------------------------------------------------------------------------------
st.subheader("Starvation of the low class")
low = vc.classes_of(results)[-1]
STARVE = {"longer": "Longer under strict priority", "same": "About the same",
          "shorter": "Shorter under strict priority"}
pick = common.predict("starve", f"Predict first: compared with aging, does strict class priority make the "
                                f"longest-waiting '{low}' job wait longer or shorter for its first token?", STARVE)
if pick is None or not {"priority", "aging"} <= set(results):
    st.stop()
w_prio = (vc.longest_wait(results["priority"], low) or ("", 0.0))[1]
w_aging = (vc.longest_wait(results["aging"], low) or ("", 0.0))[1]
truth = "longer" if w_prio > w_aging * 1.05 else "shorter" if w_aging > w_prio * 1.05 else "same"
common.reveal(pick, truth, f"On this stream the longest '{low}' wait was {w_prio:,.1f} s under strict priority "
                           f"and {w_aging:,.1f} s under aging (step {aging:g} s).",
              "Strict priority admits a batch job only when no interactive request waits; aging lets a job that "
              "has waited long enough outrank fresh urgent work.")
low = vc.classes_of(results)[-1]
c1, c2 = st.columns(2)
with c1:
    common.plot(vc.starvation_bars(results, low), key="starve")
with c2:
    common.plot(vc.wait_cdf(results, low), key="cdf")
common.explain(
    f"Left: the single '{low}' request that waited longest for its first token under each order (red: the "
    "worst order). Right: every such wait, sorted; a line that climbs late or ends far right means some "
    f"'{low}' jobs were held back while more urgent work kept arriving.")
worst = max(results, key=lambda o: (vc.longest_wait(results[o], low) or ("", 0))[1])
best = min(results, key=lambda o: (vc.longest_wait(results[o], low) or ("", 0))[1])
lw, lb = vc.longest_wait(results[worst], low), vc.longest_wait(results[best], low)
if lw and lb:
    st.markdown(f"Under **{worst}** the longest-waiting '{low}' job ({lw[0]}) waited **{lw[1]:,.1f} s** for "
                f"its first token; under **{best}**, {lb[1]:,.1f} s. "
                f"{sum(r.preemptions for r in results[worst].requests if r.cls == low)} preemptions hit the "
                f"'{low}' class under {worst}.")
st.caption(f"{len(wl.classes)} classes ({share:.0%} interactive), {int(requests)} requests at {rate:g} req/s, "
           f"seed {int(seed)}; "
           f"sample sizes: " + ", ".join(f"{c} {m['ttft_samples']}" for c, m in
                                         next(iter(results.values())).by_class.items()) + ".")
st.markdown("**What the simulator checks** (in CI, on five seeds, with this page's default settings):")
common.claim_numbers(["aging-bounds-starvation"], here="priorities")
