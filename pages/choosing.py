"""Choosing a strategy (C12): two business scenarios from the card as guided experiments. The learner states
a conclusion first (kept in session state), then runs the simulator and gets feedback on the prediction
from the simulated numbers."""

import streamlit as st

from pages import common
from sim import scenario
from sim.workload import PRESETS
from viz import compare as vc
from viz import narration as nr

common.reroute_first_visit()  # first, on every run: a fresh server's first visits go through app.py's router

EXPERIMENTS = ["legal-archive", "hybrid-service"]

# Legal archive: the options are batching strategies.
LEGAL_OPTIONS = {
    "static": "Standard (static) batching, decoding-prioritized: run a batch to the end, then take the next",
    "continuous": "Continuous batching, prefilling-prioritized: admit a new document as soon as a slot frees",
    "chunked": "Chunked prefill: continuous batching that splits each prompt into chunks of a per-pass token budget",
    "same": "It makes no real difference for a backlog",
}
LEGAL_POLICIES = ["static", "prefill-first", "continuous", "chunked"]
BUDGETS = [64, 128, 256, 512, 1024, 2048, 4096]  # chunked prefill's tokens per pass, swept on the same archive

# Hybrid service: the options are queue orders.
HYBRID_OPTIONS = {
    "fcfs": "First come, first served: everyone is treated alike",
    "priority": "Priority by user tier: interactive requests first, batch jobs may be preempted",
    "same": "It makes no real difference: the engine is fast enough for both",
}
HYBRID_ORDERS = ["fcfs", "priority"]

st.title("Choosing a strategy")
common.intro(
    "No scheduling policy is best for every service: the **business goal** decides. *Throughput* (documents "
    "per hour) rewards keeping the engine full, which favours **prefilling-prioritized** continuous batching. "
    "*Token latency* for people watching a screen rewards **decode-prioritized** scheduling and **priority** "
    "for urgent users. Each experiment below asks for your conclusion first; then the simulator runs the "
    "scenario and you compare.")
exp = common.url_radio("Experiment", EXPERIMENTS, "exp", "legal-archive", horizontal=True,
                       format_func=lambda e: {"legal-archive": "1. Legal archive",
                                              "hybrid-service": "2. Hybrid service"}[e])


def _predict(key: str, options: dict, question: str):
    """The prediction radio; locked (disabled) once the learner has run the experiment."""
    locked = st.session_state.get(f"{key}_locked", False)
    pick = st.radio(question, list(options), index=None, key=f"{key}_pred", format_func=options.get,
                    disabled=locked)
    c1, c2 = st.columns([2, 3])
    with c1:
        if st.button("Lock in my answer and run", key=f"{key}_run", type="primary",
                     disabled=pick is None or locked):
            st.session_state[f"{key}_locked"] = True
            st.rerun()
    with c2:
        if locked and st.button("Start over", key=f"{key}_reset"):
            st.session_state[f"{key}_locked"] = False
            st.session_state.pop(f"{key}_pred", None)
            st.rerun()
    if pick is None:
        st.caption("Choose an answer to unlock the experiment.")
    return pick, locked


# ---- experiment 1: legal archive ------------------------------------------------------------------------
if exp == "legal-archive":
    preset = PRESETS["legal-archive"]
    st.subheader("1. The legal archive")
    st.markdown(
        "An AI company summarizes vast archives of legal documents. The primary goal is to **maximize the "
        "number of documents summarized each day**; nobody waits on a screen for any one summary. "
        "The simulated workload: "
        + nr.workload_text(preset, n_requests=scenario("legal-archive").workload.n_requests))
    pick, locked = _predict("legal", LEGAL_OPTIONS, "Which scheduling approach gets the most documents done?")
    if locked and pick is not None:
        results = {}
        bar = st.progress(0.0, text="Running the archive under each policy")
        for i, p in enumerate(LEGAL_POLICIES):
            res = common.run_or_error(lambda p=p: scenario("legal-archive", policy=p, record_iterations=False))
            if res is not None:
                results[p] = res
            bar.progress((i + 1) / len(LEGAL_POLICIES), text=f"Simulated {i + 1} of {len(LEGAL_POLICIES)}")
        bar.empty()
        if len(results) == len(LEGAL_POLICIES):
            per_hour = {p: r.metrics["requests_per_s"] * 3600 for p, r in results.items()}
            common.plot(vc.outcome_bars(per_hour, "documents summarized per hour (documents/h)",
                                        title="Documents per hour on the same archive",
                                        picked=pick if pick in per_hour else None), key="legal_bars")
            common.explain(
                f"Each bar is one simulated run over the same {len(results['static'].requests)} documents, "
                "all queued at the start; its height is documents finished per hour of engine time "
                "(completed documents ÷ makespan x 3600). Your pick is outlined.")
            vs_static = {p: per_hour[p] / per_hour["static"] - 1 for p in per_hour}
            cols = st.columns(len(results))
            for c, (p, r) in zip(cols, results.items()):
                c.metric(f"{p}: documents/h", f"{per_hour[p]:,.0f}",
                         help=f"Makespan {r.metrics['makespan_s']:,.0f} s for {len(r.requests)} documents.",
                         **common.change(None if p == "static" else f"{vs_static[p]:+.0%} vs static",
                                         per_hour[p], per_hour["static"], higher_is_better=True))
            best = max(per_hour, key=per_hour.get)
            if pick == best:
                st.success(f"**Your prediction holds.** {best} summarized {per_hour[best]:,.0f} documents per hour, "
                           f"{vs_static[best]:+.0%} against standard batching. It is continuous batching (a new "
                           "document joins at every iteration) whose prompts are split into chunks, so every pass "
                           "carries the running decodes plus about 512 prompt tokens: full enough to keep the "
                           "compute busy, never a pass of whole 3,000-token prompts that the decodes wait behind.")
            elif pick == "continuous":
                st.info(f"**The book's answer, and it holds against standard batching:** continuous batching "
                        f"summarized {per_hour['continuous']:,.0f} documents per hour, {vs_static['continuous']:+.0%} "
                        f"against standard batching. Chunked prefill did better still ({per_hour['chunked']:,.0f}/h, "
                        f"{per_hour['chunked'] / per_hour['continuous'] - 1:+.0%} over continuous): it is continuous "
                        "batching too, with each prompt split into chunks so that every pass is filled up to about "
                        "the hardware's ridge point. See the budget curve below.")
            elif pick == "static":
                st.error(f"**Not this time.** Standard batching finished {per_hour['static']:,.0f} documents per "
                         f"hour, {1 - per_hour['static'] / per_hour[best]:.0%} fewer than {best} "
                         f"({per_hour[best]:,.0f}). It waits for "
                         "the longest summary of each batch while finished slots idle (padding).")
            else:
                st.error(f"**It does make a difference:** from {min(per_hour.values()):,.0f} to "
                         f"{max(per_hour.values()):,.0f} documents per hour on the same archive "
                         f"(continuous {vs_static['continuous']:+.0%} vs static).")
            st.markdown(
                "**The book's dichotomy.** The book names two strategies. *Prefilling-prioritized* (continuous "
                "batching): new work enters as soon as resources allow, for throughput, at the price of "
                "generation stalls for running sequences. *Decoding-prioritized* (standard batching): running "
                "sequences decode undisturbed, for smooth token streams, while finished slots idle. For a "
                "throughput goal the book's conclusion is to **prioritize prefilling**; the stalls do not "
                "matter when nobody watches the tokens arrive (here the p99 gap between tokens was "
                f"{common.ms(results['continuous'].metrics['tbt_p99_s'])} under continuous batching against "
                f"{common.ms(results['static'].metrics['tbt_p99_s'])} under standard batching).  \n"
                "**Where chunked prefill sits.** It is not a third side of the dichotomy but continuous "
                "batching refined: newcomers are admitted every iteration, and their prompts are split so each "
                "pass holds the running decodes plus prompt tokens up to a budget. Its gain comes from filling "
                "each pass up to about the ridge point (below it a pass is bound by reading the weights, so "
                "extra tokens are nearly free; above it, by compute). For tiny chunks the gain falls again: "
                "every small pass still reads all the weights, and a 3,000-token prompt needs dozens of them.")
            refs = {p: per_hour[p] for p in ("continuous", "static")}
            per_budget = {}
            bar = st.progress(0.0, text="Sweeping chunked prefill's token budget")
            for i, b in enumerate(BUDGETS):
                res = common.run_or_error(lambda b=b: scenario("legal-archive", policy="chunked", token_budget=b,
                                                                  record_iterations=False))
                if res is not None:
                    per_budget[b] = res.metrics["requests_per_s"] * 3600
                bar.progress((i + 1) / len(BUDGETS), text=f"Simulated {i + 1} of {len(BUDGETS)} budgets")
            bar.empty()
            if len(per_budget) == len(BUDGETS):
                common.plot(vc.budget_curve(per_budget, refs, "documents summarized per hour (documents/h)",
                                            title="Chunked prefill's throughput for each token budget"),
                            key="legal_budgets")
                common.explain(
                    "Each diamond is one simulated run of the same archive under chunked prefill with that many "
                    "tokens per forward pass (log scale); the lines are continuous and standard batching on the "
                    f"same documents. The best budget here is {max(per_budget, key=per_budget.get)} tokens; "
                    f"at {BUDGETS[0]} tokens per pass chunked prefill falls to {per_budget[BUDGETS[0]]:,.0f}/h, "
                    "below standard batching, and with very large budgets it approaches continuous batching "
                    "(whole prompts in one pass).")
            st.markdown("**What the simulator checks** (in CI, on five seeds):")
            common.claim_numbers(["legal-continuous-beats-static", "legal-chunked-beats-continuous",
                                  "legal-prefill-first-beats-static", "legal-tiny-chunks-fall"], here="choosing")

# ---- experiment 2: hybrid service -----------------------------------------------------------------------
else:
    preset = PRESETS["hybrid-service"]
    st.subheader("2. The hybrid service")
    st.markdown(
        "One engine serves two kinds of traffic: **interactive** chat users (first token within 0.5 s, no "
        "gap between tokens over 50 ms) and **batch** jobs with loose goals (60 s and 1 s). "
        "The simulated workload: " + nr.workload_text(preset, scenario("hybrid-service").workload.rate_per_s))
    pick, locked = _predict("hybrid", HYBRID_OPTIONS,
                            "Which queue order keeps the most interactive users inside their goals?")
    if locked and pick is not None:
        results = {}
        for o in HYBRID_ORDERS:
            res = common.run_or_error(lambda o=o: scenario("hybrid-service", order=o, record_iterations=False))
            if res is not None:
                results[o] = res
        if len(results) == len(HYBRID_ORDERS):
            att = {o: r.by_class["interactive"]["slo_attainment"] * 100 for o, r in results.items()}
            batch_att = {o: r.by_class["batch"]["slo_attainment"] * 100 for o, r in results.items()}
            common.plot(vc.outcome_bars(att, "interactive requests meeting both goals (%)",
                                        title="Interactive SLO attainment", picked=pick if pick in att else None,
                                        fmt="{:.0f}%"), key="hybrid_bars")
            common.explain(
                "Each bar is one simulated run of the same arrivals (chunked prefill, 256 tokens per pass, "
                "recompute preemption); its height is the share of interactive requests whose first token "
                "came within 0.5 s and whose longest gap between tokens stayed under 50 ms.")
            cols = st.columns(4)
            for c, o in zip(cols[:2], HYBRID_ORDERS):
                c.metric(f"{o}: interactive TTFT p90", common.ms(results[o].by_class["interactive"]["ttft_p90_s"]))
            for c, o in zip(cols[2:], HYBRID_ORDERS):
                c.metric(f"{o}: batch jobs meeting goals", f"{batch_att[o]:.0f}%")
            best = max(att, key=att.get)
            diff = att["priority"] - att["fcfs"]
            if pick == best:
                st.success(f"**Your prediction holds.** Under {best}, {att[best]:.0f}% of interactive requests met "
                           f"their goals, against {min(att.values()):.0f}% under the other order. The batch class "
                           f"paid a little: {batch_att['priority']:.0f}% of batch jobs met their loose goals under "
                           f"priority vs {batch_att['fcfs']:.0f}% under fcfs.")
            elif pick == "same":
                st.error(f"**It makes a large difference:** {diff:+.0f} percentage points of interactive users "
                         "inside their goals when their tier goes first. Under fcfs they queue behind batch jobs "
                         "with 2,000-4,000-token prompts.")
            else:
                st.error(f"**Not this time.** fcfs kept only {att['fcfs']:.0f}% of interactive users inside their "
                         f"goals; priority kept {att['priority']:.0f}%. Treating everyone alike lets long batch "
                         "jobs hold the slots that people at a screen are waiting for.")
            st.markdown(
                "**The book's conclusion:** allocate resources by the importance of requests: priority for "
                "the interactive tier, decode-friendly scheduling (here a small chunked-prefill budget) for "
                "their token latency, and aging or a quota so batch jobs are not starved. See *Priorities "
                "and custom policies* for the starvation side.")
            st.markdown("**What the simulator checks** (in CI, on five seeds):")
            common.claim_numbers(["hybrid-priority-slo"], here="choosing")
