"""Prefill vs decode priority (C6, C8, C11): the same arrival stream under two policies side by side on one
time axis, their metric deltas, and throughput-vs-latency trade-off curves from a load sweep."""

import streamlit as st

from pages import common
from sim import scenario
from sim.batching import STRATEGIES
from sim.config import resolve_workload
from sim.metrics import STALL_DEFINITION, STALL_NOTE
from sim.workload import PRESETS
from viz import compare as vc
from viz import follow as vf
from viz import narration as nr
from viz import roofline as vr
from viz import sweep as vs
from viz.timeline import lane_ids, request_lanes

common.reroute_first_visit()  # first, on every run: a fresh server's first visits go through app.py's router

POLICIES = ["static", "continuous", "prefill-first", "chunked"]
POLICY_TEXT = {p: STRATEGIES[p].summary for p in POLICIES}  # each strategy's own one-line summary
SCENARIOS = ["chat", "summarization", "legal-archive"]
SWEEP_RATES = {"chat": [1.0, 2.0, 4.0, 8.0, 16.0], "summarization": [0.5, 1.0, 2.0, 4.0, 8.0]}
SWEEP_SEEDS = 3

st.title("Prefill vs decode priority")
common.intro(
    "A forward pass spends its time **prefilling** newcomers' prompts (each yields a first token) or "
    "**decoding** one token for each running sequence. **Continuous batching** is the book's "
    "*prefilling-prioritized strategy*: newcomers join as soon as they fit, and running sequences see "
    "**generation stalls** while a long prompt shares their pass. **Standard batching** is "
    "*decoding-prioritized*: a running batch only decodes; newcomers wait for all of it. **Chunked prefill** "
    "admits every iteration but splits prompts into chunks, within a token budget per pass. Below: which "
    "one wins on this stream, measured.")

with st.sidebar:
    st.subheader("Arrivals")
    scen = common.url_select("Scenario", SCENARIOS, "scenario", "chat")
    rate = common.url_slider("Arrival rate (requests/s)", 0.5, 32.0, "rate", 8.0, step=0.5,
                             disabled=scen not in SWEEP_RATES,
                             help="legal-archive is a standing backlog: every document waits at t = 0.")
    requests = common.url_slider("Requests", 10, 200, "requests", 60, step=10)
    seed = common.url_number("Seed", 0, 10_000, "seed", 0, step=1)
    st.subheader("Model and hardware")
    pair = common.url_select("Model on hardware", vr.pair_labels(), "hw", vr.pair_label("llama-3-8b", "a100-80gb"),
                             help="The cost model prices every pass for this preset; a faster card shortens "
                                  "prefills, and so the stalls they cause.")
    model, hardware = vr.split_pair(pair)
    st.caption(vr.preset_summary(model, hardware))
    st.subheader("Chunked prefill")
    budget = common.url_select("Token budget per pass", [64, 128, 256, 512, 1024, 2048], "budget", 512,
                               help="Only for `chunked`: small = smoother tokens for running requests "
                                    "(tiny budgets lose throughput), large = prompts finish prefilling sooner, "
                                    "closer to continuous batching.")

c1, c2 = st.columns(2)
with c1:
    pol_a = common.url_select("Policy A", POLICIES, "a", "static")
with c2:
    pol_b = common.url_select("Policy B", POLICIES, "b", "continuous")
preset = PRESETS[scen]
st.info(f"**Scenario `{scen}`.** {nr.workload_text(preset, float(rate), int(requests))}  \n"
        f"**Look for:** {preset.look_for}")


def _cfg(policy: str, r: float, n: int, s: int, record: bool = True):
    wl = resolve_workload(scen, int(n), float(r))
    return scenario(scen, policy=policy, workload=wl, seed=int(s), token_budget=int(budget),
                    record_iterations=record, model=model, hardware=hardware)


res_a = common.run_or_error(lambda: _cfg(pol_a, rate, requests, seed))
res_b = common.run_or_error(lambda: _cfg(pol_b, rate, requests, seed))
if res_a is None or res_b is None:
    st.stop()
lab_a, lab_b = f"{pol_a} (A)", f"{pol_b} (B)"
if pol_a == pol_b:
    st.warning("A and B are the same policy; pick two different ones to compare.")

# ---- predict, then observe ---------------------------------------------------------------------------
TBT_PICK = {"a": f"A ({pol_a})", "b": f"B ({pol_b})", "same": "About the same"}
pick = common.predict("tbt", f"Predict first: on this stream, which policy gives requests that are already "
                             f"generating the steadier token stream (the lower p99 time between tokens)?", TBT_PICK)
if pick is None:
    st.stop()
tbt_a, tbt_b = res_a.metrics["tbt_p99_s"], res_b.metrics["tbt_p99_s"]
truth = "a" if tbt_a < tbt_b * 0.95 else "b" if tbt_b < tbt_a * 0.95 else "same"
common.reveal(pick, truth, f"p99 time between tokens: A ({pol_a}) {common.ms(tbt_a)}, B ({pol_b}) "
                           f"{common.ms(tbt_b)}.",
              "A pass that prefills a long prompt delays every decode that shares it (or, under prefill-first, "
              "gives them no token at all); standard batching never mixes prompts into a running batch, and "
              "chunked prefill caps the prompt tokens per pass.")

# ---- the two timelines, one time axis ----------------------------------------------------------------
st.subheader("The same arrivals, two schedulers")
span = vc.time_span_ms([res_a, res_b])


@st.cache_resource(max_entries=32, show_spinner=False)
def _lanes(cfg, span_ms: float, title: str, follow: str | None = None):
    """One lane figure per (run, shared time range, followed request), built once and shared read-only
    between sessions; the followed request's lane is marked on a copy of the plain figure."""
    if follow:
        return vf.follow_lanes(_lanes(cfg, span_ms, title), common.run(cfg), follow)
    fig = request_lanes(common.run(cfg), animate=False, title=title)  # height from the lane count
    return vc.align_time_axes([fig], span_ms)[0]


ids = [r.id for r in res_a.requests]
clicks = [common.lane_clicked(k, lane_ids(r), ids) for k, r in (("lanes_a", res_a), ("lanes_b", res_b))]
follow = common.follow_bar(ids, lambda rid: f"{common.plain(rid)} is outlined in both timelines (click a lane to "
                           f"follow another). A: {common.plain(vf.follow_sentence(res_a, rid))} B: "
                           f"{common.plain(vf.follow_sentence(res_b, rid))}",
                           clicked=next((c for c in clicks if c), None))
fig_a = _lanes(res_a.config, span, f"A: {pol_a}", follow)
fig_b = _lanes(res_b.config, span, f"B: {pol_b}", follow)
st.caption(f"**A = {pol_a}:** {POLICY_TEXT[pol_a]}.")
common.plot(fig_a, key="lanes_a", clickable=True)
st.caption(f"**B = {pol_b}:** {POLICY_TEXT[pol_b]}.")
common.plot(fig_b, key="lanes_b", clickable=True)
common.explain(
    "One lane per request, A above B on one time axis, each phase's colour and pattern as in the legend "
    "(hover a bar for its iterations). The run that ends further left served the same requests sooner.")

# ---- metric deltas ---------------------------------------------------------------------------------
st.subheader("What changed from A to B")
rows = vc.metric_rows(res_a, res_b, lab_a, lab_b)
cols = st.columns(4)
for i, r in enumerate(rows):
    if r[lab_b] is None:
        continue
    delta = None if r["change"] is None else f"{r['change']:+.0%} vs A ({vc.fmt_value(r[lab_a])})"
    higher_better = next(m[4] for m in vc.COMPARE_METRICS if m[0] == r["key"])
    cols[i % 4].metric(f"B: {r['metric']} ({r['unit']})", vc.fmt_value(r[lab_b]),
                       **common.change(delta, r[lab_b], r[lab_a], higher_better))
st.caption(f"{len(res_a.requests)} requests; TBT over {res_a.metrics['tbt_samples']:,} (A) and "
           f"{res_b.metrics['tbt_samples']:,} (B) token gaps. Arrows: which way B moved; 'better' or 'worse' for "
           "B. The longest stalls hide outside TBT p99: see p99.9 and the longest gap.")
st.caption(f"**Generation stalls.** {STALL_DEFINITION} {STALL_NOTE}")

c1, c2 = st.columns(2)
with c1:
    common.plot(vc.finished_over_time({lab_a: res_a, lab_b: res_b}), key="served")
with c2:
    common.plot(vc.gap_ccdf({lab_a: res_a, lab_b: res_b}), key="gaps")
common.explain(
    "Left: requests with a first token (dotted) and finished (solid) by each moment; grey = arrivals. Lines "
    "close to the arrivals mean short waits. Right: the share of all token gaps at least that long; a tail "
    "far to the right is generation stalls.")

# ---- trade-off curves over load ------------------------------------------------------------------------
st.subheader("Throughput vs token latency over load")
if scen not in SWEEP_RATES:
    st.info(f"`{scen}` is a standing backlog with no arrival rate to sweep: compare the makespan and "
            "throughput above instead, or pick `chat` or `summarization` for the load sweep.")
    st.stop()
rates = SWEEP_RATES[scen]
st.markdown(f"Sweeps arrival rates {', '.join(f'{r:g}' for r in rates)} req/s x the four policies x "
            f"{SWEEP_SEEDS} seeds ({len(rates) * len(POLICIES) * SWEEP_SEEDS} runs of {int(requests)} requests).")
key = ("sweep", scen, int(requests), int(budget), pair)
if st.button("Run the load sweep", key="w_sweep", type="primary"):
    total = len(rates) * len(POLICIES) * SWEEP_SEEDS
    bar = st.progress(0.0, text="Sweeping")
    sweep_rows, done = [], 0
    for p in POLICIES:
        for r in rates:
            for s in range(SWEEP_SEEDS):
                res = common.run_or_error(lambda p=p, r=r, s=s: _cfg(p, r, requests, s, record=False))
                if res is not None:
                    sweep_rows.append({"series": p, "x": r, "seed": s, **res.metrics})
                done += 1
                bar.progress(done / total, text=f"Run {done} of {total}: {p} at {r:g} req/s, seed {s}")
    bar.empty()
    st.session_state["sweep"] = (key, sweep_rows)
stored = st.session_state.get("sweep")
if stored is not None and stored[0] == key:
    sweep_rows = stored[1]
    t1, t2 = st.columns(2)
    with t1:
        common.plot(vs.tradeoff(sweep_rows, "throughput_tokens_per_s", "ttft_p99_s",
                                    title="Throughput vs time to first token"), key="tt_ttft")
    with t2:
        common.plot(vs.tradeoff(sweep_rows, "throughput_tokens_per_s", "tbt_p99_s",
                                    title="Throughput vs time between tokens"), key="tt_tbt")
    common.explain(
        "One point per arrival rate (labelled), mean over the seeds, error bars one standard deviation. "
        "Right = more tokens per second; down = shorter waits.")
    common.plot(vs.metric_vs_x(sweep_rows, "tbt_p99_s", "arrival rate (requests/s)", log_x=True,
                                   title="TBT p99 against load"), key="tbt_load")
    common.explain("The worst 1% of gaps between tokens at each load, mean over seeds with a band of one "
                   "standard deviation.")
    t1, t2 = st.columns(2)
    with t1:
        common.plot(vs.metric_vs_x(sweep_rows, "tbt_max_s", "arrival rate (requests/s)", log_x=True,
                                       title="Longest gap between tokens against load"), key="tbt_max_load")
    with t2:
        common.plot(vs.metric_vs_x(sweep_rows, "stalls", "arrival rate (requests/s)", log_x=True,
                                       title="Generation stalls against load"), key="stalls_load")
    common.explain(
        "Left: the longest gap between two tokens of any request (a p99 over all gaps can fall while it "
        "rises). Right: token gaps over the scenario's TBT goal that a prefill caused, as defined above.")
else:
    st.caption("Press the button to run the sweep (a few seconds; results are cached).")

st.markdown("**What the simulator checks** (in CI, on five seeds; each link opens this page on the runs "
            "measured):")
common.claim_numbers(["chat-continuous-throughput", "chat-static-smoother", "summarization-chunked-smoother"],
                     here="prefill-vs-decode")
