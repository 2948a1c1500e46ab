"""Accessibility in the browser: axe-core (the npm package in package.json, installed into node_modules by
.ci/run and injected by Playwright from that local file; nothing is fetched) audits every page of the
navigation for WCAG 2.1 A/AA rules; no violation of impact "serious" or "critical" may remain. Every page
also renders in Streamlit's embed mode (``?embed=true``, as inside a course page's iframe) at 800 x 600
without an exception and with links to the other pages in the page itself (the sidebar is hidden there).

The audit's findings are printed per page (rule id and node count), and the audit is skipped with the
reason when node_modules is missing, except under CI=true, where it fails.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from test_browser import CHROMIUM, CHROMIUM_ARGS, _free_port, _require_browser, wait_idle  # noqa: E402
from test_class_browser import _streamlit, _wait_healthy  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AXE = os.path.join(ROOT, "node_modules", "axe-core", "axe.min.js")
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING = ("serious", "critical")


def _require_axe() -> None:
    if not os.path.exists(AXE):
        msg = "axe-core is not installed (npm ci, from package.json)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg)
        pytest.skip(msg)


def page_paths() -> list[str]:
    from pages.common import existing_pages
    return [p.url_path for p in existing_pages()]


@pytest.fixture(scope="module")
def server():
    _require_browser()
    port = _free_port()
    env = dict(os.environ, XDG_DATA_HOME=tempfile.mkdtemp(prefix="batchlab-a11y-"))
    env.pop("BATCH_LAB_DATABASE_URL", None)
    proc = subprocess.Popen([_streamlit(), "run", "app.py", "--server.headless", "true", "--server.address",
                             "127.0.0.1", "--server.port", str(port), "--browser.gatherUsageStats", "false"],
                            cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc)
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=15)


@pytest.fixture(scope="module")
def browser():
    _require_browser()
    from playwright.sync_api import sync_playwright
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


def audit(page) -> list[dict]:
    """axe-core's violations on the page as it is now: [{id, impact, nodes, targets}]."""
    page.add_script_tag(path=AXE)
    out = page.evaluate("""async (tags) => {
        const r = await axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']});
        return r.violations.map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.length,
                                       targets: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
    }""", TAGS)
    return out


def _load(page, url: str) -> None:
    page.goto(url, wait_until="domcontentloaded")
    page.wait_for_selector('[data-testid="stMain"], [data-testid="stAppViewContainer"]', timeout=90_000)
    wait_idle(page, 120_000)
    page.wait_for_timeout(800)


def test_every_page_has_no_serious_or_critical_axe_violation(server, browser):
    _require_axe()
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    page.set_default_timeout(90_000)
    found = {}
    for path in page_paths():
        _load(page, f"{server}/{path}")
        v = audit(page)
        found[path or "home"] = v
        print(f"\n{path or 'home'}: " + (", ".join(f"{x['id']} ({x['impact']}, {x['nodes']})" for x in v) or "clean"))
    blocking = {p: [x for x in v if x["impact"] in BLOCKING] for p, v in found.items()}
    blocking = {p: v for p, v in blocking.items() if v}
    assert not blocking, json.dumps(blocking, indent=1)[:4000]


def test_every_page_works_embedded_at_800_by_600(server, browser):
    """?embed=true hides Streamlit's sidebar and header, as in an LMS iframe: each page must still render,
    fit 800 px without horizontal scrolling, and link to the other pages from its own content."""
    page = browser.new_page(viewport={"width": 800, "height": 600})
    page.set_default_timeout(90_000)
    for path in page_paths():
        _load(page, f"{server}/{path}?embed=true")
        errors = page.locator('[data-testid="stException"]')
        assert errors.count() == 0, f"{path}: {errors.first.inner_text()[:300]}"
        assert page.locator('[data-testid="stSidebar"]').count() == 0 or not page.locator(
            '[data-testid="stSidebar"]').is_visible(), f"{path}: the sidebar shows in embed mode"
        links = page.eval_on_selector_all('[data-testid="stMain"] a[href]', "els => els.map(e => e.href)")
        others = {h.split("?")[0].rstrip("/").rsplit("/", 1)[-1] for h in links if h.startswith(server)}
        assert len(others - {path}) >= 3, f"{path}: embedded, it links to too few pages: {sorted(others)}"
        overflow = page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
        assert overflow <= 1, f"{path}: {overflow} px cut off at 800 px wide"
