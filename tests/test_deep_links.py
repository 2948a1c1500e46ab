"""Deep links on a fresh server, in real Chromium: every catalog page's URL, with query parameters, opened as
the very first request a new server gets, shows that page inside app.py's frame (the router's menu), keeps
its query parameters, and raises nothing.

Why a fresh server per link: Streamlit runs a server with a pages/ folder in its legacy multipage mode until
some session has called st.navigation (pages/common.reroute_first_visit hands that first visit to the router);
only the first request of a server shows whether the hand-over works. The browser set-up is test_browser's.
"""

from __future__ import annotations

import os
import urllib.parse

import pytest

from quiz import catalog
from tests.browser_kit import MENU, free_port as _free_port, require_browser as _require_browser, start_server
from tests.test_browser import SHOTS, wait_idle

# Query parameters for a page's deep link (a page not listed opens at its bare URL): parameters the page
# reads, with non-default values, so a page that fell back to its defaults would show it in the URL.
LINKS = {
    "": {"present": "1"},
    "step-by-step": {"it": "3", "standard": "1"},
    "reorganization": {"reorg": "4.0", "requests": "100"},
    "memory": {"requests": "40", "block": "32"},
    "prefill-vs-decode": {"scenario": "summarization", "a": "continuous", "b": "chunked", "requests": "40"},
    "priorities": {"requests": "100", "seed": "3"},
    "disaggregation": {"requests": "30", "decode": "2"},
    "playground": {"scenario": "book-example", "policy": "static", "max_batch": "3"},
    "validate": {"requests": "20", "clock": "cpu"},
    "choosing": {"exp": "hybrid-service"},
}


def test_the_deep_links_name_catalog_pages_and_their_parameters():
    assert set(LINKS) <= set(catalog.BY_URL)
    for url, params in LINKS.items():
        assert set(params) <= set(catalog.page(url).params) | {"present"}, url


def _label(text: str) -> str:
    """A menu link's text without its icon's ligature name (the icon is text in a Material Symbols font)."""
    return text.strip().splitlines()[-1].strip()


@pytest.mark.parametrize("url_path", list(catalog.BY_URL), ids=lambda u: u or "home")
def test_deep_link_is_the_first_request_of_a_fresh_server(browser, url_path):
    _require_browser()
    entry = catalog.page(url_path)
    params = LINKS.get(url_path, {})
    port = _free_port()
    proc = start_server(port)  # a new process: Streamlit's legacy mode is on until the router has run
    try:
        base = f"http://127.0.0.1:{port}"
        query = urllib.parse.urlencode(params)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.goto(f"{base}/{url_path}" + (f"?{query}" if query else ""), wait_until="domcontentloaded")
        # The router's menu has catalog sections; a legacy run would list the files of pages/ instead.
        page.wait_for_selector(f"{MENU} .bl-menu-section", state="attached", timeout=90_000)
        wait_idle(page, 120_000)
        page.wait_for_timeout(500)
        headers = page.eval_on_selector_all(f"{MENU} .bl-menu-section", "els => els.map(e => e.innerText)")
        assert [h.strip() for h in headers] == list(catalog.by_section()), headers
        links = page.eval_on_selector_all(f"{MENU} a", "els => els.map(e => e.innerText)")
        assert [_label(t) for t in links] == [p.title for ps in catalog.by_section().values() for p in ps], links
        loc = page.evaluate("() => [location.pathname, location.search]")
        assert loc[0].rstrip("/") == f"/{url_path}".rstrip("/"), loc
        shown = dict(urllib.parse.parse_qsl(loc[1].lstrip("?")))
        for k, v in params.items():
            same = shown.get(k) == v or (k in shown and float(shown[k]) == float(v))
            assert same, f"/{url_path}: the page shows {k}={shown.get(k)!r}, not the link's {v!r}"
        active = page.eval_on_selector_all(f'{MENU} a[aria-current="page"]',
                                           "els => els.map(e => e.innerText)")
        assert [_label(t) for t in active] == [entry.title], active
        assert page.locator('[data-testid="stException"]').count() == 0
        dialogs = page.locator('[role="dialog"]')
        assert dialogs.count() == 0, dialogs.first.inner_text()[:300]
        os.makedirs(SHOTS, exist_ok=True)
        page.screenshot(path=os.path.join(SHOTS, f"deep-link-{url_path or 'home'}.png"))
        page.close()
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except Exception:
            proc.kill()
