"""Validate against a real model, in two views: the simulator's scheduler drives a tiny torch model on this
machine (simulated and measured timelines, per-request latency and per-pass times, the fitted cost model and
what its error means for the other pages); and the GPU presets held against passes measured on real
A100/H100 GPUs (figures in viz.validation, data and comparison in sim.gpu_passes)."""

import threading

import streamlit as st

from pages import common
from sim.batching import STRATEGIES
from sim import gpu_passes
from sim.cost_model import EFFICIENCY, build_cost_model
from sim.errors import ConfigError
from sim.real import have_torch
from sim.real.validate import (AMPLIFICATION_PCT, MAX_BATCH, SHOW, TOKEN_BUDGET, VALIDATION_POLICIES, repeat_validation,
                               repeated,
                          workload)
from viz import validation as vv

common.reroute_first_visit()  # first, on every run: a fresh server's first visits go through app.py's router

st.title("Validate against a real model")
cpu_tab, gpu_tab = st.tabs(["Tiny model on this machine", "GPU presets vs measured GPU passes"])

with gpu_tab:
    compared = gpu_passes.compare()
    table = gpu_passes.error_table(compared)
    st.markdown(
        "The other pages price GPU passes with **presets**: a model's shape on a card's datasheet, each part "
        "of a pass (linear layers, attention, KV write, CPU overhead) priced by its own roofline. Here they "
        f"meet passes measured on real A100 and H100 GPUs. **Data:** {gpu_passes.SOURCE}. Fitted on the rows "
        "marked *main*, the rest held out (`python scripts/fit_costs.py` prints both).")
    st.info(f"**What this does not cover:** {gpu_passes.NOT_COVERED}. CPU overhead rows (measured on an A100 "
            "host) are compared on their own. **Look for:** points on the identity line, bars under 5%, "
            "diamonds under 15%.")
    common.plot(vv.gpu_scatter(compared), key="gpu_scatter")
    common.explain(
        "One point per measured row: measured time across, the preset's prediction for that shape up (ms, log "
        "scales). Each kind compares its own part of the prediction (full pass: linear + attention + KV write). "
        "Solid line: exact; dotted: ±15%. Hover a point for its shape.")
    common.plot(vv.gpu_errors(table), key="gpu_errors")
    common.explain("Per kind of pass, model and GPU: the median absolute error (bar) and the largest (diamond). "
                   "Targets: median at most 5%, largest at most 15%.")
    missed = [k for k in table if not k.within_targets]
    if missed:
        st.markdown("**Outside the targets:** " + "; ".join(
            f"{vv.GPU_KIND_LABEL[k.kind]}, {k.model} on {k.gpu.upper()} (median {k.median_abs_pct:.1f}%, largest {k.max_abs_pct:.1f}%)" for k in missed)
            + ". The H100's measured linear layers swing by about ±10% between neighbouring prompt sizes "
              "(768 tokens cost more per token than 512 or 1,024), more than a few physical factors follow.")
    st.dataframe([{"model": k.model, "GPU": k.gpu.upper(), "kind": vv.GPU_KIND_LABEL[k.kind], "rows": k.rows,
                   "median |error|": f"{k.median_abs_pct:.1f}%", "largest |error|": f"{k.max_abs_pct:.1f}%",
                   "targets": "met" if k.within_targets else "missed"} for k in table],
                 hide_index=True, width="stretch")
    st.markdown("**The default preset's numbers** (Llama-3-8B on one A100-80GB), each with its unit and source; "
                f"the H100 factors: MFU {EFFICIENCY['h100'].mfu:.0%}, MBU {EFFICIENCY['h100'].mbu:.0%} (its "
                "attention and KV-write factors are the A100's: no H100 attention data).")
    st.dataframe([{"quantity": n.quantity, "value": f"{n.value:,.4g}", "unit": n.unit, "source": n.source}
                  for n in build_cost_model("llama-3-8b", "a100-80gb").numbers()], hide_index=True, width="stretch")

with cpu_tab:  # common.intro: folded away in presentation mode
    common.intro(
        "Every other page prices a forward pass with a **cost model**. Here the simulator's *own* scheduler "
        "drives a tiny real transformer (4 layers, d_model 256, seeded random weights) and each **iteration** is "
        "timed. The cost model is **fitted on this machine** on made-up batch shapes, never the run's own "
        "passes, and the same workload is simulated with it. Timelines that agree mean batch composition turns "
        "into time as the simulator says.")


@st.cache_resource(show_spinner="Loading the tiny model...")
def _model():
    """One shared model (read-only: every run brings its own KV caches) and a lock, so two visitors'
    runs never share the CPU while being timed."""
    from sim.real.executor import load_model
    return load_model(), threading.Lock()


BACKLOG = "backlog (all at t = 0)"

HAVE_TORCH = have_torch()  # the real run needs torch; the page still explains itself without it

with st.sidebar:
    st.subheader("Validation run")
    policy = common.url_select("Policy", list(VALIDATION_POLICIES), "policy", "continuous",
                               help="; ".join(f"{p} = {STRATEGIES[p].summary}" for p in VALIDATION_POLICIES))
    requests = common.url_slider("Requests", 8, 200, "requests", 50, step=1)
    seed = common.url_number("Seed", 0, 10_000, "seed", 0, step=1)
    arrivals = common.url_select("Arrivals", [BACKLOG, "200 req/s", "100 req/s", "60 req/s", "40 req/s"], "arrivals",
                                 BACKLOG,
                                 help="backlog (default): every request waits at t = 0, so the run can be replayed "
                                      "pass for pass and every policy works from a queue. A Poisson stream near the "
                                      "model's service rate (about 25-40 requests/s here) makes queueing amplify small "
                                      "timing errors: try 40 or 60 with static batching.")
    rate = None if arrivals == BACKLOG else float(arrivals.split()[0])
    clock = common.url_select("Clock", ["wall", "cpu"], "clock", "wall",
                              help="wall: time.perf_counter (the default). cpu: the compute thread's CPU time, "
                                   "steadier when other programs compete for a shared CPU.")
    recal = common.url_toggle("Recalibrate first", "recal", True,
                              help="Fit the cost model around the run (timed before, during and after it). Off: "
                                   "reuse a fit from the last 2 minutes if there is one. A CPU's speed drifts over "
                                   "minutes, so an old fit makes the comparison look worse than it is.")
    runs_n = common.url_slider("Runs", 1, 5, "runs", 1, step=1,
                               help="Run the whole validation this many times (each run after the first calibrates "
                                    "around itself) and show every error as the median with its range: on a shared "
                                    "CPU one run's error is one draw. The finished run reports how long it took.")

with cpu_tab:
    st.info(f"**Workload.** {workload(int(requests), rate).description} Engine: at most {MAX_BATCH} sequences per batch; "
            f"`chunked` uses a budget of {TOKEN_BUDGET} tokens per pass.  \n**Look for:** the two timelines line "
            "up, the per-request points hug the identity line, and the pass-time points too.")

    if not HAVE_TORCH:
        st.error("**torch**: this page needs PyTorch, which is not installed (pip install -r requirements.txt).")
        st.stop()

    key = (policy, int(requests), int(seed), clock, arrivals, int(runs_n))
    if st.button("Run validation", type="primary", help="Calibrate (if chosen), simulate, then run the real model"):
        model, lock = _model()
        bar = st.progress(0.0, text="Waiting for the model (another run is being timed)")
        try:
            with lock:
                runs = repeat_validation(policy, int(requests), int(seed), int(runs_n), recalibrate=recal, model=model,
                                         clock=clock, rate_per_s=rate,
                                         progress=lambda f, text: bar.progress(min(max(f, 0.0), 1.0), text=text))
            st.session_state["validation"] = (key, runs)
        except ConfigError as e:
            common.show_error(e)
        bar.empty()

    stored = st.session_state.get("validation")
    if stored is None:
        st.markdown("Choose a policy and press **Run validation**. The bar names each stage while it runs; how "
                    "long a run takes depends on how busy this machine's CPU is (the finished run reports it).")
        st.stop()
    run_key, runs = stored
    v = runs[-1]  # the figures and tables below show the last run; the errors, every run's median and range
    spreads = repeated(runs)
    if run_key != key:
        st.warning(f"Showing the last run ({run_key[0]}, {run_key[1]} requests, {run_key[4]}, seed "
                   f"{run_key[2]}, {run_key[3]} clock, {run_key[5]} run(s)); press **Run validation** for the "
                   "settings in the sidebar.")

    sim_res, real_res, e = v.simulated, v.measured, v.errors
    st.subheader("How close")
    timed = ("timed once, as the run went" if v.pass_repeats == 1 else
             f"each timed {v.pass_repeats} times, as the run went and in {v.pass_repeats - 1} replays of the whole run, "
             "and the median kept (calibration, too, keeps each shape's median)")
    st.markdown(f"Measured on **{v.device}** ({v.clock} clock); {len(real_res.iterations)} forward passes, {timed}; "
                f"{v.seconds:.1f} s including calibration."
                + (f" **{len(runs)} runs** ({sum(r.seconds for r in runs):.0f} s in all): each error below is the "
                   "median over the runs, its range (smallest-largest) beneath it; the figures show the last run."
                   if len(runs) > 1 else ""))
    TARGETS = {"iteration_mape_pct": ("per pass", "time of each forward pass, mean over passes", 10),
               "makespan_abs_pct": ("makespan", "first arrival to last token", 5),
               "e2e_median_abs_pct": ("end-to-end", "per request, median over requests", 15),
               "ttft_median_abs_pct": ("TTFT", "time to first token per request, median over requests", None),
               "tbt_p50_abs_pct": ("TBT p50", "median gap between tokens", None)}
    st.markdown("**Error of the simulation**, |simulated - measured| / measured:")
    cols = st.columns(len(TARGETS))
    for col, (k, (label, what, target)) in zip(cols, TARGETS.items()):
        sp = spreads[k]
        val = sp["median"]
        col.metric(label, "-" if val is None else f"{val:.1f}%",
                   help=f"{what}" + (f"; target {target}% or less" if target else ""))
        if len(runs) > 1 and val is not None:
            col.caption(f"range {sp['min']:.1f}-{sp['max']:.1f}% over {sp['runs']} runs")

    rows = []
    for k, label in SHOW:
        s, m = sim_res.metrics.get(k), real_res.metrics.get(k)
        is_time = k.endswith("_s") and not k.endswith("per_s")
        fmt = common.ms if is_time else (lambda x: "-" if x is None else f"{x:,.1f}" if isinstance(x, float) else f"{x:,}")
        err = None if not s or not m else abs(s - m) / abs(m) * 100
        rows.append({"metric": label, "simulated": fmt(s), "measured": fmt(m), "error": "-" if err is None else f"{err:.1f}%"})
    st.dataframe(rows, hide_index=True, width="stretch")

    st.subheader("Timelines on one time axis")
    common.plot(vv.timelines(sim_res, real_res), key="timelines")
    common.explain(
        "Top: simulated; bottom: measured on the real model, same requests, same scheduler. Each bar is one pass, "
        "as wide as it took and as tall as its tokens (hatched orange prefill on solid blue decode). Where the "
        "cost model errs the bottom row drifts, and the drift compounds: every later pass starts later.")

    c1, c2 = st.columns(2)
    with c1:
        common.plot(vv.e2e_scatter(sim_res, real_res), key="e2e")
        common.explain("One point per request: measured end-to-end latency across, simulated up. Solid line: "
                       "exact; dotted: ±15%.")
    with c2:
        common.plot(vv.iteration_scatter(real_res, v.iteration_predicted_s), key="passes")
        common.explain("One point per measured pass: measured time across, the cost model's prediction for that "
                       "exact batch up. The fit never saw these passes; dotted: ±10%.")

    st.subheader("The fitted cost model")
    fit = v.fit
    st.markdown(
        f"Fit quality: **R² = {fit.r2:.3f}** on {fit.n_fit} timed batch shapes, **{fit.heldout_mape_pct:.1f}%** mean "
        f"error on {fit.n_heldout} shapes held out ({fit.seconds:.1f} s of calibration). One price per kind of "
        "work, because each costs differently:")
    st.dataframe([{"quantity": q, "value": val, "note": src} for q, val, src in fit.cost.describe()],
                 hide_index=True, width="stretch")

    st.subheader("What the error means for the other pages")
    ok = (spreads["iteration_mape_pct"]["median"] or 99) <= 10 and (spreads["makespan_abs_pct"]["median"] or 99) <= 5
    which = "This run is" if len(runs) == 1 else f"The median of these {len(runs)} runs is"
    st.markdown(
        (f"**{which} inside the targets** (per-pass error at most 10%, makespan error at most 5%)."
         if ok else f"**{which} outside the targets** (per-pass error at most 10%, makespan error at most 5%). "
         "A shared or busy CPU drifts within minutes: try the CPU clock, recalibrate, or run again when the "
         "machine is quiet (`python -m sim validate` measures without a browser competing).")
        + "\n\n- Trust **comparisons between policies** more than absolute milliseconds: a per-pass error of e% "
        "moves every policy's latencies by about e% the same way, so rankings survive; the GPU presets are not "
        "calibrated here.\n- Per-request errors exceed per-pass ones (a late pass delays every later one), most "
        "under static batching, where a few percent can move a request into the next batch.")
    amp = v.amplification
    if amp:
        st.markdown(
            f"**How much this workload amplifies timing errors.** With every pass {AMPLIFICATION_PCT:g}% off the "
            f"fit, the simulator moves end-to-end latency by **{amp['e2e_median_abs_pct']:.1f}%** (median request), "
            f"TTFT by **{amp['ttft_median_abs_pct']:.1f}%**, the makespan by **{amp['makespan_abs_pct']:.1f}%**. "
            "Where these are large, a per-request error above says more about queueing than about the cost model.")
