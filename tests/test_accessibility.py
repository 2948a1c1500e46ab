"""Accessibility in the browser (issue 16, part 6: WCAG 2.1 AA for a course module), in Debian's chromium.

- axe-core (the npm package pinned in package.json, installed into node_modules by ``npm ci``, which .ci/run
  does; Playwright injects that local file, nothing is fetched) audits every page of the catalog for the
  WCAG 2.1 A/AA rules, as a learner sees it (1280 x 800) and embedded (``?embed=true`` at 800 x 600, the
  in-page menu open): no violation of impact "serious" or "critical" may remain. Every finding is printed
  (rule, impact, node count), so the minor and moderate ones stay visible too.
- Embedded, as in a course page's iframe (``?embed=true`` at 800 x 600): every page renders without an
  exception, nothing is cut off (no sideways scrolling, no text wider than its box) and the page itself
  links to every other page (the menu in a "Pages of Batch Lab" expander); a link followed from there keeps
  ``?embed=true``.

Without axe-core the audit skips with the reason (``npm ci`` installs it), except under CI=true, where it
fails; without chromium or playwright every test here skips, or fails on CI (tests/browser_kit.py).
"""

from __future__ import annotations

import json
import os
import tempfile

import pytest

from quiz import catalog
from tests.browser_kit import (CHROMIUM, CHROMIUM_ARGS, MENU, MENU_IN_PAGE, OVERFLOWING_TEXT, free_port,
                               require_browser, start_server, stop_server, wait_idle)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
AXE = os.path.join(ROOT, "node_modules", "axe-core", "axe.min.js")
TAGS = ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]
BLOCKING = ("serious", "critical")


def _require_axe() -> None:
    if not os.path.exists(AXE):
        msg = f"axe-core is not installed ({os.path.relpath(AXE, ROOT)} missing; run `npm ci` in the repository)"
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(msg)
        pytest.skip(msg)


def page_paths() -> list[str]:
    return [p.url_path for p in catalog.PAGES if os.path.exists(os.path.join(ROOT, p.file))]


# The menu's order: by section, catalog order within one (pages/menu.py)
MENU_TITLES = [p.title for ps in catalog.by_section().values() for p in ps if os.path.exists(os.path.join(ROOT, p.file))]


@pytest.fixture(scope="module")
def server():
    require_browser()
    env = dict(os.environ, XDG_DATA_HOME=tempfile.mkdtemp(prefix="batchlab-a11y-"))  # a private class database
    env.pop("BATCH_LAB_DATABASE_URL", None)
    port = free_port()
    proc = start_server(port, env=env)
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


def audit(page) -> list[dict]:
    """axe-core's violations on the page as it is now: [{id, impact, nodes, targets}]."""
    if not page.evaluate("() => typeof axe !== 'undefined'"):
        page.add_script_tag(path=AXE)
    return page.evaluate("""async (tags) => {
        const r = await axe.run(document, {runOnly: {type: 'tag', values: tags}, resultTypes: ['violations']});
        return r.violations.map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.length,
                                       targets: v.nodes.slice(0, 3).map(n => n.target.join(' '))}));
    }""", TAGS)


def load(page, url: str) -> None:
    """Open a page and wait until the learner sees it whole: the run finished, nothing stale (Streamlit fades
    the previous run's elements until a rerun replaces them) and every chart drawn."""
    page.goto(url, wait_until="domcontentloaded")
    wait_idle(page, 120_000)
    page.wait_for_function("() => !document.querySelector('[data-stale=\"true\"]')", timeout=120_000)
    page.wait_for_function("""() => Array.from(document.querySelectorAll('[data-testid="stPlotlyChart"]'))
        .every(c => c.querySelector('.main-svg'))""", timeout=60_000)
    page.wait_for_timeout(500)


def _report(found: dict) -> None:
    for name, v in found.items():
        print(f"\n{name}: " + (", ".join(f"{x['id']} ({x['impact']}, {x['nodes']}: {x['targets']})" for x in v)
                               or "clean"))
    blocking = {p: [x for x in v if x["impact"] in BLOCKING] for p, v in found.items()}
    blocking = {p: v for p, v in blocking.items() if v}
    assert not blocking, json.dumps(blocking, indent=1)[:4000]


def test_every_page_has_no_serious_or_critical_axe_violation(server, browser):
    _require_axe()
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.set_default_timeout(90_000)
    found = {}
    try:
        for path in page_paths():
            load(page, f"{server}/{path}")
            found[path or "home"] = audit(page)
    finally:
        page.close()
    _report(found)


def _open_in_page_menu(page) -> None:
    summary = page.locator(f"{MENU_IN_PAGE} >> xpath=ancestor::details[1]/summary")
    if page.locator(f"{MENU_IN_PAGE} a").first.is_visible():
        return
    summary.click()
    page.locator(f"{MENU_IN_PAGE} a").first.wait_for(state="visible", timeout=10_000)


def test_every_page_works_embedded_at_800_by_600(server, browser):
    """?embed=true, as in an LMS iframe: Streamlit hides its header, and the app draws no sidebar of its own,
    so each page must render, fit 800 px, and link to every other page from its own content."""
    page = browser.new_page(viewport={"width": 800, "height": 600})
    page.set_default_timeout(90_000)
    axe = os.path.exists(AXE)
    expected = {p for p in page_paths()}
    found, problems = {}, []
    try:
        for path in page_paths():
            name = path or "home"
            load(page, f"{server}/{path}?embed=true")
            errors = page.locator('[data-testid="stException"]')
            assert errors.count() == 0, f"{name}: {errors.first.inner_text()[:300]}"
            assert page.locator(MENU).count() == 0, f"{name}: the sidebar menu is drawn in embed mode"
            _open_in_page_menu(page)
            entries = page.eval_on_selector_all(f"{MENU_IN_PAGE} a", "els => els.map(e => [e.innerText, e.href])")
            titles = [t.strip().splitlines()[-1].strip() for t, _ in entries]
            assert titles == MENU_TITLES, f"{name}: the in-page menu has {titles}"
            # Streamlit writes a page link's href from the page's URL path, which is empty for the default
            # page: Home's link says href="" (the current URL) though a click opens Home. The others must
            # name their page.
            linked = {h.split("?")[0][len(server):].strip("/") for (t, h), title in zip(entries, titles)
                      if title != catalog.page("").title}
            assert linked == expected - {""}, f"{name}: the in-page menu links to {sorted(linked)}"
            overflow = page.evaluate("() => document.documentElement.scrollWidth - document.documentElement.clientWidth")
            if overflow > 1:
                problems.append(f"{name}: {overflow} px cut off at 800 px wide")
            problems += [f"{name}: {p}" for p in page.evaluate(OVERFLOWING_TEXT)]
            if axe:
                found[f"{name} (embedded)"] = audit(page)
        assert not problems, "\n".join(problems[:20])
        # A link followed inside the frame stays embedded (Streamlit keeps ?embed=true across pages).
        load(page, f"{server}/step-by-step?embed=true")
        _open_in_page_menu(page)
        page.locator(f"{MENU_IN_PAGE} a").filter(has_text="Quiz").first.click()
        page.wait_for_function("() => location.pathname.endsWith('/quiz')", timeout=30_000)
        wait_idle(page, 90_000)
        assert "embed=true" in page.evaluate("() => location.search"), page.url
        assert page.locator(MENU).count() == 0 and page.locator(MENU_IN_PAGE).count() == 1
    finally:
        page.close()
    if axe:
        _report(found)
    else:
        _require_axe()  # the embedded pages passed; say why their audit did not run
