"""Real-browser tests of following one request across views (issue 11: "a learner should be able to follow
one request ... highlight it everywhere: lanes, slot grid, KV chart, log"), in Debian chromium with the app
started as the README says.

What is checked is what plotly drew, not only the figure's data: the outline shape and the bold lane label
in the timeline's SVG, the outlined cells in the slot grid, the request's own KV line on the KV chart, the
log cut to its passes; and that Play, a step and a shared link keep the highlight.
"""

from __future__ import annotations

import re

from browser_kit import bar_paths, chart_index, main_text, no_exception, open_page, wait_idle, wait_text


# What plotly drew for the follow highlight in the nth chart: the outline and veil shapes (drawn SVG paths
# of layout shapes named "follow..."), the y-axis label of the followed lane, legend entries.
DRAWN = """(n) => { const gd = document.querySelectorAll('.js-plotly-plot')[n];
    if (!gd || !gd._fullLayout) return null;
    const shapes = (gd._fullLayout.shapes || []);
    const drawn = Array.from(gd.querySelectorAll('.shapelayer path'));
    const idx = shapes.map((s, i) => [s.name, i]).filter(p => String(p[0]).startsWith('follow')).map(p => p[1]);
    return {follow_shapes: idx.length,
            drawn_follow: drawn.filter(p => idx.includes(+p.getAttribute('data-index'))).length,
            ticks: Array.from(gd.querySelectorAll('.ytick text')).map(t => t.textContent),
            legend: Array.from(gd.querySelectorAll('.legendtext')).map(t => t.textContent),
            title: (gd.querySelector('.gtitle') || {}).textContent || ''}; }"""


def drawn(page, nth: int) -> dict:
    return page.evaluate(DRAWN, nth)


def _lane_marked(page, title: str, rid: str) -> dict:
    nth = chart_index(page, title)
    d = drawn(page, nth)
    assert d["drawn_follow"] >= 2, f"{title}: the follow outline and veils are not drawn: {d}"
    assert f"▶ {rid}" in d["ticks"], f"{title}: no marked lane label for {rid} in {d['ticks'][:8]}"
    assert f"following {rid}" in d["title"], d["title"]
    return d


def _pick(page, rid: str) -> None:
    """Choose ``rid`` in the "Follow one request" select, as a learner types it; the URL follows."""
    box = page.get_by_role("combobox", name="Follow one request")
    box.click()
    box.fill(rid)
    page.keyboard.press("Enter")
    wait_idle(page)
    assert f"follow={rid}" in page.url


def _play(page, nth: int) -> None:
    page.locator(".js-plotly-plot").nth(nth).locator(".updatemenu-button").filter(has_text="Play").first.click()


def test_playground_follows_one_request_in_lanes_kv_and_log_and_keeps_it_while_playing(server, page):
    open_page(page, f"{server}/playground?scenario=chat&policy=continuous&requests=40&follow=r07&log=1")
    no_exception(page)
    nth = chart_index(page, "Batch timeline")
    before = _lane_marked(page, "Batch timeline", "r07")
    bars = bar_paths(page, nth)
    assert bars > 50
    # Play: every frame keeps the bars and the highlight (frames carry trace data, the highlight is layout).
    _play(page, nth)
    for wait in (500, 2000, 3500):
        page.wait_for_timeout(wait)
        d = drawn(page, nth)
        assert (bar_paths(page, nth), d["drawn_follow"]) == (bars, before["drawn_follow"]), \
            f"while playing: {bars} bars and {before['drawn_follow']} follow shapes became {bar_paths(page, nth)}, {d}"
        assert "▶ r07" in d["ticks"]
    # The KV chart: the request's own KV cache as a line, its time in the system shaded.
    kv = drawn(page, chart_index(page, "KV memory and queue"))
    assert any(t.startswith("r07's KV cache (peak ") for t in kv["legend"]), kv["legend"]
    assert kv["drawn_follow"] == 2, kv
    # The log: only r07's passes, as many as the sentence beside the picker says it took part in.
    text = wait_text(page, "passes that involved r07")
    took = int(re.search(r"r07 arrived at .*? it took part in ([\d,]+) forward passes", text).group(1).replace(",", ""))
    shown, total = re.search(r"Only the ([\d,]+) of ([\d,]+) passes that involved r07", text).groups()
    assert int(shown.replace(",", "")) == took > 0
    assert total == re.search(r"([\d,]+) iterations on 1 engine", text).group(1)
    grid = page.locator('[data-testid="stDataFrame"]').first
    assert grid.is_visible()


def test_a_shared_follow_link_reopens_the_highlight_and_a_bad_one_is_named(server, page):
    # Pick a request in the select: the URL gets ?follow=, and that URL opened afresh shows the same view.
    open_page(page, f"{server}/disaggregation")
    _pick(page, "r05")
    url = page.url
    page.goto("about:blank")
    open_page(page, url)
    no_exception(page)
    assert page.get_by_role("combobox", name="Follow one request").input_value() == "r05"
    nth = chart_index(page, "Disaggregated")
    d = _lane_marked(page, "Disaggregated", "r05")
    _lane_marked(page, "Colocated", "r05")
    bars = bar_paths(page, nth)
    _play(page, nth)
    page.wait_for_timeout(1500)
    assert (bar_paths(page, nth), drawn(page, nth)["drawn_follow"]) == (bars, d["drawn_follow"])
    # A link naming no request of the run: one note naming the parameter, nobody followed, no crash.
    open_page(page, f"{server}/playground?follow=%3Cb%3Enobody")
    no_exception(page)
    text = main_text(page)
    assert "Link parameter follow = '<b>nobody' ignored: no request of this run has that id" in text, text[:600]
    assert "follow=" not in page.url
    assert drawn(page, chart_index(page, "Batch timeline"))["follow_shapes"] == 0


def test_step_by_step_follows_one_request_in_slots_lanes_and_table_across_steps(server, page):
    open_page(page, f"{server}/step-by-step?it=5&follow=x3")
    no_exception(page)
    slots = drawn(page, chart_index(page, "Batch slots"))
    assert "following x3" in slots["legend"], slots["legend"]
    grid = page.locator(".js-plotly-plot").nth(chart_index(page, "Batch slots"))
    outlined = grid.evaluate("""gd => gd.data.filter(t => t.meta === 'follow').map(t => t.x.length)""")
    assert outlined == [2], outlined  # x3 prefilled in iteration 4 and decoded in 5
    _lane_marked(page, "Timeline so far", "x3")
    page.get_by_role("button", name="Step", exact=True).click()
    wait_idle(page)
    assert "follow=x3" in page.url and "it=6" in page.url
    grid = page.locator(".js-plotly-plot").nth(chart_index(page, "Batch slots"))
    assert grid.evaluate("""gd => gd.data.filter(t => t.meta === 'follow').map(t => t.x.length)""") == [3]
    _lane_marked(page, "Timeline so far", "x3")


# ---- presentation mode at 1280x720 (issue 11: step-by-step buttons broke mid-word, "Rest / art") ----------

# Buttons whose label runs over more than one line: the distinct line boxes of the label's text.
WRAPPED_BUTTONS = """() => Array.from(document.querySelectorAll('[data-testid="stMain"] button')).filter(b =>
        b.offsetParent !== null && b.innerText.trim()).map(b => {
    const rects = [];
    const walk = document.createTreeWalker(b, NodeFilter.SHOW_TEXT);
    for (let n = walk.nextNode(); n; n = walk.nextNode()) {
        if (!n.textContent.trim() || n.parentElement.closest('[data-testid="stIconMaterial"]')) continue;
        const r = document.createRange(); r.selectNodeContents(n);
        rects.push(...Array.from(r.getClientRects()).filter(x => x.width > 0 && x.height > 0));
    }
    rects.sort((x, y) => x.top - y.top);
    let lines = 0, bottom = -1e9;
    for (const x of rects) { if (x.top >= bottom - 2) { lines += 1; bottom = x.bottom; } }
    const label = Array.from(b.querySelectorAll('p')).map(p => p.innerText).join(' ') || b.innerText;
    return [label.trim().replace(/\\s+/g, ' '), lines]; }).filter(p => p[1] > 1)"""


def test_presentation_mode_button_labels_stay_on_one_line(server, browser):
    from quiz import catalog
    pg = browser.new_page(viewport={"width": 1280, "height": 720})
    try:
        broken = []
        for p in catalog.PAGES:
            open_page(pg, f"{server}/{p.url_path}?present=1")
            broken += [f"{p.url_path or 'home'}: {label!r} on {lines} lines" for label, lines in pg.evaluate(WRAPPED_BUTTONS)]
        open_page(pg, f"{server}/step-by-step?present=1&it=4")  # mid-replay: every button enabled
        assert pg.get_by_role("button", name="Step back").is_enabled()
        broken += [f"step-by-step?it=4: {label!r} on {lines} lines" for label, lines in pg.evaluate(WRAPPED_BUTTONS)]
        assert not broken, "\n".join(broken)
    finally:
        pg.close()


# The drawn bar of ``rid``'s lane that is widest on screen, marked for a click (bars are one SVG path each,
# in the order of their trace's points).
MARK_BAR = """([n, rid]) => { const gd = document.querySelectorAll('.js-plotly-plot')[n];
    let best = null, width = 0;
    gd.querySelectorAll('.barlayer .trace').forEach((tr, k) => {
        const d = gd.calcdata[k] && gd.calcdata[k][0] && gd.calcdata[k][0].trace;
        if (!d || !d.customdata) return;
        tr.querySelectorAll('.point').forEach((pt, i) => {
            const w = pt.getBoundingClientRect().width;
            if (d.customdata[i] && d.customdata[i][0] === rid && w > width) { best = pt; width = w; } }); });
    if (best) best.querySelector('path').setAttribute('data-follow-target', rid);
    return width; }"""


def test_clicking_a_lane_follows_that_request(server, page):
    open_page(page, f"{server}/playground?scenario=chat&policy=continuous&requests=40")
    nth = chart_index(page, "Batch timeline")
    assert drawn(page, nth)["follow_shapes"] == 0
    assert page.evaluate(MARK_BAR, [nth, "r10"]) > 3, "no bar of r10 wide enough to click"
    page.locator('[data-follow-target="r10"]').click(force=True)
    wait_idle(page)
    no_exception(page)
    assert "follow=r10" in page.url
    assert page.get_by_role("combobox", name="Follow one request").input_value() == "r10"
    _lane_marked(page, "Batch timeline", "r10")
    # The picker still works after a click: choosing another request replaces the clicked one.
    _pick(page, "r03")
    _lane_marked(page, "Batch timeline", "r03")
    # On the disaggregation page a click on the lower (colocated) timeline marks the request in both.
    open_page(page, f"{server}/disaggregation")
    nth = chart_index(page, "Colocated")
    assert page.evaluate(MARK_BAR, [nth, "r08"]) > 3
    page.locator('[data-follow-target="r08"]').click(force=True)
    wait_idle(page)
    assert "follow=r08" in page.url
    _lane_marked(page, "Colocated", "r08")
    _lane_marked(page, "Disaggregated", "r08")
