"""Disaggregation (C10): prefill engines hand KV caches to decode engines over an interconnect; engine and
link lanes, bandwidth and engine-count sliders, and a colocated engine on the same arrivals."""

import streamlit as st

from pages import common
from sim import scenario
from sim.config import resolve_workload
from sim.cost_model import MODELS
from sim.workload import PRESETS
from viz import compare as vc
from viz import disagg as vd
from viz import follow as vf
from viz import narration as nr
from viz.timeline import lane_ids, request_lanes

common.reroute_first_visit()  # first, on every run: a fresh server's first visits go through app.py's router

SCENARIOS = ["summarization", "chat"]

st.title("Disaggregation")
common.intro(
    "In a colocated engine, prefills and decodes share every forward pass, so a long prompt stalls the "
    "tokens of everyone decoding beside it. **Disaggregation with pipelined engines** splits the work: a "
    "**prefill engine** processes prompts (and produces each first token), then hands the request's **KV "
    "cache** to a **decode engine** that only generates tokens, while the prefill engine already works on "
    "the next prompts. The price is the **KV transfer** over the interconnect between them (NVLink, "
    "InfiniBand, PCIe): transfer time = KV bytes per token x tokens / bandwidth.")

with st.sidebar:
    st.subheader("Arrivals")
    scen = common.url_select("Scenario", SCENARIOS, "scenario", "summarization")
    rate = common.url_slider("Arrival rate (requests/s)", 0.5, 16.0, "rate", 4.0, step=0.5)
    requests = common.url_slider("Requests", 10, 120, "requests", 60, step=10)
    seed = common.url_number("Seed", 0, 10_000, "seed", 0, step=1)
    colo = common.url_select("Colocated policy to compare", ["continuous", "chunked"], "colo", "continuous")

c1, c2, c3 = st.columns(3)
with c1:
    link = common.url_select("Interconnect bandwidth (GB/s)", [1.0, 2.0, 5.0, 10.0, 25.0, 50.0, 100.0, 400.0],
                             "link", 25.0, help="KV transfer bandwidth between the engine pools, GB/s (1e9 "
                                                "bytes/s). 25 is roughly PCIe Gen4 x16 in practice; 400 an NVLink class link.")
with c2:
    n_pre = common.url_slider("Prefill engines", 1, 4, "prefill", 1)
with c3:
    n_dec = common.url_slider("Decode engines", 1, 4, "decode", 1)
preset = PRESETS[scen]
st.info(f"**Scenario `{scen}`.** {nr.workload_text(preset, float(rate), int(requests))}")

wl = resolve_workload(scen, int(requests), float(rate))
dis = common.run_or_error(lambda: scenario(scen, workload=wl, policy="disaggregated", link_gb_per_s=float(link),
                                           prefill_engines=int(n_pre), decode_engines=int(n_dec),
                                           seed=int(seed)))
col = common.run_or_error(lambda: scenario(scen, workload=wl, policy=colo, seed=int(seed)))
if dis is None or col is None:
    st.stop()

# ---- lanes ------------------------------------------------------------------------------------------
st.subheader("Engine lanes and KV transfers")
span = vc.time_span_ms([dis, col])


@st.cache_resource(max_entries=32, show_spinner=False)
def _lanes(cfg, span_ms: float, animate: bool, title: str, height: int | None, follow: str | None = None):
    """One lane figure per (run, shared time range, followed request), built once and shared read-only
    between sessions; the followed request's lane is marked on a copy of the plain figure."""
    if follow:
        return vf.follow_lanes(_lanes(cfg, span_ms, animate, title, height), common.run(cfg), follow)
    fig = request_lanes(common.run(cfg), animate=animate, title=title, height=height)
    return vc.align_time_axes([fig], span_ms)[0]


# Heights from the lane count (about 16 px a lane), so every engine and request lane has a readable label.
ids = [r.id for r in dis.requests]
clicks = [common.lane_clicked(k, lane_ids(r), ids) for k, r in (("lanes_dis", dis), ("lanes_col", col))]
follow = common.follow_bar(ids, lambda rid: common.plain(vf.follow_sentence(dis, rid))
                           + " (disaggregated run). Outlined in both timelines; click a lane to follow another.",
                           clicked=next((c for c in clicks if c), None))
fig_d = _lanes(dis.config, span, True, f"Disaggregated: {n_pre} prefill + {n_dec} decode engine(s)", None, follow)
fig_c = _lanes(col.config, span, False, f"Colocated: one engine, {colo}", None, follow)
common.plot(fig_d, key="lanes_dis", clickable=True)
common.plot(fig_c, key="lanes_col", clickable=True)
common.explain(
    "Same arrivals, same time axis, one chart above the other. In the upper chart the top lanes are the "
    "engines (hatched orange: a prefill pass, solid blue: a decode pass) and below them one lane per request: "
    "hatched orange prefill on a prefill engine, striped yellow the KV transfer to a decode engine, solid blue "
    "decode steps there. In the "
    "lower chart one engine does both, and cross-hatched vermillion marks decode steps stalled by a prefill in the same pass. "
    "Press Play to watch the upper one run."
    + (f" {common.plain(follow)}'s lane is outlined in both; the other lanes are dimmed." if follow else ""))

# ---- transfer cost with the numbers -------------------------------------------------------------------
st.subheader("What a transfer costs")
model = MODELS[dis.config.model]
bpt = model.kv_bytes_per_token
if dis.transfers:
    mean_tokens = sum(t.tokens for t in dis.transfers) / len(dis.transfers)
    mean_ms = sum(t.end_s - t.start_s for t in dis.transfers) / len(dis.transfers) * 1e3
    st.markdown(
        f"KV bytes per token for **{model.name}** = 2 (K and V) x {model.layers} layers x {model.kv_heads} KV "
        f"heads x {model.head_dim} dimensions x {model.bytes_per_param} bytes = **{bpt:,} bytes** "
        f"({bpt / 1e6:.3f} MB). A prompt of {mean_tokens:,.0f} tokens (the mean here) therefore moves "
        f"{mean_tokens:,.0f} x {bpt:,} B = **{mean_tokens * bpt / 1e6:,.0f} MB**, which at "
        f"**{link:g} GB/s** takes {mean_tokens * bpt / 1e6:,.0f} MB / {link:g} GB/s = "
        f"**{mean_tokens * bpt / (link * 1e9) * 1e3:,.1f} ms**. The simulator's transfers took "
        f"{mean_ms:,.1f} ms on average ({len(dis.transfers)} transfers).")
c1, c2 = st.columns(2)
with c1:
    common.plot(vd.transfer_cost(dis, bpt, float(link)), key="transfer")
with c2:
    common.plot(vd.utilization_bars({"disaggregated": dis, f"colocated ({colo})": col}), key="util")
common.explain(
    "Left: every KV transfer of this run, by how many tokens it moved and how long it held the link; the "
    "dashed line is the formula above. Right: the share of the run each engine spent computing, and the "
    "link spent transferring. A slow link or a single busy prefill engine becomes the bottleneck.")

# ---- colocated vs disaggregated -----------------------------------------------------------------------
st.subheader("Colocated vs disaggregated on the same arrivals")
pick = common.predict(
    "disagg", f"Predict first: against one colocated engine running {colo}, does moving prefill and decode onto "
              "separate engines make the TBT p99 (the worst 1% of gaps between two tokens) lower or higher?",
    {"lower": "Lower", "same": "About the same (within 10%)", "higher": "Higher"})
if pick is None:
    st.stop()
tc, td = col.metrics["tbt_p99_s"], dis.metrics["tbt_p99_s"]
truth = "same" if tc is None or td is None else "lower" if td < tc / 1.1 else "higher" if td > tc * 1.1 else "same"
common.reveal(pick, truth,
              f"The simulator: TBT p99 {common.ms(td)} disaggregated against {common.ms(tc)} colocated ({colo}).",
              "Why: a decode engine never runs a prompt, so no prefill shares or takes its passes; what it adds is "
              "the KV transfer between a request's first and second token, which shows in each request's worst "
              "gap rather than in the p99 of all gaps.")
common.plot(vd.latency_bars({f"colocated ({colo})": col, "disaggregated": dis}), key="lat")
common.explain(
    "Latency measures of both runs (log scale). TBT p99 is the worst 1% of all gaps between tokens: "
    "disaggregation removes the prefill stalls from decode passes. 'Worst gap per request' is each "
    "request's longest pause between two tokens, median over requests: under disaggregation it includes "
    "the hand-off (transfer) between the first and second token, so a slow link shows up there.")
st.markdown("**The disaggregated run**, and its change against the colocated one:")
rows = vc.metric_rows(col, dis, "colocated", "disaggregated")
cols = st.columns(4)
shown = [r for r in rows if r["key"] in ("throughput_tokens_per_s", "ttft_p50_s", "tbt_p99_s", "e2e_p50_s")]
for c, r in zip(cols, shown):
    higher_better = next(m[4] for m in vc.COMPARE_METRICS if m[0] == r["key"])
    c.metric(f"{r['metric']} ({r['unit']})", vc.fmt_value(r["disaggregated"]),
             **common.change(None if r["change"] is None else
                             f"{r['change']:+.0%} vs colocated ({vc.fmt_value(r['colocated'])})",
                             r["disaggregated"], r["colocated"], higher_better))
st.caption(f"The disaggregated run uses {n_pre + n_dec} engines, the colocated run one: compare per-engine "
           f"throughput too ({dis.metrics['throughput_tokens_per_s'] / (n_pre + n_dec):,.0f} vs "
           f"{col.metrics['throughput_tokens_per_s']:,.0f} tokens/s per engine). {len(dis.requests)} requests.")
st.markdown("**What the simulator checks** (in CI, on five seeds, with this page's default settings):")
common.claim_numbers(["disaggregated-no-prefill-stalls"], here="disaggregation")
