"""Scheduling playground: any workload (a scenario preset or an uploaded trace) under any policy
(strategy x queue order x preemption x memory manager), with the animated batch timeline, batch
composition, KV memory and queue, metric cards with sample sizes, the iteration log and downloads.

Every setting is mirrored in the URL (?scenario=&policy=&order=&preempt=&memory=&rate=&requests=
&max_batch=&budget=&mbt=&kv=&expr=&seed=), so an instructor can share the exact view.
"""

import functools

import streamlit as st

from pages import common
from sim import SCENARIOS, ConfigError, SimConfig, scenario, simulate
from sim.batching import STRATEGIES
from sim.config import resolve_workload
from sim.kv_memory import KV_MANAGERS
from sim.metrics import STALL_DEFINITION, STALL_NOTE
from sim.preemption import PREEMPT_MODES
from sim.queue_order import EXPR_FIELDS, ORDERS, CustomExpression
from sim.iteration_log import iterations_csv
from sim.trace import requests_csv
from sim.workload import PRESETS
from viz import follow as vf
from viz import narration as nr
from viz import roofline as vr
from viz import timeline as tl

common.reroute_first_visit()  # first, on every run: a fresh server's first visits go through app.py's router

DEFAULT_REQUESTS = 60  # enough to queue at the presets' rates, small enough to redraw quickly
DEFAULT_EXPR = "priority * 10 + prompt_tokens / 1000"
# The page's own starting point for a preset whose defaults never queue at 60 requests (chat: 2 req/s on 64
# slots): a rate and a batch size at which requests wait, so the first view shows the queue the page is about.
PAGE_DEFAULTS = {"chat": {"rate": 8.0, "max_batch": 16}}



def _summaries(registry: dict) -> str:
    """'name: summary; ...' from a policy registry (each class carries its one-line summary)."""
    return "; ".join(f"{name}: {cls.summary}" for name, cls in registry.items())


POLICY_KEYS = ("policy", "order", "preempt", "memory", "rate", "requests", "max_batch", "budget", "mbt", "kv", "expr")

st.title("Scheduling playground")
common.intro("Pick a workload and a scheduling policy, then watch the batch form iteration by iteration. Each "
            "**iteration** is one forward pass; **prefill** processes a prompt, **decode** produces one token.")

# ---- workload -------------------------------------------------------------------------------------------
with st.sidebar:
    st.subheader("Workload")
    name = common.url_select("Scenario preset", list(SCENARIOS), "scenario", "chat",
                             help="Each preset makes one lesson visible; its description is shown on the page.")
    # A new scenario brings its own engine settings: its policy widgets are new widgets (scope=name) that
    # start at the scenario's values, and the previous scenario's values leave the URL.
    if st.session_state.get("pg_scenario") not in (None, name):
        for k in POLICY_KEYS:
            if k in st.query_params:
                del st.query_params[k]
    st.session_state["pg_scenario"] = name
    base = scenario(name)
    preset = PRESETS[name]
    page_default = PAGE_DEFAULTS.get(name, {})
    upload = st.file_uploader("...or upload a trace (CSV or JSON lines)", type=["csv", "jsonl", "ndjson"],
                              help="Columns arrival_s, prompt_tokens, output_tokens; optional id, priority, "
                                   "class, deadline_s, max_new_tokens.")
    generated = upload is None and preset.arrival in ("poisson", "gamma", "backlog")
    rate = None
    if upload is None and preset.arrival in ("poisson", "gamma"):
        rate = common.url_number("Arrival rate (requests/s)", 0.1, 1000.0, "rate",
                                 float(page_default.get("rate", preset.rate_per_s)),
                                 step=0.5, scope=name,
                                 help="Mean arrivals per second of the Poisson (or bursty) stream.")
    n_requests = None
    if generated:
        n_requests = common.url_slider("Number of requests", 1, 500, "requests",
                                       min(DEFAULT_REQUESTS, preset.n_requests), step=1, scope=name,
                                       help=f"The preset has {preset.n_requests}; fewer redraw faster.")

    st.subheader("Policy")
    policy = common.url_select("Batching strategy", list(STRATEGIES), "policy", base.policy, scope=name,
                               help=_summaries(STRATEGIES))
    order = common.url_select("Queue order (who is admitted next)", list(ORDERS), "order", base.order, scope=name,
                              help=_summaries(ORDERS))
    expr = ""
    if "expr" in ORDERS[order].knobs:
        expr = common.url_text("Custom priority expression (smaller = more urgent)", "expr",
                               DEFAULT_EXPR, scope=name,
                               help="Fields: " + "; ".join(f"{k}: {v}" for k, v in EXPR_FIELDS.items())
                                    + ". Functions: min, max, abs, log, sqrt.")
    preempt = common.url_select("Preemption", list(PREEMPT_MODES), "preempt", base.preempt, scope=name,
                                help=_summaries(PREEMPT_MODES))
    memory = common.url_select("KV memory manager", list(KV_MANAGERS), "memory", base.memory, scope=name,
                               help=_summaries(KV_MANAGERS))
    budget = base.token_budget
    if "token_budget" in STRATEGIES[policy].knobs:
        budget = common.url_number("Token budget per iteration", 16, 16384, "budget", int(base.token_budget),
                                   step=16, scope=name,
                                   help="chunked: tokens per forward pass (decodes first, then prompt chunks; about "
                                        "512 fills a pass up to the ridge point, tiny budgets lose throughput); "
                                        "disaggregated: prompt tokens per prefill pass")
    max_batch = common.url_number("Max batch (sequences per engine)", 1, 1024, "max_batch",
                                  int(page_default.get("max_batch", base.max_batch)),
                                  step=1, scope=name)
    max_batched_tokens = base.max_batched_tokens
    if "max_batched_tokens" in STRATEGIES[policy].knobs:
        max_batched_tokens = common.url_number(
            "Max tokens per pass", 16, 65536, "mbt", int(base.max_batched_tokens), step=256, scope=name,
            help="The cap on tokens one forward pass computes (prompt tokens + one per decode), like vLLM's "
                 "max_num_batched_tokens; 8192 by default. Whole prompts that do not fit wait for the next "
                 "pass; a longer prompt is prefilled this many tokens at a time.")
    kv = common.url_number("KV capacity (token slots, 0 = what fits on the hardware)", 0, 5_000_000, "kv",
                           int(base.kv_capacity_tokens or 0), step=1000, scope=name)
    seed = common.url_number("Seed", 0, 1_000_000, "seed", int(base.seed), step=1,
                             help="Same settings and seed give the identical run.")
    st.subheader("Model and hardware")
    pair = common.url_select("Model on hardware", vr.pair_labels(), "hw", vr.pair_label(base.model, base.hardware),
                             help="The cost model prices every pass for this preset (published model shapes, "
                                  "datasheet accelerators, efficiency factors fitted to measured GPU passes).")
    model, hardware = vr.split_pair(pair)
    st.caption(vr.preset_summary(model, hardware))

# ---- build the configuration; any bad input becomes one message naming the field -----------------------
if upload is not None:
    st.info(f"**Uploaded trace `{upload.name}`.** Arrival times and lengths come from the file; the preset "
            f"`{name}` only supplies the engine settings.")
else:
    busier = (f" This page starts with {page_default['max_batch']} batch slots and a higher rate than the preset, "
              "so that requests queue." if page_default else "")
    st.info(f"**Scenario `{name}`.** {nr.workload_text(preset, rate, n_requests)}{busier}  \n"
            f"**What to look for:** {preset.look_for}")

# A bad custom expression is named where it was typed, and the page goes on with the default expression
# (said so), so the learner keeps the charts they are comparing against.
run_expr = expr
if "expr" in ORDERS[order].knobs:
    try:
        CustomExpression(expr)
    except ConfigError as e:
        common.show_error(e, f"The run below uses the default expression `{DEFAULT_EXPR}` until yours is "
                             "accepted.")
        run_expr = DEFAULT_EXPR


def _config():
    if upload is not None:
        workload = common.trace_workload_from_upload(upload.name, upload.getvalue())
    else:
        workload = resolve_workload(name, None if n_requests is None else int(n_requests), rate)
    return scenario(name, workload=workload, policy=policy, order=order, expr=run_expr, preempt=preempt,
                    memory=memory, token_budget=int(budget), max_batch=int(max_batch),
                    max_batched_tokens=int(max_batched_tokens), model=model, hardware=hardware,
                    kv_capacity_tokens=int(kv) or None, seed=int(seed))


try:
    cfg = _config()
except ConfigError as e:
    common.show_error(e)
    st.stop()


class _Views:
    """One run and the figures and log drawn from it. Each view is built the first time the page reaches
    it, so the metric cards and the timeline go out to the browser before the charts and the log below
    them are built; once built, every session shares it read-only."""

    def __init__(self, cfg):
        self.cfg = cfg
        self.result = simulate(cfg)
        self._followed: dict = {}

    def followed(self, view: str, rid: str | None):
        """The lanes or KV chart (``view``) with request ``rid`` marked (viz.follow); built once per view and
        request, the last few kept."""
        if rid is None:
            return getattr(self, view)
        key = (view, rid)
        if key not in self._followed:
            mark = vf.follow_lanes if view == "lanes" else vf.follow_kv
            self._followed[key] = mark(getattr(self, view), self.result, rid)
            while len(self._followed) > 8:
                self._followed.pop(next(iter(self._followed)))
        return self._followed[key]

    @functools.cached_property
    def lanes(self):
        return tl.request_lanes(self.result, title=f"Batch timeline: {self.cfg.policy}, {self.cfg.order}, "
                                                   f"{len(self.result.requests)} requests")

    @functools.cached_property
    def composition(self):
        return tl.batch_composition(self.result)

    @functools.cached_property
    def kv(self):
        return tl.kv_and_queue(self.result)

    @functools.cached_property
    def table(self):
        return nr.iteration_table(self.result)


# The cache key is the config's repr: every field of the frozen dataclasses, floats exactly, so equal
# reprs are equal configs; Streamlit's own hashing walks the same fields in Python (~1.2 ms a rerun).
@st.cache_resource(max_entries=16, show_spinner=False, hash_funcs={SimConfig: repr})
def _views(cfg) -> _Views:
    """Built once per config and shared read-only between sessions (st.cache_resource: no per-caller copy
    of the result, which st.cache_data would pickle)."""
    return _Views(cfg)


with st.spinner("Simulating..."):
    try:
        views = _views(cfg)
    except ConfigError as e:  # e.g. a custom expression that fails on a real request mid-run
        common.show_error(e)
        st.stop()
result = views.result
m = result.metrics

# ---- the run's summary: metric cards, refused requests, the settings used -------------------------------

def _pair(a, b) -> str:
    """Two latencies in one card, in one unit: '38 / 113 ms' or '2.90 / 6.56 s'."""
    if a is None or b is None:
        return "-"
    return f"{a * 1e3:,.0f} / {b * 1e3:,.0f} ms" if b < 1 else f"{a:,.2f} / {b:,.2f} s"


def _ran_with(c) -> str:
    """The settings this run used, named as the controls name them (a test compares the two)."""
    w = c.workload
    parts = [f"Batching strategy: {c.policy}", f"Queue order: {c.order}", f"Preemption: {c.preempt}",
             f"KV memory manager: {c.memory}", f"Max batch: {c.max_batch}",
             f"KV capacity: {result.kv_capacity_tokens:,} token slots", f"Seed: {c.seed}",
             f"Requests: {len(result.requests)}"]
    if "token_budget" in STRATEGIES[c.policy].knobs:
        parts.insert(4, f"Token budget: {c.token_budget}")
    if w.arrival in ("poisson", "gamma"):
        parts.append(f"Arrival rate: {w.rate_per_s:g} req/s")
    return "; ".join(parts)


def _summary(m: dict) -> None:
    """The metric cards (with sample sizes: a p99 over 5 values is not a p99 over 5,000), refused requests and
    the settings this run used."""
    n_ttft, n_tbt = m.get("ttft_samples", m["completed"]), m.get("tbt_samples", 0)
    cards = st.columns(4)
    cards[0].metric("TTFT p50 / p99", _pair(m["ttft_p50_s"], m["ttft_p99_s"]),
                    help=f"Time to first token over {n_ttft} completed requests.")
    cards[1].metric("TBT p50 / p99", _pair(m["tbt_p50_s"], m["tbt_p99_s"]),
                    help=f"Time between tokens over all {n_tbt:,} gaps between consecutive tokens (stalls show here).")
    cards[2].metric("Throughput", f"{m['throughput_tokens_per_s']:,.0f} tokens/s",
                    help=f"Output tokens per second over the run ({common.ms(m['makespan_s'])}); "
                         f"{m['requests_per_s']:.2f} requests/s.")
    cards[3].metric("Goodput", f"{m['goodput_requests_per_s']:.2f} req/s",
                    help="Requests per second that met both their TTFT and TBT goals "
                         f"({m.get('slo_attainment', 0):.0%} of completed requests).")
    cards = st.columns(4)
    cards[0].metric("TBT p99.9 / longest gap", _pair(m["tbt_p999_s"], m["tbt_max_s"]),
                    help="The worst gaps between tokens, which a p99 can hide: p99.9 over all "
                         f"{n_tbt:,} gaps, and the single longest gap of any request.")
    cards[1].metric("Generation stalls", f"{m['stalls']:,}",
                    help="Token gaps longer than the class's TBT goal that a prefill caused. " + STALL_DEFINITION)
    cards[2].metric("Stall time", f"{m['stall_time_s']:,.2f} s",
                    help="Delay prefills added to running sequences' tokens, summed over requests. " + STALL_NOTE)
    cards[3].metric("Preemptions", f"{m['preemptions']:,}", help="Sequences evicted from the batch to make room.")
    cards = st.columns(4)
    cards[0].metric("Completed / rejected", f"{m['completed']} / {m['rejected']}",
                    help="Rejected requests can never fit (e.g. longer than the whole KV cache).")
    cards[1].metric("KV peak use", f"{m['kv_peak_utilization']:.1%}", help=f"of {result.kv_capacity_tokens:,} token slots")
    st.caption(f"**Generation stalls.** {STALL_DEFINITION} {STALL_NOTE}")
    rejected = [r for r in result.requests if r.rejected_reason]
    if rejected:
        st.warning(f"**{len(rejected)} of {len(result.requests)} requests were refused** because they can never fit, "
                   f"e.g. {rejected[0].id}: {rejected[0].rejected_reason}. They show as black crosses on the timeline.")
    st.caption(f"Samples: TTFT over {n_ttft} requests, TBT over {n_tbt:,} token gaps, {len(result.iterations):,} "
               f"iterations on {len(result.engines)} engine(s). Percentiles over few samples are rough.")
    st.caption("**This run:** " + common.plain(_ran_with(cfg)))


# The summary sits above the timeline but is sent after it: the learner's first chart goes out to the
# browser as soon as the run is ready, and the cards (cheap, all text) follow into their place above it.
summary = st.container()

# ---- the run's views: a fragment, so a control among them reruns only them ------------------------------

def _timeline(views) -> str | None:
    """The timeline with its follow picker; the request followed (None for nobody)."""
    result = views.result
    st.subheader("Batch timeline")
    ids = [r.id for r in result.requests]
    follow = common.follow_bar(ids, lambda rid: common.plain(vf.follow_sentence(result, rid)) + " Marked in the "
                               "timeline, the KV chart and the iteration log.",
                               clicked=common.lane_clicked("pg_lanes", tl.lane_ids(result), ids))
    common.plot(views.followed("lanes", follow), key="pg_lanes", clickable=True)
    common.explain("One lane per request, in arrival order; time runs right in ms. Dotted grey = queued, hatched orange "
                   "= prefill, solid blue = decode, cross-hatched vermillion = stalled (no token this pass because a prefill took it, "
                   "or a token gap over the TBT goal because a prefill shared the pass), hatched purple = preempted, striped yellow = "
                   "KV transfer, grey with upright stripes = padding (static batching keeps a finished sequence's slot in the batch "
                   "until the whole batch ends), green tick = last token. **Play** replays the run; the slider jumps to an iteration. "
                   "Long runs merge short neighbouring stretches (hover says so). Click a lane to follow that request.")
    return follow


@st.fragment
def _inspect(result) -> None:
    """One iteration in words. A fragment of its own: stepping with - and + reruns only the box and its
    sentence, not the charts around it."""
    # A number box, not a slider: over thousands of iterations a slider cannot be aimed at one of them.
    pick = common.url_number(f"Inspect iteration (1 to {len(result.iterations):,})", 1, len(result.iterations),
                             "inspect", 1, step=1, help="Read one iteration of the log in words; type a number "
                                                       "or step with - and +.")
    st.markdown(f"> {nr.narrate_at(result, int(pick) - 1)}")


@st.fragment
def _charts(views, follow: str | None) -> None:
    """The composition and KV charts. A fragment of its own, so that the rerun a new session's browser asks
    for once the timeline is drawn (common.drawn_later) redraws only these two: a note the first run showed
    above them (a link's refused parameter) stays, and the timeline is not sent again."""
    if not common.drawn_later("pg_charts", "The batch composition and KV cache charts are drawn next, once the "
                                           "timeline is on screen."):
        return
    c1, c2 = st.columns(2)
    with c1:
        common.plot(views.composition, key="pg_comp")
        common.explain("Tokens each iteration computed: prompt tokens prefilled (hatched orange) under one token "
                       "per decoding sequence (solid blue). Tall orange bars are passes where prefill dominates and decode "
                       "steps slow down.")
    with c2:
        common.plot(views.followed("kv", follow), key="pg_kv")
        common.explain("Top: KV cache token slots held by running sequences, split into stored tokens, slots reserved "
                       "for tokens still to come, and internal waste; external fragmentation dotted. Bottom: requests "
                       "waiting in the queue and sequences in the batch."
                       + (f" The black line is {common.plain(follow)}'s own KV cache; the shaded band its time from arrival to "
                          "last token." if follow else ""))


def _log(views, follow: str | None) -> None:
    result = views.result
    st.subheader("Iteration log")
    # Opened on request: the table component is the heaviest script in the browser after plotly, and loading
    # it with the page delayed the first chart by about 0.3 s on a 2-core machine. The narration above
    # covers one iteration in words; the log holds all of them. ?log=1 in a link opens it.
    if common.url_toggle("Show the iteration log (one row per forward pass)", "log",
                         help=f"{len(result.iterations):,} rows for this run; the CSV download below has the requests."):
        rows = views.table if not follow else vf.follow_rows(views.table, result, follow)
        st.dataframe(rows, hide_index=True, width="stretch", height=320)
        st.caption((f"Only the {len(rows):,} of {len(views.table):,} passes that involved {common.plain(follow or '')}, with what each "
                    "did for it in the first column. " if follow else "One row per forward pass. ") +
                   "prefilled = request:prompt tokens computed in this pass; queue = "
                   "requests waiting after the pass was planned; KV % = share of the KV cache held.")


def _downloads(views, stem: str) -> None:
    result = views.result
    d1, d2, d3 = st.columns(3)
    d3.download_button("Iteration log (CSV)", data=lambda: iterations_csv(result),
                       file_name=f"{stem}-iterations.csv", mime="text/csv", on_click="ignore",
                       icon=":material/download:",
                       help="One row per request per iteration (as `python -m sim run ... --iterations-out`): "
                            "iteration, engine, start_s, end_s, request_id, action (prefill, decode, waiting, "
                            "preempted, finished, padding), tokens computed for it in that pass.")
    d1.download_button("Per-request results (CSV)", data=lambda: requests_csv(result.requests),
                       file_name=f"{stem}-requests.csv", mime="text/csv", on_click="ignore",
                       icon=":material/download:")
    d2.download_button("Timeline figure (HTML)", data=lambda: views.lanes.to_html(include_plotlyjs=True,
                                                                                  full_html=True, auto_play=False),
                       file_name=f"{stem}-timeline.html", mime="text/html", on_click="ignore",
                       icon=":material/download:")


@st.fragment
def _run_views(views, stem: str) -> None:
    """Everything below the cards is drawn from one finished run and its controls change no setting of the
    run: following a request (picker or a click on a lane), a chart's data table, the log's switch. So it is
    a fragment (Streamlit reruns only this function when one of its widgets changes): the sidebar's
    controls, the cards and the menu are not redrawn, and the three figures are only re-sent. A change in
    the sidebar reruns the whole page, with this fragment in it."""
    follow = _timeline(views)
    if views.result.iterations:
        _inspect(views.result)
    _charts(views, follow)
    _log(views, follow)
    _downloads(views, stem)


_run_views(views, f"batchlab-{name}-{policy}")
with summary:
    _summary(m)
