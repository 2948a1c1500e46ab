"""Continuous batching, step by step (C1, C2, C3, C7): the book's x1..x5 example replayed one iteration at
a time. Before each step the learner predicts which requests will be prefilled, decoded, kept waiting or
removed; after the step the prediction is checked against the simulator's trace. A toggle replays the
same arrivals under standard (request-level, static) batching.

State: the iteration shown is in session state (one counter per batching style) and in the URL (?it=).
"""

import time

import streamlit as st

from pages import common, live_class
from quiz.classroom import LivePrompt
from sim import scenario
from sim.workload import PRESETS
from sim import trace_query as tq
from viz import follow as vf
from viz import narration as nr
from viz import timeline as tl

common.reroute_first_visit()  # first, on every run: a fresh server's first visits go through app.py's router

st.title("Continuous batching, step by step")
common.intro(
    "An LLM writes its answer one token at a time. Each **iteration** is one **forward pass** of the model "
    "over the whole batch. In that pass every sequence in the batch gets one piece of work: a newcomer gets "
    "its **prefill** (prefilling, also called prompt processing: the whole prompt is read at once, and the "
    "first output token comes out), a sequence already running gets one **decode** step (decoding, also "
    "called a generation step: one new token). The engine below holds **3 sequences** at a time "
    "(3 batch slots); requests that do not fit wait in a **queue**.")

with st.expander("The book's terms, and what to watch for", expanded=False):
    st.markdown(
        "- **Continuous batching** (also *in-flight* or *iteration-level batching*, Orca-style): at every "
        "iteration finished sequences leave the batch and queued requests join as soon as a slot frees up. "
        "A newcomer's prefill runs **in the same forward pass** as the others' decode steps "
        "(*interleaving prefilling and decoding*).\n"
        "- **Standard batching** (also *static* or *request-level batching*): a batch is formed once and "
        "runs until its last sequence finishes; newcomers wait for the whole batch, even when slots are idle.\n"
        "- **Simple iteration-level scheduling** (C7): the scheduler is asked *at every iteration* who runs "
        "next, instead of once per batch. That is what lets x3, arriving during iteration 3, join at iteration 4.\n"
        f"- The scenario: {PRESETS['book-example'].description}\n"
        f"- **Look for:** {PRESETS['book-example'].look_for}")

standard = common.url_toggle(
    "Show standard batching instead (static / request-level)", "standard", False,
    help="Same five arrivals; the batch is formed once and newcomers wait until all of it has finished.")
policy = "static" if standard else "continuous"
result = common.run(scenario("book-example", policy=policy))
other = common.run(scenario("book-example", policy="continuous" if standard else "static"))
its = result.iterations
n = len(its)
slots = result.config.max_batch
style = "standard (static, request-level)" if standard else "continuous (in-flight, iteration-level)"
lines = nr.narrations(result)

# ---- the iteration counter: session state, mirrored in the URL ------------------------------------------
key = f"sbs_k_{policy}"
if key not in st.session_state:
    # A shared link's ?it= opens the replay it was copied from; a replay the learner switches to starts at
    # its beginning (the URL then still holds the other replay's position).
    opened = st.session_state.get("sbs_opened")
    st.session_state[key] = common.url_int("it", 0, n, 0) if opened in (None, policy) else 0
st.session_state.setdefault("sbs_opened", policy)
st.session_state.setdefault("sbs_playing", False)
st.session_state.setdefault("sbs_feedback", {})


def _go(delta: int | None = None, to: int | None = None) -> None:
    k = st.session_state[key]
    st.session_state[key] = min(max(to if to is not None else k + delta, 0), n)
    if to is not None or (delta or 0) < 0:
        st.session_state["sbs_playing"] = False


def _truth(it) -> dict[str, set]:
    """What the trace says happens to each request in iteration ``it``."""
    return {"prefill": {rid for rid, _ in it.prefill}, "decode": set(it.decode),
            "queue": set(tq.queued_ids(result, it)), "finish": set(it.finished)}


ASK = {"prefill": ("who is prefilled", "be prefilled"), "decode": ("who decodes", "take a decode step"),
       "queue": ("who waits", "wait in the queue"), "finish": ("who leaves", "be removed (produce their last token)")}


def _class_prompts(k: int, arrived: list[str]) -> dict[str, LivePrompt] | None:
    """The same prediction as questions for a live class session, answered by the trace."""
    if len(arrived) < 2:
        return None
    it, truth = its[k], _truth(its[k])
    why = lines[k].replace("**", "")[:600]
    return {label: LivePrompt("step-by-step", f"Iteration {it.index} ({style}): which requests will {q}?",
                              tuple(arrived), tuple(i for i, r in enumerate(arrived) if r in truth[c]),
                              multiple=True, explanation=why) for c, (label, q) in ASK.items()}


def _check_and_step() -> None:
    """Grade the prediction for the next iteration against the trace, then step."""
    k = st.session_state[key]
    if k >= n:
        return
    it = its[k]
    truth = _truth(it)
    guess = {c: set(st.session_state.get(f"sbs_guess_{c}", [])) for c in truth}
    st.session_state["sbs_feedback"][(policy, it.index)] = {c: (sorted(guess[c]), sorted(truth[c])) for c in truth}
    for c in truth:
        st.session_state[f"sbs_guess_{c}"] = []
    _go(1)


k = st.session_state[key]
st.query_params["it"] = str(k)

# Four equal buttons on one row and the progress under them: on a projector (1280x720, larger type) a fifth
# column for the progress squeezed "Restart" and "Step back" until they broke mid-word.
b = st.columns(4, vertical_alignment="center")
b[0].button("Restart", icon=":material/first_page:", on_click=_go, kwargs={"to": 0}, disabled=k == 0,
            width="stretch")
b[1].button("Step back", icon=":material/chevron_left:", on_click=_go, args=(-1,), disabled=k == 0, width="stretch")
b[2].button("Step", icon=":material/chevron_right:", on_click=_go, args=(1,), disabled=k >= n, type="primary",
            width="stretch", help="Run the next iteration without predicting.")
if st.session_state["sbs_playing"]:
    b[3].button("Pause", icon=":material/pause:", width="stretch",
                on_click=lambda: st.session_state.update(sbs_playing=False))
else:
    b[3].button("Play", icon=":material/play_arrow:", width="stretch", disabled=k >= n,
                on_click=lambda: st.session_state.update(sbs_playing=True))
st.progress(k / n, text=f"{style}: iteration {k} of {n}")

# ---- where we are --------------------------------------------------------------------------------------
if k == 0:
    st.info("Before iteration 1: x1 and x2 have arrived, the batch is empty. Predict below, or press **Step**.")
else:
    it = its[k - 1]
    st.info(lines[k - 1], icon=":material/record_voice_over:")
    fb = st.session_state["sbs_feedback"].get((policy, it.index))
    if fb:
        names = {"prefill": "prefilled", "decode": "decoded", "queue": "waiting in the queue",
                 "finish": "removed (last token, leaves the batch)"}
        right = sum(1 for g, t in fb.values() if g == t)
        msg = [f"**Your prediction for iteration {it.index}: {right} of 4 right.**"]
        for c, (g, t) in fb.items():
            mark = "correct" if g == t else "not quite"
            msg.append(f"- {names[c]}: you said {', '.join(g) or 'none'}; the trace says "
                       f"{', '.join(t) or 'none'} ({mark})")
        (st.success if right == 4 else st.warning)("\n".join(msg))

# Charts on the left, the requests and the prediction on the right; on a projector (presentation mode,
# larger type) one below the other, or the slot cells, queue labels and table columns overlap.
present = bool(st.session_state.get("present"))
pick_box = st.container() if present else None
left, right_col = (st.container(), st.container()) if present else st.columns([0.58, 0.42])
with pick_box or right_col:  # above the requests table, where it has room; the charts on the left read it
    follow = common.follow_select([r.id for r in result.requests])
with left:
    grid = tl.slot_grid(result, upto=k, slots=slots, title=f"Batch slots, {style}")
    common.plot(vf.follow_slots(grid, follow) if follow else grid, key="slots")
    common.explain("Each column is one iteration (one forward pass), each row one of the engine's 3 batch "
                   "slots. Orange squares are prefills, blue circles decode steps; the grey line under a "
                   "column lists the requests waiting in the queue during that pass.")
    if k > 0:
        lanes = tl.request_lanes(result, upto=k, title="Timeline so far: one lane per request", height=330)
        common.plot(vf.follow_lanes(lanes, result, follow) if follow else lanes, key="lanes")
        common.explain("Time runs to the right (ms). Dotted grey = waiting in the queue, hatched orange = "
                       "prefill, solid blue = decode, green tick = last token out. Hover a bar for the iteration.")
with right_col:
    # The requests as the learner needs them to predict: arrival, lengths, progress so far.
    rows = [{"id": ("▶ " if q.id == follow else "") + q.id, "arrives (ms)": round(q.arrival_s * 1e3, 1), "tokens out": f"{q.tokens_out} of "
             f"{q.output_tokens}", "now": q.state} for q in tq.request_states(result, k)]
    if follow:
        st.caption(f"{common.plain(follow)}: outlined in the slots and the timeline, marked ▶ in the table and "
                   "the narration log.")
    st.markdown(f"**Requests {'before iteration ' + str(k + 1) if k < n else 'at the end'}**")
    st.dataframe(rows, hide_index=True, width="stretch")
    st.caption(f"Every prompt here is {result.requests[0].prompt_tokens} tokens. A prefill produces a request's "
               "first output token; each decode step one more. A request leaves the batch in the iteration that "
               "produces its last output token.")

    if k < n:
        nxt = its[k]
        arrived = tq.present_before(result, nxt)
        with st.form("predict", border=True):
            st.markdown(f"**Predict iteration {nxt.index}** ({style}). New since the last pass: "
                        f"{', '.join(tq.arrivals_before(result, nxt, its[k - 1] if k else None)) or 'no arrivals'}.")
            st.multiselect("Which requests will be prefilled?", arrived, key="sbs_guess_prefill")
            st.multiselect("Which will take a decode step?", arrived, key="sbs_guess_decode")
            st.multiselect("Which will wait in the queue?", arrived, key="sbs_guess_queue")
            st.multiselect("Which will be removed (produce their last token)?", arrived, key="sbs_guess_finish")
            st.form_submit_button("Check my prediction and step", on_click=_check_and_step, type="primary")
        class_prompts = _class_prompts(k, arrived)
    else:
        st.success(f"All five requests are done after {n} iterations ({common.ms(its[-1].end_s)}). The same "
                   f"arrivals under {'continuous' if standard else 'standard'} batching take "
                   f"{len(other.iterations)} iterations ({common.ms(other.iterations[-1].end_s)}). Flip the "
                   "toggle above to replay them.")
        class_prompts = None

# The same prediction for a whole room (a live class session), below the chart and the prediction form.
live_class.presenter_panel("step-by-step", class_prompts)

with st.expander(f"Narration log ({k} of {n} iterations)", expanded=False):
    for line, it in zip(lines[:k], its):
        st.markdown(f"- {'▶ ' if follow and vf.role_in(it, follow) else ''}{line}")

if st.session_state["sbs_playing"]:
    if k < n:
        time.sleep(1.2)
        st.session_state[key] = k + 1
        st.rerun()
    else:
        st.session_state["sbs_playing"] = False
