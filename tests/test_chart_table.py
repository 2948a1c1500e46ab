"""Charts' text alternatives and non-colour cues, on real simulator runs (no Streamlit, no browser).

- viz.chart_table turns each figure into one row per drawn point: the bars' start and length and the
  markers' positions as the figure holds them, the axis titles (with units) as column names, and the hover
  text written out with every placeholder filled in.
- Phases differ without colour: each phase's bars have their own fill pattern, shown in the legend; the
  slot grid's prefill, decode and stall cells have their own marker shape.
"""

import pytest

from sim import scenario, simulate
from viz import memory as vm
from viz import timeline as tl
from viz.chart_table import DETAILS, SERIES, _fmt, chart_table, plain
from viz.palette import PHASE_COLORS, PHASE_PATTERNS, PHASE_SYMBOLS


@pytest.fixture(scope="module")
def book():
    return simulate(scenario("book-example"))


def _placeholders_left(rows):
    return [r[DETAILS] for r in rows if "%{" in r[DETAILS] or "<" in r[DETAILS]]


def test_the_slot_grid_as_rows_one_per_cell_with_its_words(book):
    fig = tl.slot_grid(book, upto=3, slots=3)
    rows = chart_table(fig)
    cells = [r for r in rows if r[SERIES] != "queue"]
    assert len(cells) == sum(len(t.x) for t in fig.data if t.name != "queue")
    first = cells[0]
    assert first["iteration (one forward pass each)"] == 1 and first["engine slot"] == "slot 1"
    assert first[DETAILS] == "iteration 1, slot 1: x1 prefill (prompt processed)"
    queue = [r for r in rows if r[SERIES] == "queue"]
    assert [r["iteration (one forward pass each)"] for r in queue] == [1, 2, 3]
    assert all(r[DETAILS].startswith("queue: ") for r in queue)
    assert not _placeholders_left(rows)


def test_the_timeline_as_rows_with_each_bars_start_and_length(book):
    fig = tl.request_lanes(book)  # the animated one: the "now" line and veil carry no data
    rows = chart_table(fig)
    bars = [t for t in fig.data if t.type == "bar"]
    assert len([r for r in rows if r.get("time (ms): from") is not None]) == sum(len(t.x) for t in bars)
    assert not [r for r in rows if r[SERIES] in ("now", "future")]
    prefill = next(t for t in bars if t.meta == "prefill")
    got = [(r["request (lane, in arrival order)"], r["time (ms): from"], r["time (ms): length"])
           for r in rows if r[SERIES] == plain(prefill.name)]
    lanes = list(fig.layout.yaxis.ticktext)
    assert got == [(lanes[int(y)], round(float(b), 6), round(float(x), 6))
                   for y, b, x in zip(prefill.y, prefill.base, prefill.x)]
    x1 = next(r for r in rows if r[SERIES] == plain(prefill.name) and r["request (lane, in arrival order)"] == "x1")
    assert x1[DETAILS].startswith("x1 prefill (prompt processed); iteration 1, from 0.0 ms for ")
    done = [r for r in rows if r[SERIES] == tl.PHASE_LABELS["done"]]
    assert len(done) == len(book.requests) and all(r["time (ms)"] > 0 for r in done)
    assert len({tuple(r) for r in rows}) == 1  # the same columns in every row
    assert not _placeholders_left(rows)


def test_subplots_and_heatmaps_name_their_axes(book):
    rows = chart_table(tl.kv_and_queue(book))
    assert {"time (ms)", "tokens", "requests"} <= set(rows[0])
    assert "x" not in rows[0]  # the upper panel's untitled shared axis borrows the lower one's title
    frag = simulate(scenario("fragmentation", memory="contiguous", requests=30))
    fig = vm.block_map(frag, 10)
    cells = [r for r in chart_table(fig) if r[SERIES] == "cell"]
    z = fig.data[0].z
    assert len(cells) == sum(1 for r in z for v in r if v == v)  # every drawn cell (NaN: none past the last)
    assert all(r[DETAILS] for r in cells) and not _placeholders_left(cells)


def test_hover_number_formats():
    assert _fmt(1234.56, ",.1f") == "1,234.6"
    assert _fmt(0.253, ".0%") == "25%"
    assert _fmt(1234567, ",") == "1,234,567"
    assert _fmt(12.0, None) == "12"
    assert plain("<b>x1</b> queue:<br>x2, x3<br>next") == "x1 queue: x2, x3; next"


def test_every_phase_has_its_own_pattern_and_the_legend_shows_it(book):
    assert set(PHASE_PATTERNS) == set(PHASE_COLORS) - {"done"}  # done is a tick mark, not a bar
    shapes = [p["shape"] for p in PHASE_PATTERNS.values()]
    assert len(set(shapes)) == len(shapes), shapes
    static = simulate(scenario("book-example", policy="static"))
    for fig in (tl.request_lanes(book), tl.request_lanes(static), tl.batch_composition(book)):
        bars = [t for t in fig.data if t.type == "bar"]
        assert bars
        for t in bars:
            assert (t.marker.pattern.shape or "") == PHASE_PATTERNS[t.meta]["shape"], t.meta
            assert t.showlegend is not False or t.legendgroup  # a swatch (with its pattern) in the legend
    grid = tl.slot_grid(book)
    symbols = {t.meta: t.marker.symbol for t in grid.data if t.meta in PHASE_SYMBOLS}
    assert symbols == {p: PHASE_SYMBOLS[p] for p in symbols} and len(set(symbols.values())) == len(symbols)
    assert {"prefill", "decode"} <= set(symbols)


def test_a_figure_copied_through_its_dict_gives_the_same_table(book):
    """Presentation mode draws a copy made from the figure's dict (viz.lean.restyled), whose numeric
    arrays are plotly.js typed-array specs (base64): the table is the same."""
    from viz.lean import restyled
    for fig in (tl.request_lanes(book), tl.slot_grid(book, upto=3, slots=3), tl.kv_and_queue(book)):
        assert chart_table(restyled(fig, font=dict(size=17))) == chart_table(fig)
