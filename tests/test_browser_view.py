"""Real-browser tests of what a learner sees (Debian chromium via Playwright, the app started as the README
says): the animated timeline keeps its bars when played or scrubbed, no request leaves the machine, the
controls show the values the run used, and numbers quoted in sentences equal the numbers beside them.

Each test names the bug of issue 11 it would have caught.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

from browser_kit import (OVERFLOWING_TEXT, bar_paths, chart_index, main_text, menu_hrefs, menu_link, no_exception,
                         open_page, wait_idle, wait_text)


def _play(page, nth: int) -> None:
    chart = page.locator(".js-plotly-plot").nth(nth)
    chart.locator(".updatemenu-button").filter(has_text="Play").first.click()


def _bars_while_playing(page, nth: int, waits_ms=(500, 2000, 3500)) -> list[int]:
    seen = []
    for w in waits_ms:
        page.wait_for_timeout(w)
        seen.append(bar_paths(page, nth))
    return seen


# ---- issue 15: a new session's first chart is the timeline, drawn alone ----------------------------------

# Drawn plotly charts (each has a .main-svg) counted whenever the page changes, with the time (ms).
CHART_COUNTS = """window.__counts = []; new MutationObserver(() => {
    const n = document.querySelectorAll('.js-plotly-plot .main-svg').length;
    const last = window.__counts.length ? window.__counts[window.__counts.length - 1][1] : 0;
    if (n !== last) window.__counts.push([performance.now(), n]); })
  .observe(document, {subtree: true, childList: true});"""


def test_playground_new_session_draws_the_timeline_then_the_other_charts(server, page):
    """A new session sees the timeline drawn on its own, then the composition and KV charts without touching
    anything (the browser's signal reruns the views once the timeline is on screen: common.drawn_later)."""
    page.add_init_script(CHART_COUNTS)
    open_page(page, f"{server}/playground?requests=40")
    kv = chart_index(page, "KV memory and queue", 60_000)
    comp = chart_index(page, "Batch composition", 60_000)
    lanes = chart_index(page, "Batch timeline")
    assert lanes < comp < kv, (lanes, comp, kv)
    counts = [n for _, n in page.evaluate("window.__counts")]
    per_chart = counts[0]  # plotly draws a chart into a few stacked <svg class="main-svg">
    assert counts[-1] == 3 * per_chart and counts[0] < counts[-1], counts
    assert "drawn next" not in main_text(page)
    no_exception(page)


# ---- issue 11, broken 1: Play, the slider and the bars ---------------------------------------------------

def test_playground_play_and_slider_keep_the_bars(server, page):
    open_page(page, f"{server}/playground?scenario=chat&policy=continuous&requests=40")
    nth = chart_index(page, "Batch timeline")
    before = bar_paths(page, nth)
    assert before > 50, f"the timeline has only {before} bars before Play"
    _play(page, nth)
    during = _bars_while_playing(page, nth)
    assert during == [before] * len(during), f"bars while playing: {before} -> {during}"
    # Paused: the bars are still there.
    page.locator(".js-plotly-plot").nth(nth).locator(".updatemenu-button").filter(has_text="Pause").first.click()
    page.wait_for_timeout(500)
    assert bar_paths(page, nth) == before
    # Clicking the slider's rail jumps to an iteration: the bars stay, the "now" line moves there.
    rail = page.locator(".js-plotly-plot").nth(nth).locator(".slider-rail-rect").first
    box = rail.bounding_box()
    page.mouse.click(box["x"] + box["width"] * 0.3, box["y"] + box["height"] / 2)
    page.wait_for_timeout(700)
    assert bar_paths(page, nth) == before
    now_x = page.evaluate("(n) => document.querySelectorAll('.js-plotly-plot')[n].data"
                          ".find(d => d.name === 'now').x[0]", nth)
    x_max = page.evaluate("(n) => document.querySelectorAll('.js-plotly-plot')[n].layout.xaxis.range[1]", nth)
    assert 0 < now_x < 0.8 * x_max, f"the slider did not move the now line: {now_x} of {x_max}"
    # Dragging the handle does the same.
    grip = page.locator(".js-plotly-plot").nth(nth).locator(".slider-grip-rect").first
    g = grip.bounding_box()
    page.mouse.move(g["x"] + g["width"] / 2, g["y"] + g["height"] / 2)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.6, g["y"] + g["height"] / 2, steps=8)
    page.mouse.up()
    page.wait_for_timeout(700)
    assert bar_paths(page, nth) == before
    no_exception(page)


def test_disaggregation_play_keeps_the_bars(server, page):
    open_page(page, f"{server}/disaggregation")
    nth = chart_index(page, "Disaggregated")
    assert nth >= 0, "no disaggregated timeline on the page"
    before = bar_paths(page, nth)
    assert before > 50
    _play(page, nth)
    during = _bars_while_playing(page, nth, (500, 2500))
    assert during == [before] * len(during), f"bars while playing: {before} -> {during}"


# ---- issue 11, broken 8: nothing is fetched from another host ------------------------------------------

def test_no_request_leaves_the_machine(server, browser):
    host = urlsplit(server).netloc
    outside: list[str] = []
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.on("request", lambda r: outside.append(r.url) if urlsplit(r.url).netloc not in (host, "") and
            not r.url.startswith(("data:", "blob:", "about:")) else None)
    try:
        for path in ("", "/playground", "/step-by-step", "/memory", "/quiz"):
            open_page(page, server + path)
            page.wait_for_timeout(1000)
    finally:
        page.close()
    assert not outside, f"requests to other hosts: {sorted(set(outside))[:5]}"


# ---- issue 11, broken 2: after a scenario change every control shows what the run used ------------------

def _pick(page, label: str, value: str) -> None:
    box = page.get_by_role("combobox", name=label)
    box.click()
    box.fill(value)
    page.keyboard.press("Enter")
    wait_idle(page)


def _ran_with(page) -> dict[str, str]:
    """The playground's "This run:" line as {control label: value}."""
    line = page.locator('[data-testid="stCaptionContainer"]').filter(has_text="This run:").first.inner_text()
    parts = line.split("This run:", 1)[1].split(";")
    return {k.strip(): v.strip() for k, v in (p.split(":", 1) for p in parts)}


def _control(page, label: str) -> str:
    """What a sidebar control shows: a number input's value or a selectbox's chosen option."""
    side = page.locator('[data-testid="stSidebar"]')
    num = side.locator(f'input[type="number"][aria-label="{label}"]')
    if num.count():
        return num.first.input_value()
    return side.locator(f'input[role="combobox"][aria-label="{label}"]').first.input_value()


CONTROLS = {"Batching strategy": "Batching strategy", "Queue order": "Queue order (who is admitted next)",
            "Preemption": "Preemption", "KV memory manager": "KV memory manager",
            "Max batch": "Max batch (sequences per engine)", "Seed": "Seed"}


def _controls_match_the_run(page) -> dict[str, str]:
    ran = _ran_with(page)
    shown = {k: _control(page, label) for k, label in CONTROLS.items()}
    assert {k: ran[k] for k in CONTROLS} == shown, f"run {ran} vs controls {shown}"
    return ran


def test_playground_controls_show_what_the_run_used(server, page):
    open_page(page, f"{server}/playground")
    _controls_match_the_run(page)
    _pick(page, "Scenario preset", "three-long-one-short")
    ran = _controls_match_the_run(page)
    assert ran["Max batch"] == "4", ran
    _pick(page, "Batching strategy", "static")
    ran = _controls_match_the_run(page)
    assert ran["Batching strategy"] == "static" and ran["Max batch"] == "4", "the preset's 4-slot engine was lost"
    _pick(page, "Scenario preset", "chat")
    ran = _controls_match_the_run(page)
    assert ran["Batching strategy"] == "continuous"
    seed = page.locator('[data-testid="stSidebar"] input[aria-label="Seed"]')
    seed.fill("3")
    seed.press("Enter")
    wait_idle(page)
    ran = _controls_match_the_run(page)
    assert ran["Seed"] == "3" and ran["Batching strategy"] == "continuous"
    no_exception(page)


# ---- issue 11, broken 3: quiz progress survives navigation with a concept filter ------------------------

def _answer_current_question(page) -> None:
    main = page.locator('[data-testid="stMain"]')
    radio = main.locator('[data-testid="stRadio"] [role="radiogroup"] label')
    boxes = main.locator('[data-testid="stCheckbox"] label')
    text = main.locator('[data-testid="stTextInput"] input')
    if radio.count():
        radio.first.click()
    elif boxes.count():
        boxes.first.click()
    elif text.count():
        text.first.fill("1")
        text.first.press("Enter")
    wait_idle(page)
    main.get_by_role("button", name="Check my answer").click()
    wait_idle(page)


def _metric(page, label: str) -> str:
    m = page.locator('[data-testid="stMetric"]').filter(has_text=label).first
    return m.locator('[data-testid="stMetricValue"]').inner_text().strip()


def test_quiz_progress_survives_navigation_with_a_filter(server, page):
    open_page(page, f"{server}/quiz")
    _pick(page, "Concept", "C5")
    total = _metric(page, "Question").split(" of ")[1]
    for _ in range(3):  # an entry the page could not read is not graded: answer again
        _answer_current_question(page)
        if _metric(page, "Answered") == "1":
            break
    assert _metric(page, "Answered") == "1"
    menu_link(page, "Scheduling playground").click()
    wait_idle(page)
    menu_link(page, "Quiz").click()
    wait_idle(page)
    assert _metric(page, "Answered") == "1"
    assert _metric(page, "Question").endswith(f" of {total}")
    assert "C5" in _control(page, "Concept")


# ---- issue 11, broken 4: the other replay opens at its beginning ---------------------------------------

def test_step_by_step_standard_replay_opens_at_the_start(server, page):
    open_page(page, f"{server}/step-by-step?it=8")
    wait_text(page, "Narration log (8 of")
    page.locator('[data-testid="stMain"]').get_by_text("Show standard batching instead").click()
    wait_idle(page)
    text = wait_text(page, "Narration log (")
    assert "Narration log (0 of" in text and "Before iteration 1" in text, text[-400:]


# ---- issue 11, broken 6: the memory page's inspected iteration follows the refusal ----------------------

def _slider_value(page, label: str) -> int:
    s = page.locator('[data-testid="stSlider"]').filter(has_text=label).first
    return int(float(s.locator('input[type="range"]').first.input_value()))


def test_memory_inspected_iteration_follows_the_refusal(server, page):
    open_page(page, f"{server}/memory?p_waste=contiguous")  # the prediction made: the maps and numbers show
    for kv in ("16000", "8000"):
        _pick(page, "KV cache size (token slots)", kv)
        note = re.search(r"Iteration (\d+) is the state just before the refusal", main_text(page))
        assert note, f"no refusal named at kv={kv}"
        assert _slider_value(page, "Inspect iteration") == int(note.group(1))


# ---- issue 11, broken 7: errors as plain text, and a bad expression keeps the page --------------------

def test_bad_expression_shown_as_typed_and_the_page_stays(server, page):
    open_page(page, f"{server}/playground?requests=20&order=custom&expr=__import__('os')")
    err = page.locator('[data-testid="stAlertContentError"]').first.inner_text()
    assert "__import__" in err, err
    assert page.locator('[data-testid="stAlertContentError"] strong').first.inner_text() == "expr"
    nth = chart_index(page, "Batch timeline")
    assert bar_paths(page, nth) > 10, "the playground below the error is blank"


# ---- issue 11, broken 5: the numbers in sentences are the numbers of the run ---------------------------

def test_info_boxes_quote_the_rate_of_the_run(server, page):
    for path, rate in (("/playground?rate=12", "12"), ("/prefill-vs-decode?rate=8", "8"),
                       ("/disaggregation?rate=4", "4")):
        open_page(page, server + path)
        info = page.locator('[data-testid="stAlertContentInfo"]').first.inner_text()
        rates = re.findall(r"([\d.]+) req/s", info)
        assert rates == [rate], f"{path}: {info}"


def _delta_direction(metric) -> str:
    """'up', 'down' or 'none' from the arrow icon Streamlit draws beside a metric's delta."""
    return metric.evaluate("""m => { const d = m.querySelector('[data-testid="stMetricDelta"]');
        if (!d) return 'none'; const svg = d.querySelector('svg, [data-testid="stMetricDeltaIcon-Up"], '
            + '[data-testid="stMetricDeltaIcon-Down"]');
        const html = d.innerHTML; if (/Icon-Up/.test(html)) return 'up'; if (/Icon-Down/.test(html)) return 'down';
        return svg ? 'svg' : 'none'; }""")


def test_memory_deltas_point_the_way_the_numbers_go(server, page):
    open_page(page, f"{server}/memory?p_waste=contiguous")  # the prediction made: the maps and numbers show
    wait_text(page, "Makespan")
    cards = page.locator('[data-testid="stMetric"]')
    seen = 0
    for i in range(cards.count()):
        card = cards.nth(i)
        text = card.inner_text()
        nums = [float(x) for x in re.findall(r"(\d+(?:\.\d+)?)\s*(?:%|s|ms)", text.replace(",", ""))]
        if len(nums) < 2 or "paged" not in text:
            continue
        contiguous, paged = nums[0], nums[1]
        want = "up" if paged > contiguous else "down" if paged < contiguous else "none"
        assert _delta_direction(card) == want, f"{text!r}: arrow {_delta_direction(card)}, want {want}"
        seen += 1
    assert seen >= 3


def test_choosing_sentence_quotes_the_cards(server, page):
    """'X documents/h, Y% fewer than B (Z)': X and Z are the cards' numbers and Y is 1 - X/Z."""
    open_page(page, f"{server}/choosing")
    page.locator('[data-testid="stMain"] [role="radiogroup"] label').filter(
        has_text="Standard (static) batching").first.click()
    wait_idle(page)
    page.get_by_role("button", name="Lock in my answer and run").click()
    wait_idle(page, 180_000)
    text = wait_text(page, "Not this time", 180_000)
    m = re.search(r"finished ([\d,]+) documents per hour, (\d+)% fewer than ([\w-]+) \(([\d,]+)\)", text)
    assert m, text[-1500:]
    x, pct, best, z = int(m[1].replace(",", "")), int(m[2]), m[3], int(m[4].replace(",", ""))
    assert _metric(page, "static: documents/h") == f"{x:,}"
    assert _metric(page, f"{best}: documents/h") == f"{z:,}"
    assert pct == round(100 * (1 - x / z))
    # The arrow of each card's change against standard batching points the way the numbers go.
    for label in ("continuous: documents/h", "chunked: documents/h"):
        card = page.locator('[data-testid="stMetric"]').filter(has_text=label).first
        value = int(_metric(page, label).replace(",", ""))
        assert _delta_direction(card) == ("up" if value > x else "down" if value < x else "none"), label


# ---- every page, as a learner and on a projector: no text cut off by its box ---------------------------

@pytest.mark.parametrize("size", [(1400, 1000, ""), (1280, 720, "?present=1")], ids=["1400x1000", "1280x720"])
def test_no_text_overflows_its_box(server, browser, size):
    w, h, query = size
    pg = browser.new_page(viewport={"width": w, "height": h})
    try:
        open_page(pg, server)
        hrefs = menu_hrefs(pg)
        problems = []
        for href in hrefs:
            open_page(pg, href.split("?")[0] + query)
            problems += [f"{href.rsplit('/', 1)[-1] or 'home'}: {p}" for p in pg.evaluate(OVERFLOWING_TEXT)]
        assert not problems, "\n".join(problems[:20])
    finally:
        pg.close()


# ---- issue 15: the run's views are a fragment; stepping the inspected iteration re-sends no figure ------

def test_playground_inspect_step_reruns_only_its_fragment(server, page):
    """Stepping "Inspect iteration" with + changes the sentence and the link, and reruns only its fragment:
    a handful of websocket messages per step (8 here) where a whole-page rerun sends one per element of
    the page (~120, each figure serialised again on the server, though Streamlit's message cache sends a
    figure the browser already holds as a reference); no figure goes out again."""
    frames: list[int] = []
    page.on("websocket", lambda ws: ws.on("framereceived", lambda payload: frames.append(len(payload))))
    open_page(page, f"{server}/playground")
    before = page.locator("blockquote").first.inner_text()
    assert before.startswith("Iteration 1:"), before
    assert sum(n > 20_000 for n in frames) >= 3, frames  # the first run sent the three figures (~150, 50, 100 kB)
    frames.clear()
    step_up = page.locator('[data-testid="stNumberInputStepUp"]').last  # the inspect box: the page's last number box
    for _ in range(2):
        step_up.click()
        wait_idle(page)
    wait_text(page, "Iteration 3:")
    assert "inspect=3" in page.url, page.url
    assert 0 < len(frames) < 40, frames  # two steps
    assert max(frames) < 20_000, frames
    no_exception(page)
