"""Real-browser tests of what a learner sees (Debian chromium via Playwright, the app started as the README
says): the animated timeline keeps its bars when played or scrubbed, no request leaves the machine, the
controls show the values the run used, and numbers quoted in sentences equal the numbers beside them.

Each test names the bug of issue 11 it would have caught.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest

from browser_kit import (BAR_PATHS, CHROMIUM, CHROMIUM_ARGS, bar_paths, chart_index, free_port, main_text,
                         no_exception, open_page, require_browser, start_server, stop_server, wait_idle)


@pytest.fixture(scope="module")
def server():
    require_browser()
    proc = start_server(free_port())
    port = proc.args[proc.args.index("--server.port") + 1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_server(proc)


@pytest.fixture(scope="module")
def browser():
    require_browser()
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture
def page(browser):
    pg = browser.new_page(viewport={"width": 1400, "height": 1000})
    yield pg
    pg.close()


def _play(page, nth: int) -> None:
    chart = page.locator(".js-plotly-plot").nth(nth)
    chart.locator(".updatemenu-button").filter(has_text="Play").first.click()


def _bars_while_playing(page, nth: int, waits_ms=(500, 2000, 3500)) -> list[int]:
    seen = []
    for w in waits_ms:
        page.wait_for_timeout(w)
        seen.append(bar_paths(page, nth))
    return seen


# ---- issue 11, broken 1: Play, the slider and the bars ---------------------------------------------------

def test_playground_play_and_slider_keep_the_bars(server, page):
    open_page(page, f"{server}/playground?scenario=chat&policy=continuous&requests=40")
    nth = chart_index(page, "Batch timeline")
    before = bar_paths(page, nth)
    assert before > 50, f"the timeline has only {before} bars before Play"
    _play(page, nth)
    during = _bars_while_playing(page, nth)
    assert during == [before] * len(during), f"bars while playing: {before} -> {during}"
    # The animation ends (frames of at most 0.7 s, 12 s in all): the bars are still there.
    page.wait_for_function("(a) => { const gd = document.querySelectorAll('.js-plotly-plot')[a[0]];"
                           " return !gd._transitionData._animationRaf && "
                           "gd.querySelectorAll('.barlayer .point path').length === a[1]; }",
                           arg=[nth, before], timeout=30_000)
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
