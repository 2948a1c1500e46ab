"""Real-browser tests of a live class session (Debian chromium via Playwright).

A presenter and three learner browser contexts (separate cookie jars, like separate devices): the
presenter starts a session on the step-by-step page, the learners join with the code and predict, the
presenter's chart shows the three predictions without a reload, the presenter reveals, and every learner
sees the answer without a reload. A learner context then tries the presenter's actions without the
secret and sees nothing of the class. The same with two app processes behind nginx (scripts/serve_class.py),
the presenter on one process and the learners on the other.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
import urllib.request

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from browser_kit import free_port as _free_port, require_browser as _require_browser, wait_idle  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))
SHOTS = os.path.join(ROOT, "artifacts", "screenshots")
WAIT_MS = 90_000  # generous: CI and this machine are shared, and a loaded CPU slows every rerun


def _streamlit() -> str:
    exe = os.path.join(ROOT, ".venv", "bin", "streamlit")
    return exe if os.path.exists(exe) else os.path.join(os.path.dirname(sys.executable), "streamlit")


def _wait_healthy(url: str, proc: subprocess.Popen | None = None, timeout_s: float = 60) -> None:
    deadline = time.time() + timeout_s
    while time.time() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(f"{url}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not become healthy within {timeout_s} s")


@pytest.fixture(scope="module")
def data_home():
    return tempfile.mkdtemp(prefix="batchlab-class-")


@pytest.fixture(scope="module")
def one_server(data_home):
    _require_browser()
    port = _free_port()
    env = dict(os.environ, XDG_DATA_HOME=data_home)
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


def _no_exception(page) -> None:
    errors = page.locator('[data-testid="stException"]')
    assert errors.count() == 0, errors.first.inner_text()[:500]


def start_session(page, base: str) -> tuple[str, str]:
    """On the step-by-step page: start a class session; returns (join code, presenter link)."""
    page.goto(f"{base}/step-by-step", wait_until="domcontentloaded")
    page.get_by_role("button", name="Start a class session", exact=True).click(timeout=WAIT_MS)
    page.get_by_text(re.compile(r"^Join code: [A-Z2-9]{6}$")).wait_for(timeout=WAIT_MS)
    code = page.get_by_text(re.compile(r"^Join code: [A-Z2-9]{6}$")).inner_text().split(": ")[1]
    page.get_by_text("Presenter link (private").click()
    link = page.locator("code", has_text="/presenter?code=").first.inner_text().strip()
    _no_exception(page)
    return code, link


def _tick(page, name: str, tries: int = 5) -> None:
    """Tick one checkbox and see it stay ticked. Each tick reruns the script; a click that lands while the
    previous rerun redraws the widget is lost (Playwright: "did not change its state"), so wait for the app
    to settle and try again rather than fail on a loaded machine."""
    box = page.get_by_role("checkbox", name=name, exact=True)
    for _ in range(tries):
        wait_idle(page, timeout_ms=WAIT_MS, quiet_ms=500)
        if box.is_checked():
            return
        try:
            box.check(force=True, timeout=10_000)
        except Exception:  # the lost-click case above; the loop looks again
            pass
    wait_idle(page, timeout_ms=WAIT_MS, quiet_ms=500)
    assert box.is_checked(), f"checkbox {name!r} would not stay ticked after {tries} tries"


def learner_predicts(page, base: str, code: str, nickname: str, picks: list[str]) -> None:
    page.goto(f"{base}/join", wait_until="domcontentloaded")
    page.get_by_role("textbox", name="Join code").fill(code.lower())
    page.get_by_role("textbox", name="Nickname (optional)").fill(nickname)
    page.get_by_role("button", name="Join", exact=True).click()
    page.get_by_text(re.compile(r"Round \d+: Iteration 1 .*prefilled")).wait_for(timeout=WAIT_MS)
    for p in picks:
        _tick(page, p)
    page.get_by_role("button", name="Send my prediction", exact=True).click()
    page.get_by_text(re.compile(r"^Your prediction: ")).wait_for(timeout=WAIT_MS)
    _no_exception(page)


def run_class(browser, presenter_base: str, learner_base: str, tag: str, contexts=None) -> None:
    os.makedirs(SHOTS, exist_ok=True)
    ctx = contexts or {}
    pres = (ctx.get("presenter") or browser.new_context(viewport={"width": 1300, "height": 1000})).new_page()
    pres.set_default_timeout(WAIT_MS)
    code, link = start_session(pres, presenter_base)
    assert "key=" in link and code in link
    learners = []
    choices = [["x1", "x2"], ["x1"], ["x2"]]
    for i, picks in enumerate(choices):
        c = ctx.get(f"learner{i}") or browser.new_context(viewport={"width": 900, "height": 900})
        page = c.new_page()
        page.set_default_timeout(WAIT_MS)
        learner_predicts(page, learner_base, code, f"learner {i} <b>", picks)
        learners.append(page)
    # The presenter's chart follows without a reload (st.fragment(run_every=...)).
    pres.get_by_text("3 predictions so far").wait_for(timeout=WAIT_MS)
    pres.get_by_text("Nicknames: learner 0 <b>, learner 1 <b>, learner 2 <b>").wait_for(timeout=WAIT_MS)
    pres.screenshot(path=os.path.join(SHOTS, f"class-presenter-{tag}.png"))
    pres.get_by_role("button", name="Reveal the answer", exact=True).click()
    pres.get_by_text("3 predictions so far; 1 exactly right").wait_for(timeout=WAIT_MS)
    for page in learners:
        page.get_by_text("The simulator's answer: x1, x2").wait_for(timeout=WAIT_MS)
        _no_exception(page)
    learners[0].get_by_text("you predicted it").wait_for(timeout=WAIT_MS)
    learners[1].screenshot(path=os.path.join(SHOTS, f"class-learner-{tag}.png"))

    # A learner who guesses the presenter's URL without the secret sees nothing of the class.
    thief = learners[2]
    thief.goto(link.split("&key=")[0] + "&key=guessed-secret", wait_until="domcontentloaded")
    thief.get_by_text("This presenter link does not open a class session").wait_for(timeout=WAIT_MS)
    assert thief.get_by_role("button", name="Reveal the answer", exact=True).count() == 0
    assert thief.get_by_role("button", name="Ask again (reset)", exact=True).count() == 0
    assert thief.get_by_text("Nicknames:").count() == 0
    thief.goto(link.split("&key=")[0], wait_until="domcontentloaded")  # no key at all
    thief.get_by_text("Start a live session", exact=False).first.wait_for(timeout=WAIT_MS)
    assert thief.get_by_text("predictions so far").count() == 0
    # The presenter link itself moves the secret out of the address bar.
    other = browser.new_context().new_page()
    other.set_default_timeout(WAIT_MS)
    other.goto(link, wait_until="domcontentloaded")
    other.get_by_text(f"Presenting class {code}").wait_for(timeout=WAIT_MS)
    other.wait_for_function("() => !location.search.includes('key=')", timeout=WAIT_MS)
    for p in [pres, other, *learners]:
        p.context.close()


def test_presenter_and_three_learners(one_server, browser):
    run_class(browser, one_server, one_server, "one-process")


@pytest.fixture(scope="module")
def two_replicas(data_home):
    """Two app processes behind Debian's nginx, sharing one SQLite file (scripts/serve_class.py)."""
    _require_browser()
    from serve_class import ClassServer, find_nginx
    if find_nginx() is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("nginx is missing on CI (apt-get install nginx)")
        pytest.skip("nginx not found (apt-get install nginx)")
    old = os.environ.get("XDG_DATA_HOME")
    os.environ["XDG_DATA_HOME"] = tempfile.mkdtemp(prefix="batchlab-2rep-")
    try:
        with ClassServer(replicas=2) as server:
            yield server
    finally:
        if old is None:
            os.environ.pop("XDG_DATA_HOME", None)
        else:
            os.environ["XDG_DATA_HOME"] = old


def _context_on(browser, base: str, want=None, avoid=None, tries: int = 24):
    """A fresh browser context (its own cookies) whose sticky route lands on replica ``want`` (or not on
    ``avoid``); returns (context, replica address the proxy named)."""
    for _ in range(tries):
        ctx = browser.new_context(viewport={"width": 1300, "height": 1000})
        page = ctx.new_page()
        replica = page.goto(f"{base}/_stcore/health").headers.get("x-batch-lab-replica", "")
        page.close()
        if (want is None or replica == want) and (avoid is None or replica != avoid):
            return ctx, replica
        ctx.close()
    raise AssertionError(f"no route to the wanted replica after {tries} fresh contexts")


def test_the_same_session_across_two_processes_behind_nginx(two_replicas, browser):
    base = two_replicas.url
    pres_ctx, pres_replica = _context_on(browser, base)
    contexts = {"presenter": pres_ctx}
    learner_replica = None
    for i in range(3):
        ctx, learner_replica = _context_on(browser, base, want=learner_replica, avoid=pres_replica)
        contexts[f"learner{i}"] = ctx
    assert pres_replica and learner_replica and pres_replica != learner_replica
    # Sticky: the websocket and every request of a context stay on its replica.
    page = contexts["learner0"].new_page()
    for _ in range(5):
        assert page.goto(f"{base}/_stcore/health").headers["x-batch-lab-replica"] == learner_replica
    page.close()
    run_class(browser, base, base, "two-processes", contexts=contexts)
