"""Home: what Batch Lab teaches, the learning path (the course card's learn-before / learn-after order,
concepts C1..C12 of DESIGN.md; pages, order and one-liners from quiz/catalog.py) with a link to every page, how each kind of user works with it, and one small
live comparison so the first screen already shows the simulator at work."""

import streamlit as st

from quiz import catalog
from pages import common
from quiz.model import CONCEPT_NAMES
from sim import scenario

common.reroute_first_visit()  # first, on every run: a fresh server's first visits go through app.py's router

st.title("Batch Lab")
st.markdown(
    "#### How an LLM inference server decides which requests to run together, step by step\n"
    "A model generates text one token per **iteration** (one forward pass of the model). A server runs "
    "many requests in one **batch** so each pass serves them all. *Which* requests join the batch, and "
    "when, is **scheduling**, and it decides how fast each user sees the first token and how many tokens "
    "per second the hardware produces. Batch Lab simulates an inference engine so you can watch "
    "those decisions happen, change the policy and measure the result. It follows *Foundations of Large "
    "Language Models* (Xiao & Zhu), chapter 5, the section on batching and **priority-based scheduling**.")

# One live comparison: the book's five requests under both batching styles.
c_static = common.run(scenario("book-example", policy="static"))
c_cont = common.run(scenario("book-example", policy="continuous"))
with st.container(border=True):
    st.markdown("**Try it in numbers: the book's five requests x1..x5 on an engine with 3 slots**")
    cols = st.columns(4)
    cols[0].metric("Standard batching: all done", common.ms(c_static.metrics["makespan_s"]),
                   help="Standard (static, request-level) batching: time until the last of the five is done.")
    cols[1].metric("Continuous batching: all done", common.ms(c_cont.metrics["makespan_s"]),
                   help="Continuous (in-flight, iteration-level) batching: time until the last one is done.",
                   delta=f"{(c_cont.metrics['makespan_s'] / c_static.metrics['makespan_s'] - 1):+.0%}",
                   delta_color="inverse")
    mean_static = sum(r.ttft_s for r in c_static.requests) / len(c_static.requests)
    mean_cont = sum(r.ttft_s for r in c_cont.requests) / len(c_cont.requests)
    cols[2].metric("Standard: mean first-token wait", common.ms(mean_static),
                   help="Mean time to first token (TTFT) over the five requests.")
    cols[3].metric("Continuous: mean first-token wait", common.ms(mean_cont),
                   help="Mean time to first token (TTFT) over the five requests.",
                   delta=f"{(mean_cont / mean_static - 1):+.0%}", delta_color="inverse")
    common.explain(f"Same five arrivals, same simulated engine (Llama-3-8B on an A100). Standard batching needs "
                   f"{len(c_static.iterations)} iterations, continuous batching {len(c_cont.iterations)}: newcomers "
                   "join at the next iteration instead of waiting for the whole batch. The step-by-step page "
                   "shows why, one iteration at a time.")
    common.page_link("step-by-step", "See it step by step")

st.subheader("Learning path")
st.markdown(
    "The order follows the course card: first how continuous batching works (C1-C3, C7), then what it costs "
    "(C4, C5), then how priorities between prefilling and decoding and between requests shape the result "
    "(C6, C8, C9, C11), how pipelined engines split the work (C10), and finally choosing a strategy for a "
    "business goal (C12).")
for i, p in enumerate(catalog.learning_path(), start=1):
    cols = st.columns([0.06, 0.5, 0.44], vertical_alignment="top")
    cols[0].markdown(f"**{i}.**")
    if p.path_label:  # a page on every concept (or none): its own line
        what = f"**{p.path_label}**" + (f" ({p.concept_label})" if p.concepts else "")
    else:
        what = f"**{'; '.join(CONCEPT_NAMES[c] for c in p.concepts)}** ({p.concept_label})"
    cols[1].markdown(what)
    with cols[2]:
        common.page_link(p.url_path)
        st.caption(p.blurb)

st.subheader("How to use it")
c1, c2, c3 = st.columns(3)
with c1:
    st.markdown("**Learner.** Go down the learning path. On every page: read the two-line explanation, "
                "predict what will happen, then change one setting and look. Each chart has a *What you are "
                "looking at* note. Terms follow the book, with common synonyms beside them: *continuous "
                "batching* (in-flight / iteration-level batching), *standard batching* (static / "
                "request-level batching).")
with c2:
    st.markdown("**Instructor.** Every page keeps its settings in the URL: set up a view, copy the address "
                "and share or bookmark it. Scenario presets (chat, legal archive, hybrid service, ...) make "
                "one lesson visible each. Turn on *Presentation mode* in the sidebar for a projector "
                "(`?present=1` in a link does the same). The command line (`python -m sim run ...`) "
                "gives the same numbers for slides.")
with c3:
    st.markdown("**Self-assessor.** Take the quiz under *Check yourself*; every answer can be checked in the "
                "simulator. The *Choosing a strategy* page asks you to state a conclusion before it shows "
                "the numbers.")
st.caption("Units: times in milliseconds (ms) on screen, seconds in downloaded data; memory in KV token slots "
           "(one slot holds one token's keys and values in every layer). Iterations are numbered from 1.")
