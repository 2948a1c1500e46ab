"""One colour-blind-safe palette for every figure (Okabe & Ito, 2008), and the phase -> colour map.

Phases keep the same colour on every page so a learner reads a timeline once and knows them all.
Colour is never the only cue (WCAG 2.1, 1.4.1): every phase also has its own fill pattern (PHASE_PATTERNS:
dotted queue, hatched prefill, solid decode, cross-hatched stall, ...), drawn in the bars and in the legend's
swatches, the slot grid gives prefill, decode and stall cells their own marker shape (PHASE_SYMBOLS), and
legends and hover text name the phase in words.
"""

OKABE_ITO = {
    "black": "#000000",
    "orange": "#E69F00",
    "sky": "#56B4E9",
    "green": "#009E73",
    "yellow": "#F0E442",
    "blue": "#0072B2",
    "vermillion": "#D55E00",
    "purple": "#CC79A7",
    "grey": "#999999",
}

# Request phases in a batch timeline (book terms; synonyms in the legend text of each page).
PHASE_COLORS = {
    "queued": OKABE_ITO["grey"],
    "prefill": OKABE_ITO["orange"],
    "decode": OKABE_ITO["blue"],
    "stalled": OKABE_ITO["vermillion"],
    "preempted": OKABE_ITO["purple"],
    "transfer": OKABE_ITO["yellow"],
    "done": OKABE_ITO["green"],
    "padding": "#DDDDDD",  # light grey under a hatch (see viz.timeline), apart from the queue's grey
}

# Fill patterns of the phases' bars (plotly marker.pattern), one shape each, so the phases differ without
# colour too: queued dotted, prefill hatched "/", decode solid, stalled cross-hatched, preempted hatched
# "\\", KV transfer striped "-", padding striped "|". The ink keeps the pattern visible on the colour.
PHASE_PATTERNS = {
    phase: dict(pattern, fillmode="overlay") if pattern.get("shape") else pattern for phase, pattern in {
        "queued": dict(shape=".", fgcolor="#333333", size=5, solidity=0.35),
        "prefill": dict(shape="/", fgcolor="#000000", size=6, solidity=0.2),
        "decode": dict(shape=""),
        "stalled": dict(shape="x", fgcolor="#000000", size=6, solidity=0.25),
        "preempted": dict(shape="\\", fgcolor="#FFFFFF", size=6, solidity=0.3),
        "transfer": dict(shape="-", fgcolor="#333333", size=5, solidity=0.3),
        "padding": dict(shape="|", fgcolor="#666666", size=6, solidity=0.3),
    }.items()}  # "overlay": the ink drawn over the phase's colour (plotly's default would drop the colour)
# The slot grid's cells (scatter markers, which take no pattern): one marker shape per phase.
PHASE_SYMBOLS = {"prefill": "square", "decode": "circle", "stalled": "diamond"}

# Series colours for comparing policies side by side (fixed order, so policy A is always the same hue).
SERIES = [OKABE_ITO[k] for k in ("blue", "orange", "green", "vermillion", "purple", "sky", "yellow", "black")]
POLICY_COLORS = {"static": OKABE_ITO["vermillion"], "continuous": OKABE_ITO["blue"],
                 "prefill-first": OKABE_ITO["orange"], "chunked": OKABE_ITO["green"],
                 "disaggregated": OKABE_ITO["purple"]}

# KV memory states (memory page and KV charts).
KV_COLORS = {"stored": OKABE_ITO["blue"], "reserved": OKABE_ITO["sky"], "internal": OKABE_ITO["orange"],
             "external": OKABE_ITO["vermillion"], "free": "#EEEEEE"}
