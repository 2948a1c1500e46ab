"""The words that go with every timeline: one sentence per iteration in the book's terms, the iteration
log as table rows, and a scenario's description restated with the numbers of the run on screen.

Pure text from a finished run (``sim.trace.SimResult``); what was true at each iteration comes from
``sim.trace_query``. No plotly and no streamlit here, so the same sentences serve pages, tests and exports.
"""

from __future__ import annotations

import re

from sim.trace_query import arrivals_before, padding_at, padding_ids, queued_ids


def _names(ids, limit: int = 6) -> str:
    """'x1', 'x1 and x2', 'x1, x2 and x3', or 'x1, x2, ... and 12 more'."""
    ids = list(ids)
    if not ids:
        return ""
    if len(ids) > limit:
        return ", ".join(ids[:limit - 1]) + f" and {len(ids) - limit + 1} more"
    if len(ids) == 1:
        return ids[0]
    return ", ".join(ids[:-1]) + " and " + ids[-1]


def _verb(ids, singular: str, plural: str) -> str:
    return singular if len(list(ids)) == 1 else plural


def narrate(it, arrived=(), queued=(), slots: int | None = None, policy: str = "continuous",
            padding=()) -> str:
    """One sentence for one iteration, in the book's terms (synonyms in brackets the first time)."""
    prefilled = [rid for rid, _ in it.prefill]
    joined = [rid for rid in prefilled if rid in it.joined]
    chunk = [f"{rid} ({n} tokens)" for rid, n in it.prefill if rid not in it.joined]
    decoders = [rid for rid in it.decode]
    stalled_only = [rid for rid in it.stalled if rid not in it.decode]
    parts = []
    if arrived:
        parts.append(f"{_names(arrived)} {_verb(arrived, 'arrives', 'arrive')}")
    if it.preempted:
        parts.append(f"{_names(it.preempted)} {_verb(it.preempted, 'is', 'are')} preempted (evicted from the "
                     "batch to make room)")
    if joined:
        if list(arrived) == joined:
            whose = "its prompt is" if len(joined) == 1 else "their prompts are"
        else:
            whose = f"{joined[0]}'s prompt is" if len(joined) == 1 else f"the prompts of {_names(joined)} are"
        if decoders:
            parts.append(f"{whose} prefilled in the same forward pass in which {_names(decoders)} "
                         f"{_verb(decoders, 'decodes', 'decode')}")
        else:
            parts.append(f"{whose} prefilled (the whole prompt in one forward pass, which also yields the first "
                         "output token)")
    elif decoders:
        parts.append(f"{_names(decoders)} {_verb(decoders, 'decodes', 'decode')} (one new token "
                     f"{'' if len(decoders) == 1 else 'each'})".replace(" )", ")"))
    if chunk:
        parts.append(f"prefill continues for {_names(chunk)} (a chunk of the prompt)")
    if stalled_only:
        parts.append(f"{_names(stalled_only)} {_verb(stalled_only, 'stalls', 'stall')}: no token this pass, "
                     "because the pass only prefills newcomers")
    elif it.stalled:
        parts.append(f"the prefill in this pass delays the token of {_names(it.stalled)} past the TBT goal "
                     "(a generation stall)")
    if padding:
        parts.append(f"{_names(padding)} {_verb(padding, 'stays', 'stay')} in the batch as padding: finished, "
                     f"but standard batching keeps {_verb(padding, 'its slot', 'their slots')} (computing a "
                     "thrown-away token) until the whole batch ends")
    if it.finished and policy == "static":
        # A static batch keeps finished sequences as padding; only the batch's last finisher frees the slots.
        rest = "the whole batch has finished, so its slots free up" if len(it.decode) + len(it.prefill) <= \
            len(it.finished) else f"{_verb(it.finished, 'its slot stays', 'their slots stay')} in the batch as padding"
        parts.append(f"{_names(it.finished)} {_verb(it.finished, 'produces its', 'produce their')} last token; "
                     + rest)
    elif it.finished:
        parts.append(f"{_names(it.finished)} {_verb(it.finished, 'produces its', 'produce their')} last token "
                     f"and {_verb(it.finished, 'leaves', 'leave')} the batch")
    if queued:
        if policy == "static":
            why = "standard (request-level) batching admits no one until the whole batch has finished"
        elif slots is not None and it.running >= slots:
            why = f"the batch is full, all {slots} slots are taken"
        else:
            why = "there is not enough room for it yet"
        parts.append(f"{_names(queued)} {_verb(queued, 'waits', 'wait')} in the queue: {why}")
    if not parts:
        parts.append("the engine is idle")
    text = "; ".join(parts)
    if text.startswith(("its ", "their ", "the ", "prefill ")):  # request ids keep their case
        text = text[0].upper() + text[1:]
    return f"Iteration {it.index}: {text}."


def narrations(result, slots: int | None = None, policy: str | None = None) -> list[str]:
    """``narrate`` for every iteration of a run (arrivals and queue read off the trace)."""
    policy = policy or getattr(result.config, "policy", "continuous")
    slots = slots or getattr(result.config, "max_batch", None)
    out, prev = [], {}
    pads = padding_ids(result)
    for it in result.iterations:
        p = prev.get(it.engine)
        arrived = arrivals_before(result, it, p) if len(result.engines) == 1 else []
        out.append(narrate(it, arrived, queued_ids(result, it), slots, policy, pads.get(it.index, ())))
        prev[it.engine] = it
    return out


def narrate_at(result, position: int) -> str:
    """``narrate`` for the iteration at list position ``position`` (0-based) only: cheap for one lookup."""
    it = result.iterations[position]
    prev = next((p for p in reversed(result.iterations[:position]) if p.engine == it.engine), None)
    arrived = arrivals_before(result, it, prev) if len(result.engines) == 1 else []
    return narrate(it, arrived, queued_ids(result, it), getattr(result.config, "max_batch", None),
                   getattr(result.config, "policy", "continuous"), padding_at(result, position))


def iteration_table(result, limit: int | None = None) -> list[dict]:
    """The iteration log: one row per forward pass, times in ms, KV use as a percentage of capacity."""
    rows = []
    multi = len(result.engines) > 1
    for it in result.iterations[:limit]:
        row = {"iteration": it.index}
        if multi:
            row["engine"] = it.engine
        row.update({
            "start (ms)": round(it.start_s * 1e3, 3),
            "duration (ms)": round(it.duration_s * 1e3, 3),
            "prefilled (id:tokens)": ", ".join(f"{rid}:{n}" for rid, n in it.prefill),
            "decoded": ", ".join(it.decode),
            "stalled": ", ".join(it.stalled),
            "joined": ", ".join(it.joined),
            "preempted": ", ".join(it.preempted),
            "finished": ", ".join(it.finished),
            "queue": it.waiting,
            "KV %": round(100.0 * it.kv_held / it.kv_capacity, 2) if it.kv_capacity else 0.0,
        })
        rows.append(row)
    return rows


def workload_text(preset, rate_per_s: float | None = None, n_requests: int | None = None,
                  shares: dict[str, float] | None = None) -> str:
    """A preset's description restated for the run on screen: the preset's rate ("2 req/s"), backlog size
    ("a backlog of 300") and class shares ("70% 'interactive'") become the run's, so the sentence never
    contradicts the sliders beside it."""
    text = preset.description
    for cls, share in (shares or {}).items():
        text = re.sub(rf"\b\d+% '{re.escape(cls)}'", f"{share:.0%} '{cls}'", text)
    if rate_per_s is not None and preset.rate_per_s:
        text = re.sub(rf"(?<![\d.]){re.escape(f'{preset.rate_per_s:g}')} req/s", f"{rate_per_s:g} req/s", text)
    if n_requests is not None and preset.n_requests:
        text = re.sub(rf"\bbacklog of {preset.n_requests}\b", f"backlog of {n_requests:,}", text)
    return text
