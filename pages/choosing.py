"""Choosing a strategy (C12): two business scenarios from the card as guided experiments. The learner states
a conclusion first (kept in session state), then runs the simulator and gets feedback on the prediction
from the simulated numbers."""

import streamlit as st

from pages import common
from sim import scenario
from sim.workload import PRESETS
from viz import compare as vc

EXPERIMENTS = ["legal-archive", "hybrid-service"]

# Legal archive: the options are batching strategies.
LEGAL_OPTIONS = {
    "static": "Standard (static) batching: decode-prioritized; run a batch to the end, then take the next",
    "continuous": "Continuous batching: prefill-prioritized; admit a new document as soon as a slot frees",
    "chunked": "Chunked prefill: decodes first, prompt chunks fill the rest of each pass",
    "same": "It makes no real difference for a backlog",
}
LEGAL_POLICIES = ["static", "continuous", "chunked"]

# Hybrid service: the options are queue orders.
HYBRID_OPTIONS = {
    "fcfs": "First come, first served: everyone is treated alike",
    "priority": "Priority by user tier: interactive requests first, batch jobs may be preempted",
    "same": "It makes no real difference: the engine is fast enough for both",
}
HYBRID_ORDERS = ["fcfs", "priority"]

st.title("Choosing a strategy")
st.markdown(
    "No scheduling policy is best for every service: the **business goal** decides. *Throughput* (documents "
    "per hour) rewards keeping the engine full, which favours **prefill-prioritized** continuous batching. "
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
        f"The simulated workload: {preset.description}")
    pick, locked = _predict("legal", LEGAL_OPTIONS, "Which scheduling approach gets the most documents done?")
    if locked and pick is not None:
        results = {}
        bar = st.progress(0.0, text="Running the archive under each policy")
        for i, p in enumerate(LEGAL_POLICIES):
            res = common.shared_or_error(lambda p=p: scenario("legal-archive", policy=p, record_iterations=False))
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
            cols = st.columns(len(results))
            for c, (p, r) in zip(cols, results.items()):
                c.metric(f"{p}: documents/h", f"{per_hour[p]:,.0f}",
                         f"makespan {r.metrics['makespan_s']:,.0f} s", delta_color="off")
            best = max(per_hour, key=per_hour.get)
            gain = per_hour[best] / per_hour["static"] - 1
            cont_gain = per_hour["continuous"] / per_hour["static"] - 1
            if pick == best:
                st.success(f"**Your prediction holds.** {best} summarized {per_hour[best]:,.0f} documents per hour, "
                           f"{gain:+.0%} against standard batching. With a backlog there is always a prompt "
                           "waiting, so a policy that refills every freed slot at once keeps the engine busy.")
            elif pick in ("continuous", "chunked"):
                st.info(f"**Right direction.** {pick} ({per_hour[pick]:,.0f}/h) beats standard batching by "
                        f"{per_hour[pick] / per_hour['static'] - 1:+.0%}, but {best} did better still "
                        f"({per_hour[best]:,.0f}/h): it mixes prompt chunks with decodes so each pass uses "
                        "both the compute and the memory bandwidth.")
            elif pick == "static":
                st.error(f"**Not this time.** Standard batching finished {per_hour['static']:,.0f} documents per "
                         f"hour, {per_hour[best] / per_hour['static'] - 1:.0%} fewer than {best}. It waits for "
                         "the longest summary of each batch while finished slots idle (padding).")
            else:
                st.error(f"**It does make a difference:** from {min(per_hour.values()):,.0f} to "
                         f"{max(per_hour.values()):,.0f} documents per hour on the same archive "
                         f"(continuous {cont_gain:+.0%} vs static).")
            st.markdown(
                "**The book's conclusion:** for throughput goals, prioritize prefilling (continuous batching, "
                "*prefill-prioritized*): new work enters as soon as resources allow. The cost, generation "
                "stalls for running sequences, does not matter when nobody watches the tokens arrive. "
                f"Here the p99 gap between tokens was {common.ms(results['continuous'].metrics['tbt_p99_s'])} "
                f"under continuous batching against {common.ms(results['static'].metrics['tbt_p99_s'])} under "
                "standard batching: irrelevant for this business.")

# ---- experiment 2: hybrid service -----------------------------------------------------------------------
else:
    preset = PRESETS["hybrid-service"]
    st.subheader("2. The hybrid service")
    st.markdown(
        "One engine serves two kinds of traffic: **interactive** chat users (first token within 0.5 s, no "
        "gap between tokens over 50 ms) and **batch** jobs with loose goals (60 s and 1 s). "
        f"The simulated workload: {preset.description}")
    pick, locked = _predict("hybrid", HYBRID_OPTIONS,
                            "Which queue order keeps the most interactive users inside their goals?")
    if locked and pick is not None:
        results = {}
        for o in HYBRID_ORDERS:
            res = common.shared_or_error(lambda o=o: scenario("hybrid-service", order=o, record_iterations=False))
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
