"""Shared test set-up: the repo root on sys.path so tests import sim/, quiz/, viz/ and pages/ directly, and
the browser tests' fixtures (one Chromium per test module, the app served by the README's command, a page)."""

import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if ROOT not in sys.path:
    sys.path.insert(0, ROOT)


# Property tests run at their CI example counts; HYPOTHESIS_SCALE=10 runs every one of them at ten times
# its count (e.g. `HYPOTHESIS_SCALE=10 ./scripts/test.sh tests/test_sim_properties.py`), without editing
# each test's @settings.
PROPERTY_SCALE = max(1, int(os.environ.get("HYPOTHESIS_SCALE", "1") or 1))


def pytest_collection_modifyitems(config, items):
    if PROPERTY_SCALE == 1:
        return
    from hypothesis import settings
    done = set()
    for item in items:
        fn = getattr(item, "obj", None)
        current = getattr(fn, "_hypothesis_internal_use_settings", None)
        if current is None or id(fn) in done:
            continue
        done.add(id(fn))
        fn._hypothesis_internal_use_settings = settings(current, max_examples=current.max_examples * PROPERTY_SCALE)


# Browser tests (tests/browser_kit.py holds chromium's path, its flags and the server command). A module
# that needs its own server (a private database, another configuration) defines its own ``server`` fixture,
# which overrides this one. Playwright is imported only when a browser test asks for it.
@pytest.fixture(scope="module")
def browser():
    from browser_kit import CHROMIUM, CHROMIUM_ARGS, require_browser
    require_browser()
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


@pytest.fixture(scope="module")
def server():
    """The app as the README starts it, on a free port; its URL."""
    from browser_kit import free_port, require_browser, start_server, stop_server
    require_browser()
    port = free_port()
    proc = start_server(port)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        stop_server(proc)


@pytest.fixture
def page(browser):
    pg = browser.new_page(viewport={"width": 1400, "height": 1000})
    yield pg
    pg.close()
