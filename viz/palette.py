"""One colour-blind-safe palette for every figure (Okabe & Ito, 2008), and the phase -> colour map.

Phases keep the same colour on every page so a learner reads a timeline once and knows them all.
Colour is never the only cue: figures also label phases in legends and hover text.
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

# Series colours for comparing policies side by side (fixed order, so policy A is always the same hue).
SERIES = [OKABE_ITO[k] for k in ("blue", "orange", "green", "vermillion", "purple", "sky", "yellow", "black")]
POLICY_COLORS = {"static": OKABE_ITO["vermillion"], "continuous": OKABE_ITO["blue"],
                 "prefill-first": OKABE_ITO["orange"], "chunked": OKABE_ITO["green"],
                 "disaggregated": OKABE_ITO["purple"]}

# KV memory states (memory page and KV charts).
KV_COLORS = {"stored": OKABE_ITO["blue"], "reserved": OKABE_ITO["sky"], "internal": OKABE_ITO["orange"],
             "external": OKABE_ITO["vermillion"], "free": "#EEEEEE"}
