"""Shared pieces of the real-browser tests: start the app with the README's command, launch Debian's
chromium through Playwright, wait for Streamlit to finish a run, and read plotly figures in the page.

Without chromium or playwright the tests skip with the reason, except under CI=true, where a missing
browser is a failure (tests/test_browser.py says the same).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import time
import urllib.request

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CHROMIUM = os.environ.get("CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--no-first-run"]


def missing() -> str | None:
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        return "playwright is not installed (pip install -r requirements-dev.txt)"
    if not os.path.exists(CHROMIUM):
        return f"chromium not found at {CHROMIUM} (apt-get install chromium)"
    return None


def require_browser() -> None:
    reason = missing()
    if reason:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail(f"browser tests cannot run on CI: {reason}")
        pytest.skip(reason)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_server(port: int, env: dict | None = None, root: str = ROOT) -> subprocess.Popen:
    """The README's command: streamlit run app.py, headless, local only, no usage statistics (``env``: the
    process's environment, e.g. a private data folder; default this one's; ``root``: the checkout whose
    app.py it serves, this one unless a benchmark compares two)."""
    streamlit = os.path.join(ROOT, ".venv", "bin", "streamlit")
    cmd = [streamlit if os.path.exists(streamlit) else os.path.join(os.path.dirname(sys.executable), "streamlit"),
           "run", "app.py", "--server.headless", "true", "--server.address", "127.0.0.1", "--server.port",
           str(port), "--browser.gatherUsageStats", "false"]
    proc = subprocess.Popen(cmd, cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"streamlit exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.3)
    proc.terminate()
    raise RuntimeError("streamlit did not become healthy within 60 s")


def stop_server(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        proc.kill()


# The app's own menu (pages/menu.py): in the sidebar, or embedded (?embed=true) in a collapsed expander at
# the top of the page. Its section headings exist only once app.py's router has run (a fresh server's
# legacy mode shows a page bare, without them), so every wait for a finished run starts with them.
MENU = ".st-key-batchlab_menu"
MENU_IN_PAGE = ".st-key-batchlab_menu_in_page"
MENU_SECTION = f"{MENU} .bl-menu-section, {MENU_IN_PAGE} .bl-menu-section"


def menu_hrefs(page, menu: str = MENU) -> list[str]:
    """Every link of the menu (the current page's included), in menu order, without the query string."""
    page.wait_for_selector(f"{menu} .bl-menu-section", state="attached", timeout=60_000)
    # Streamlit sends the menu's links one element at a time, so a read right after the first heading can
    # see one link: read until two reads 0.3 s apart agree (a loaded machine may take seconds).
    read = lambda: [h.split("?")[0] for h in page.eval_on_selector_all(f"{menu} a", "els => els.map(e => e.href)")]
    last, deadline = read(), time.time() + 60
    while time.time() < deadline:
        page.wait_for_timeout(300)
        now = read()
        if now == last and len(now) > 1:
            return now
        last = now
    return last


def menu_link(page, title: str, menu: str = MENU):
    """The menu's link to the page titled ``title`` (a Playwright locator)."""
    return page.locator(f"{menu} a").filter(has_text=title).first


_SETTLED = """() => { const busy = document.querySelector('[data-testid="stStatusWidget"]') ||
    document.querySelector('[data-stale="true"]') || document.querySelector('[data-testid="stSkeleton"]');
    const m = document.querySelector('[data-testid="stMain"]');
    return busy ? null : (m ? m.innerText : ''); }"""


def wait_idle(page, timeout_ms: int = 60_000, quiet_ms: int = 1000) -> None:
    """Wait until Streamlit has finished the script run: app rendered, no 'running' status widget, no
    stale elements, and the page's text unchanged for ``quiet_ms`` (a rerun may start a moment after
    the click that caused it)."""
    page.wait_for_selector(MENU_SECTION, state="attached", timeout=timeout_ms)
    deadline = time.time() + timeout_ms / 1e3
    last = None
    while time.time() < deadline:
        page.wait_for_timeout(quiet_ms // 2)
        now = page.evaluate(_SETTLED)
        if now is not None and now == last:
            return
        last = now
    raise TimeoutError("the page did not settle")


def open_page(page, url: str, timeout_ms: int = 90_000) -> None:
    page.goto(url, wait_until="domcontentloaded", timeout=timeout_ms)
    wait_idle(page, timeout_ms)


def no_exception(page) -> None:
    errors = page.locator('[data-testid="stException"]')
    assert errors.count() == 0, errors.first.inner_text()[:500]


# Drawn bars of one plotly chart (the nth on the page): the SVG paths plotly made, not its data.
BAR_PATHS = """(n) => { const gd = document.querySelectorAll('.js-plotly-plot')[n];
    return gd ? gd.querySelectorAll('.barlayer .point path').length : -1; }"""


def bar_paths(page, nth: int = 0) -> int:
    return page.evaluate(BAR_PATHS, nth)


def chart_index(page, title_start: str, timeout_ms: int = 30_000) -> int:
    """Position of the first drawn plotly chart whose title (Streamlit wraps it in <b>) starts with
    ``title_start``; waits until plotly has drawn it."""
    return page.wait_for_function("""(t) => { const i = Array.from(document.querySelectorAll('.js-plotly-plot'))
        .findIndex(gd => gd.layout && gd.layout.title && gd.querySelector('.main-svg') &&
                   String(gd.layout.title.text || '').replace(/<[^>]*>/g, '').startsWith(t));
        return i >= 0 ? i + 1 : 0; }""", arg=title_start, timeout=timeout_ms).json_value() - 1


def main_text(page) -> str:
    """The page's visible text outside the sidebar and the charts."""
    return page.evaluate("""() => { const m = document.querySelector('[data-testid="stMain"]');
        return m ? m.innerText : document.body.innerText; }""")


# Text cut off by its box: an element holding text (or set to end in "...") whose content is wider than
# the box shows (scrollWidth > clientWidth). Charts, tables and code scroll or clip on purpose: skipped.
OVERFLOWING_TEXT = """() => {
    const skip = '[data-testid="stDataFrame"], .js-plotly-plot, pre, code, [data-testid="stCode"], ' +
                 '[role="tooltip"], [data-testid="stTooltipContent"], textarea, input, [data-testid="stSkipLink"]';
    const hit = [];
    for (const el of document.querySelectorAll('[data-testid="stApp"] *')) {
        if (el.clientWidth < 2 || el.scrollWidth <= el.clientWidth + 1) continue;
        if (el.closest(skip) || el.querySelector(skip) || !el.innerText || !el.innerText.trim()) continue;
        const cs = getComputedStyle(el);
        if (cs.visibility === 'hidden' || el.getAttribute('href') === '#main') continue;
        hit.push(el);
    }
    // the innermost box that overflows names the text; its ancestors overflow because of it
    return hit.filter(el => !hit.some(o => o !== el && el.contains(o))).map(el =>
        `${el.tagName.toLowerCase()} "${el.innerText.trim().slice(0, 60)}" (${el.scrollWidth} px in ${el.clientWidth} px)`);
}"""


def wait_text(page, text: str, timeout_ms: int = 30_000) -> str:
    """The main area's text once it contains ``text`` (parts of a page can arrive a moment apart)."""
    page.wait_for_function("(t) => { const m = document.querySelector('[data-testid=\"stMain\"]');"
                           " return m && m.innerText.includes(t); }", arg=text, timeout=timeout_ms)
    return main_text(page)
