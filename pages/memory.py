"""Memory and fragmentation (C5): paged vs contiguous KV memory on the same arrivals, a block map synced to
an iteration slider, the waste split over time, and the moment a request is refused although total free
memory would hold it (found in the trace, not written here)."""

import streamlit as st

from pages import common
from sim import ConfigError, scenario
from sim.config import resolve_workload
from sim.workload import PRESETS
from viz import follow as vf
from viz import memory as vm

common.reroute_first_visit()  # first, on every run: a fresh server's first visits go through app.py's router

st.title("Memory and fragmentation")
common.intro(
    "Every running sequence keeps its **KV cache** (the keys and values of every token it has seen) in "
    "accelerator memory. How that memory is handed out decides how many sequences fit. **Contiguous "
    "allocation** gives each request one region sized for its prompt plus the most tokens it may ever "
    "generate; **paged memory** (PagedAttention, as in vLLM) hands out small fixed-size blocks from anywhere. "
    "The book calls the result of the first **memory fragmentation**. The split of that waste used here "
    "comes from the vLLM paper (Kwon et al., *Efficient Memory Management for Large Language Model Serving "
    "with PagedAttention*, SOSP 2023): memory **reserved** for tokens a request will still generate, "
    "*internal fragmentation* (reserved but never used, because the request stops before its maximum) "
    "and *external fragmentation* (free, but outside the largest hole: a new region must fit in one hole).")
preset = PRESETS["fragmentation"]
st.info(f"**Scenario `fragmentation`.** {preset.description}  \n**Look for:** {preset.look_for}")

with st.sidebar:
    st.subheader("Memory settings")
    requests = common.url_slider("Requests", 20, 120, "requests", 60, step=10,
                                 help="How many requests arrive (same stream for both memory managers).")
    kv = common.url_select("KV cache size (token slots)", [8_000, 12_000, 16_000, 24_000], "kv", 12_000,
                           help="Capacity in token slots; one slot holds one token's K and V in every layer.")
    block = common.url_select("Paged block size (tokens)", [8, 16, 32, 64], "block", 16,
                              help="Tokens per block; paging wastes less than one block per sequence.")
    seed = common.url_number("Seed", 0, 10_000, "seed", 0, step=1)


def _configs():
    wl = resolve_workload("fragmentation", int(requests))
    base = dict(workload=wl, kv_capacity_tokens=int(kv), block_size=int(block), seed=int(seed),
                record_layout=True)
    return scenario("fragmentation", memory="contiguous", **base), scenario("fragmentation", memory="paged", **base)


try:
    cfg_c, cfg_p = _configs()
except ConfigError as e:
    common.show_error(e)
    st.stop()
contig = common.run(cfg_c)
paged = common.run(cfg_p)
refused = vm.refused_although_free(contig)
moment = refused[0] if refused else None

# ---- the refused-although-free moment ---------------------------------------------------------------
st.subheader("A request refused although memory is free")
if moment is not None:
    st.warning(moment.sentence())
    st.markdown(f"Paged memory on the same arrivals: the same request got memory after "
                f"{common.ms(paged.request(moment.request_id).queue_s)} in the queue "
                f"(contiguous: {common.ms(contig.request(moment.request_id).queue_s)}).")
else:
    st.success("With these settings no request was refused while enough memory was free in total. "
               "Try a smaller KV cache or more requests.")

# ---- predict, then observe -------------------------------------------------------------------------
pick = common.predict(
    "waste", "Predict first: over the whole run, which memory manager leaves more of the KV cache unused by "
             "stored tokens (reserved for tokens still to come, internal or external waste)?",
    {"contiguous": "Contiguous", "paged": "Paged", "same": "About the same"})
if pick is None:
    st.stop()
wc_all, wp_all = contig.metrics["kv_waste_fraction"], paged.metrics["kv_waste_fraction"]
truth = "contiguous" if wc_all > wp_all * 1.1 else "paged" if wp_all > wc_all * 1.1 else "same"
common.reveal(pick, truth,
              f"The simulator: {wc_all:.1%} of the cache wasted on average (time-weighted) under contiguous "
              f"allocation against {wp_all:.1%} under paging, on the same {len(contig.requests)} requests.",
              "Why: a contiguous region is sized for the prompt plus the most tokens a request may ever "
              "generate, so most of it waits for tokens that never come; paging takes one block at a time and "
              "wastes under one block per sequence.")

# ---- block maps synced to one slider ----------------------------------------------------------------
n_it = len(contig.iterations)
default_it = moment.state_iteration if moment is not None else min(50, n_it)
# Scoped by the settings: after a change the slider starts again at the new run's refusal.
it_c = common.url_slider("Inspect iteration (contiguous run)", 1, n_it, "it", default_it,
                         help="The paged map shows the paged run at the same moment in time.",
                         scope=f"{requests}-{kv}-{block}-{seed}")
t_now = contig.iterations[it_c - 1].end_s
it_p = vm.iteration_at(paged, t_now)
show_hl = moment if moment is not None and it_c == moment.state_iteration else None
follow = common.follow_bar([r.id for r in contig.requests], lambda rid: f"{common.plain(rid)}'s KV cells are "
                           "outlined in black in both maps.")
map_c = vm.block_map(contig, it_c, cell_tokens=int(block), highlight=show_hl,
                     title=f"Contiguous: after iteration {it_c} ({t_now:.2f} s)")
map_p = vm.block_map(paged, it_p, cell_tokens=int(block),
                     title=f"Paged: after iteration {it_p} ({paged.iterations[it_p - 1].end_s:.2f} s)")
if follow:
    map_c = vf.follow_blocks(map_c, contig, it_c, follow, int(block))
    map_p = vf.follow_blocks(map_p, paged, it_p, follow, int(block))
left, right = st.columns(2)
with left:
    common.plot(map_c, key="map_contig")
with right:
    common.plot(map_p, key="map_paged")
common.explain(
    f"The KV cache as a grid; each cell is {block} token slots, in address order (slot 0 top left). "
    "Dark blue cells (S) hold computed tokens, light blue cells (R) are reserved for tokens a request will "
    "still generate, orange cells (I) are reserved but will never be used (the request stops before its "
    "maximum: internal waste), red cells (E) are free but outside the largest hole (external waste); blank "
    "light grey cells are the largest hole. "
    "Hover a cell for its owner. "
    "The slider moves the contiguous run; the paged run is shown at the same moment in time."
    + (f" Black outlines: the cells holding {common.plain(follow)}'s KV cache." if follow else "")
    + (f" Iteration {moment.state_iteration} is the state just before the refusal." if moment else ""))

# ---- waste over time --------------------------------------------------------------------------------
st.subheader("Where the memory goes over time")
common.plot(vm.waste_over_time({"contiguous": contig, "paged": paged}, moment), key="waste")
common.explain(
    "The share of the KV cache in each state after every iteration, stacked: stored tokens at the bottom, "
    "then reserved, internal and external waste. The white gap above the stack is free memory. The dashed "
    "line marks the refusal above.")
wc, wp = vm.waste_summary(contig), vm.waste_summary(paged)
cols = st.columns(4)
labels = {"reserved": "Reserved", "internal": "Internal waste", "external": "External waste"}
# Each card: the contiguous run's value; below it the paged run's, its arrow pointing from contiguous to paged.
for col, key in zip(cols, labels):
    col.metric(f"{labels[key]} (time-weighted)", f"{wc[key]:.1%}",
               **common.change(f"paged {wp[key]:.1%}", wp[key], wc[key], higher_is_better=False))
cols[3].metric("Makespan", common.ms(contig.metrics["makespan_s"]),
               **common.change(f"paged {common.ms(paged.metrics['makespan_s'])}", paged.metrics["makespan_s"],
                               contig.metrics["makespan_s"], higher_is_better=False))
st.caption(f"Contiguous: peak {contig.metrics['max_concurrent']} sequences at once, mean queueing delay p50 "
           f"{common.ms(contig.metrics['queue_p50_s'])}. Paged: peak {paged.metrics['max_concurrent']}, "
           f"p50 {common.ms(paged.metrics['queue_p50_s'])}. Shares are of a {kv:,}-slot cache, "
           f"{len(contig.requests)} requests.")
st.markdown("**What the simulator checks** (in CI, on five seeds, with this page's default settings):")
common.claim_numbers(["paged-waste-under-a-block", "contiguous-refuses-although-free", "contiguous-wastes-more"],
                     here="memory")
