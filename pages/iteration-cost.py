"""What one iteration costs (C1, first in the learning path): the time of one forward pass against the
tokens in it, for prefill and for decode, from the simulator's own cost model; the ridge point, the
weights-read floor, how the KV read grows with batch and context; a prediction before the answer.

URL state: ?preset=<model> on <hardware>&ctx=<tokens of context>&p_double=<prediction key>.
"""

import streamlit as st

from pages import common
from viz import roofline as vr

common.reroute_first_visit()  # first, on every run: a fresh server's first visits go through app.py's router

PAIRS = vr.pair_labels()
DEFAULT_PAIR = "llama-3-8b on a100-80gb"
BASE_SEQS = 16  # the prediction doubles a decode batch of this many sequences
CHOICES = {"same": "About the same: under 10% longer", "some": "Somewhat longer: 10% to 50% longer",
           "much": "Much longer: 50% to 100% longer", "double": "Twice as long or more"}
BOUNDS = (1.10, 1.50, 2.00)  # ratio limits between the four answers


def bucket(ratio: float) -> str:
    """The key of the answer in CHOICES that a measured ratio falls in."""
    for limit, key in zip(BOUNDS, CHOICES):
        if ratio < limit:
            return key
    return "double"


st.title("What one iteration costs")
st.markdown(
    "Every scheduling decision in this course comes down to one forward pass: an **iteration**. In one pass "
    "the model reads **every weight once**, however many tokens it processes, and computes about "
    "2 x parameters floating-point operations **per token**. A pass may **prefill** (process a prompt's "
    "tokens, which yields the first output token) or **decode** (one new token for each running sequence), "
    "or both at once.\n\n"
    "**The KV cache.** Attention lets every token look back at the keys (K) and values (V) of all tokens "
    "before it. Recomputing them each step would repeat the whole prompt, so the engine keeps them in GPU "
    "memory: the **KV cache**, one K and one V vector per token per layer. A decode step computes one new "
    "token but must **read its sequence's whole KV cache** once; the memory page shows how that cache is laid "
    "out and wasted.")

with st.sidebar:
    st.subheader("Model and hardware")
    pair = common.url_select("Preset (model on hardware)", PAIRS, "preset", DEFAULT_PAIR,
                             help="Published model shapes (config.json) on datasheet accelerators, with "
                                  "efficiency factors fitted to measured GPU passes.")
    context = common.url_slider("Context per decoding sequence (tokens)", 128, 8192, "ctx", 1024, step=128,
                                help="Tokens already in each decoding sequence's KV cache (prompt + output so far).")
model, hardware = vr.split_pair(pair)
cost = vr.cost_of(model, hardware)
nums = {q: v for q, v, _ in cost.describe()}

st.subheader(f"The preset: {model} on {hardware}")
c = st.columns(4)
c[0].metric("Peak compute", nums["peak compute"], help="Dense 16-bit tensor throughput (datasheet).")
c[1].metric("Memory bandwidth", nums["memory bandwidth"], help="Datasheet bandwidth of the cards together.")
c[2].metric("Weights read per pass", nums["weights read per pass"],
            help="The linear layers' weights, read once by every pass whatever its size.")
c[3].metric("KV cache per token", nums["KV cache per token"], help="K and V for every layer, 16-bit.")
c = st.columns(4)
c[0].metric("Ridge point (tokens per pass)", f"{cost.ridge_tokens():,.0f}",
            help="Tokens per pass at which the linear layers' compute time equals the weights-read time.")
c[1].metric("Weights-read floor", nums["weights-read floor"], help="No pass takes less GPU time: every weight is read once.")
c[2].metric("KV cache capacity (tokens)", f"{vr.capacity(model, hardware):,}",
            help="What fits in memory after the weights and a 10% activation reserve.")
c[3].metric("CPU overhead per pass", nums["CPU overhead per pass"],
            help="Scheduling, input preparation, sampling and output handling, per iteration.")
with st.expander("Every number of this preset, with its source"):
    st.dataframe(vr.numbers_table(model, hardware), hide_index=True, width="stretch")
    st.caption("MFU and MBU are the shares of peak compute and bandwidth real kernels reach; they are fitted "
               "to measured A100 and H100 passes (Vidur's profiling data), as the validation page shows. "
               "Beside them, every kernel takes a least time however little it computes (measured: about 4 us, "
               "9 kernels per layer), which a decode pass pays on top of reading the weights.")

# ---- predict, then look ------------------------------------------------------------------------------
st.subheader("Predict first")
question = (f"{BASE_SEQS} sequences decode together, {context:,} tokens of context each. **Double the batch** "
            f"to {2 * BASE_SEQS} sequences: how much longer does the pass take?")
pick = common.predict("double", question, CHOICES)
if pick is None:
    st.stop()  # the curves answer the question: they wait for a prediction

t1, t2 = vr.decode_ms(cost, BASE_SEQS, context), vr.decode_ms(cost, 2 * BASE_SEQS, context)
ratio = t2 / t1
truth = bucket(ratio)
answer = (f"The cost model prices the pass of {BASE_SEQS} decodes at **{t1:,.2f} ms** and of {2 * BASE_SEQS} at "
          f"**{t2:,.2f} ms**: **{ratio:.2f} x** ({ratio - 1:+.0%}), so *{CHOICES[truth].lower()}*.")
why = (f"Why: both passes read the same {nums['weights read per pass']} of weights once; the extra "
       f"{BASE_SEQS} sequences add only their own KV-cache read ({vr.kv_read_gb(model, BASE_SEQS, context):.2f} GB "
       "more) and a little compute, far below the ridge point.")
common.reveal(pick, truth, answer, why)

# ---- the pass against its tokens -----------------------------------------------------------------------
st.subheader("A pass against the tokens in it")
fig = vr.pass_time(model, hardware, context)
common.plot(fig, key="pass_time")
common.explain(
    "Both axes are logarithmic. Orange: a pass that prefills one prompt of N tokens; blue dashed: a pass in "
    f"which N sequences each decode one token over {context:,} tokens of context (it stops where their KV "
    "caches no longer fit in memory). Left of the green **ridge point** a pass is **memory-bound**: reading "
    "the weights (the dotted **floor**) takes longer than the arithmetic, so extra tokens cost almost "
    "nothing. Right of it the pass is **compute-bound** and its time grows with every token. A prefill "
    "of a few thousand tokens is far to the right; a decode step alone is far to the left, and the decode "
    "line rises faster than the prefill line because every sequence also reads its own KV cache.")

st.subheader("Where a decode pass spends its time")
common.plot(vr.decode_parts(model, hardware, context), key="decode_parts")
common.explain(
    "One decode pass split into its parts, for more and more sequences: the linear layers (blue, mostly the "
    "weights read, nearly the same for 1 sequence or 64), attention (vermillion: each sequence reads its whole KV "
    "cache, so this part grows with batch size x context), writing the new tokens' K and V (green) and the "
    "CPU's work per iteration (grey). Move the context slider: the attention part grows with it.")
kv64 = vr.kv_read_gb(model, 64, context)
st.caption(f"At 64 sequences of {context:,} tokens a decode pass reads {kv64:,.1f} GB of KV cache beside "
           f"{nums['weights read per pass']} of weights.")

# ---- what it means for scheduling ----------------------------------------------------------------------
st.subheader("What it means for scheduling")
ridge = cost.ridge_tokens()
st.markdown(
    f"- **Batch the decodes.** Up to the ridge point (~{ridge:,.0f} tokens on this preset) a pass costs about "
    "the weights read, so decoding many sequences together is nearly free per sequence: this is why "
    "continuous batching keeps the batch full.\n"
    f"- **A long prefill makes everyone wait.** A {2048:,}-token prompt takes "
    f"{vr.prefill_ms(cost, 2048):,.0f} ms, against {t1:,.1f} ms for {BASE_SEQS} decodes: every decode that "
    "shares its pass (continuous batching) or sits it out (prefill-first) waits that long for its next token, "
    "a **generation stall**.\n"
    "- **Chunked prefill** splits prompts so each pass stays near the ridge point: decodes keep their pace "
    "while prompt tokens fill the rest of the pass.\n"
    "- **The KV cache limits the batch.** Every running sequence's cache must fit in memory and is read every "
    "step, so long contexts cap how many sequences can decode together (the memory page).\n"
    "- **Disaggregation** puts compute-bound prefills and memory-bound decodes on different engines.")
common.page_link("step-by-step", "Next: continuous batching, step by step")
