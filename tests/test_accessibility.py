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
from tests.browser_kit import (MENU, MENU_IN_PAGE, OVERFLOWING_TEXT, free_port,
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


# Each page opened with its prediction made (?p_<key>=, pages/common.predict), so its results and charts show
# and are audited too; the step-by-step replay three iterations in.
OPENED_AS = {"iteration-cost": "p_double=some", "step-by-step": "it=3", "reorganization": "p_reorg=same",
             "memory": "p_waste=same", "prefill-vs-decode": "p_tbt=same", "priorities": "p_starve=same",
             "disaggregation": "p_disagg=same"}


def page_url(server: str, path: str, *extra: str) -> str:
    query = "&".join(q for q in (OPENED_AS.get(path, ""), *extra) if q)
    return f"{server}/{path}" + (f"?{query}" if query else "")


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
            load(page, page_url(server, path))
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
            load(page, page_url(server, path, "embed=true"))
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


# ---- text alternatives: every chart's data as a table, opened from the keyboard ---------------------------

TABLE_LABEL = "Chart data as a table"  # pages/common.TABLE_LABEL


COUNTS_MATCH = """(label) => { if (document.querySelector('[data-stale="true"]')) return false;
    const charts = document.querySelectorAll('[data-testid="stPlotlyChart"]').length;
    const tables = Array.from(document.querySelectorAll('[data-testid="stExpander"] summary'))
        .filter(s => s.innerText.includes(label)).length;
    return charts === tables; }"""


def _tables(page):
    return page.locator('[data-testid="stExpander"]').filter(
        has=page.locator("summary", has_text=TABLE_LABEL))


def test_every_chart_has_its_data_as_a_table_opened_by_keyboard(server, browser):
    """Each page's charts each have a "Chart data as a table" expander; each opens from the keyboard (its
    summary takes focus, Enter opens it) and shows a table with a row per drawn point; the page is then
    audited with the tables open (when axe-core is installed)."""
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.set_default_timeout(90_000)
    found, counts = {}, {}
    try:
        for path in page_paths():
            name = path or "home"
            load(page, page_url(server, path))
            try:  # a page may still be drawing its last charts: wait until every chart has its table
                page.wait_for_function(COUNTS_MATCH, arg=TABLE_LABEL, timeout=60_000)
            except Exception:
                pass
            charts = page.locator('[data-testid="stPlotlyChart"]').count()
            tables = _tables(page)
            assert tables.count() == charts, f"{name}: {charts} charts, {tables.count()} data tables"
            for i in range(charts):
                summary = tables.nth(i).locator("summary").first
                if not summary.is_visible():  # a chart on a tab not shown (validate's GPU tab): present is enough
                    continue
                summary.focus()
                assert page.evaluate("() => document.activeElement.tagName") == "SUMMARY", name
                assert page.evaluate("() => document.activeElement.tabIndex") >= 0, name
                page.keyboard.press("Enter")
                wait_idle(page, 120_000)
                body = tables.nth(i)
                body.locator('[data-testid="stTable"] tbody tr, [data-testid="stDataFrame"], '
                             '[data-testid="stCaptionContainer"]').first.wait_for(timeout=60_000)
                rows = body.locator('[data-testid="stTable"] tbody tr').count()
                grid = body.locator('[data-testid="stDataFrame"]').count()
                assert rows or grid or "no data points" in body.inner_text(), f"{name}: chart {i} table is empty"
            counts[name] = charts
            if os.path.exists(AXE):
                found[f"{name} (tables open)"] = audit(page)
    finally:
        page.close()
    print("\ncharts (each with its table):", counts)
    assert sum(counts.values()) >= 20, counts  # the pages draw about thirty charts in all
    if found:
        _report(found)


# ---- the keyboard alone: Tab, Enter, Space and the arrow keys ---------------------------------------------

# The focused element, as the test needs it: its tag, type, accessible name (aria-label, its label's text or
# its own text) and whether its focus shows: an outline of at least 2 px on it, on its label (radio buttons
# and checkboxes hide their input) or on its select box's frame.
ACTIVE = """() => { const e = document.activeElement; if (!e || e === document.body) return null;
    const label = e.closest('label'); const frame = e.closest('[data-baseweb="select"]');
    const name = (e.getAttribute('aria-label') || (label ? label.innerText : '') || e.innerText || '').trim();
    const shows = el => { if (!el) return false; const cs = getComputedStyle(el), r = el.getBoundingClientRect();
        return r.width > 4 && r.height > 4 && cs.outlineStyle !== 'none' && parseFloat(cs.outlineWidth) >= 2; };
    return {tag: e.tagName, type: e.getAttribute('type') || '', name: name.split('\\n').pop().trim(),
            full: name, visible: shows(e) || shows(label) || shows(frame && frame.firstElementChild)}; }"""


def _tab_to(page, want, what: str, limit: int = 150) -> dict:
    """Press Tab until the focused element satisfies ``want``; its focus must show."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        a = page.evaluate(ACTIVE)
        if a and want(a):
            assert a["visible"], f"focus on {what} does not show: {a}"
            return a
    raise AssertionError(f"{limit} presses of Tab never reached {what}")


def _press(page, key: str) -> None:
    page.keyboard.press(key)
    wait_idle(page, 120_000)


def _progress(page) -> str:
    return page.locator('[data-testid="stProgress"]').first.inner_text()


def test_step_by_step_and_quiz_work_with_the_keyboard_alone(server, browser):
    page = browser.new_page(viewport={"width": 1280, "height": 800})
    page.set_default_timeout(90_000)
    try:
        load(page, f"{server}/step-by-step")
        assert "iteration 0 of" in _progress(page)
        # Step through two iterations: Enter on the Step button, then Space.
        _tab_to(page, lambda a: a["tag"] == "BUTTON" and a["name"] == "Step", "the Step button")
        _press(page, "Enter")
        assert "iteration 1 of" in _progress(page), _progress(page)
        a = page.evaluate(ACTIVE)
        if not (a and a["name"] == "Step"):  # a rerun may have moved focus: find the button again
            _tab_to(page, lambda a: a["tag"] == "BUTTON" and a["name"] == "Step", "the Step button")
        _press(page, "Space")
        assert "iteration 2 of" in _progress(page), _progress(page)
        # Predict iteration 3: open a list with the arrow key, pick with Enter, submit with Enter.
        _tab_to(page, lambda a: a["tag"] == "INPUT" and a["name"] == "Which requests will be prefilled?",
                "the first prediction box")
        page.keyboard.press("ArrowDown")
        page.wait_for_timeout(300)
        page.keyboard.press("Enter")
        page.wait_for_timeout(300)
        _tab_to(page, lambda a: a["tag"] == "BUTTON" and a["name"] == "Check my prediction and step",
                "the prediction's submit button")
        _press(page, "Enter")
        text = page.locator('[data-testid="stMain"]').inner_text()
        assert "Your prediction for iteration 3:" in text and "of 4 right" in text, text[:1500]
        assert "the trace says" in text
        assert "iteration 3 of" in _progress(page)
        # The chart's data, from the keyboard.
        _tab_to(page, lambda a: a["tag"] == "SUMMARY" and TABLE_LABEL in a["full"], "a chart's data table")
        _press(page, "Enter")
        assert _tables(page).first.locator('[data-testid="stTable"] tbody tr').count() > 0

        # The quiz: pick a concept with the arrow keys, answer with Space, check with Enter.
        load(page, f"{server}/quiz")
        _tab_to(page, lambda a: a["tag"] == "INPUT" and a["name"] == "Concept", "the quiz's concept box")
        page.keyboard.press("ArrowDown")
        page.wait_for_selector('[role="option"]', timeout=10_000)
        for _ in range(20):  # C8 (priorities): single and multiple choice only, nothing to type
            # the option the arrow keys are on, as a screen reader learns it: the input's active descendant
            hl = page.evaluate("""() => { const id = document.activeElement.getAttribute('aria-activedescendant');
                                       const o = id && document.getElementById(id); return o ? o.innerText : ''; }""")
            if hl.startswith("C8:"):
                break
            page.keyboard.press("ArrowDown")
            page.wait_for_timeout(100)
        else:
            raise AssertionError(f"the arrow keys never reached C8 in the concept list (at {hl!r})")
        _press(page, "Enter")
        main = page.locator('[data-testid="stMain"]')
        assert "1 of 4" in main.inner_text()
        if main.locator('[data-testid="stRadio"] input[type="radio"]').count():
            _tab_to(page, lambda a: a["type"] == "radio", "the first answer")
            page.keyboard.press("ArrowDown")  # moves to, and chooses, the next option
            page.wait_for_timeout(300)
            page.keyboard.press("Space")
        else:
            _tab_to(page, lambda a: a["type"] == "checkbox", "the first answer")
            page.keyboard.press("Space")
        wait_idle(page, 60_000)
        _tab_to(page, lambda a: a["tag"] == "BUTTON" and a["name"] == "Check my answer", "Check my answer")
        _press(page, "Enter")
        feedback = page.locator('[data-testid="stAlert"]').filter(has_text="Score").first
        feedback.wait_for(timeout=30_000)
        assert "Score" in feedback.inner_text()
        page.locator('[data-testid="stMetric"]').filter(has_text="Answered").filter(has_text="1").first.wait_for()
        _tab_to(page, lambda a: a["tag"] == "BUTTON" and a["name"] == "Next question", "Next question")
        _press(page, "Enter")
        assert "2 of 4" in main.inner_text()
    finally:
        page.close()
