"""Measure the app against issue 15's targets, each beside its yardstick measured in the same run.

Never a bare time: each figure is paired with a yardstick run by run (Y A Y A ...) and the median of the
pairs' ratios is printed.

- CPU yardstick Y: the whole process ``python -c "sum(i*i for i in range(10**7))"``.
  Playground rerun after a widget change that needs a new simulation (server side, Streamlit AppTest):
  target <= 0.1 Y.
- Browser yardstick B: time to the first drawn plotly chart of a Streamlit page holding one plain
  100-point scatter, served and opened the same way (its own ``streamlit run``, a new Chromium page).
  Playground's first chart in a new session: target <= 1.5 B.
- Animated timeline: frames drawn per second while playing in headless Chromium (plotly's
  ``plotly_animatingframe`` events over wall time): target >= 30 frames/s; and its JSON size.

With ``--vs DIR`` (another checkout, e.g. ``git worktree add /tmp/before HEAD~1``) it also serves DIR's app
beside this one, with this checkout's Python, and times both first charts against the same yardstick page
in each round, the two in alternating order: an A/B of a change that is inside the spread of single runs.

Usage: .venv/bin/python scripts/bench_app.py [--repeat N] [--no-browser] [--json] [--vs DIR]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))

TARGETS = {"rerun_y": 0.1, "first_chart_b": 1.5, "fps": 30.0, "figure_bytes": 1_000_000}
YARDSTICK = [sys.executable, "-c", "sum(i*i for i in range(10**7))"]
YARDSTICK_PAGE = """import numpy as np
import plotly.graph_objects as go
import streamlit as st

st.title("Yardstick")
rng = np.random.default_rng(0)
st.plotly_chart(go.Figure(go.Scatter(x=np.arange(100), y=rng.random(100), mode="markers")))
"""


def yardstick_s() -> float:
    """Wall time of one whole yardstick process."""
    return _yardstick()[0]


def _yardstick() -> tuple[float, float]:
    """Wall and CPU time (user + system) of one whole yardstick process."""
    import resource
    import subprocess
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t = time.perf_counter()
    subprocess.run(YARDSTICK, check=True)
    wall = time.perf_counter() - t
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def bench_rerun(repeat: int) -> dict:
    """Median wall time of AppTest reruns of the playground after one widget change."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(os.path.join(ROOT, "pages", "playground.py"), default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    new_sim, cached, ratios, cpu_ratios = [], [], [], []
    policies = ["static", "continuous"]
    for i in range(repeat):
        y, y_cpu = _yardstick()
        # A new seed is a new configuration: simulate, build the figures, send them. CPU: this process's
        # (the script thread and Streamlit's), beside the yardstick process's.
        t, c = time.perf_counter(), time.process_time()
        at.number_input(key="w_seed").set_value(1000 + i).run()
        new_sim.append(time.perf_counter() - t)
        ratios.append(new_sim[-1] / y)
        cpu_ratios.append((time.process_time() - c) / y_cpu)
        # Changing the strategy to one already run with this seed is served from the cache.
        at.selectbox(key="w_policy@chat").set_value(policies[i % 2]).run()
        t = time.perf_counter()
        at.selectbox(key="w_policy@chat").set_value(policies[(i + 1) % 2]).run()
        at.selectbox(key="w_policy@chat").set_value(policies[i % 2]).run()
        cached.append((time.perf_counter() - t) / 2)
        assert not at.exception, at.exception
    strategy = []
    for pol in ("chunked", "prefill-first", "static"):
        at.number_input(key="w_seed").set_value(5000).run()
        t = time.perf_counter()
        at.selectbox(key="w_policy@chat").set_value(pol).run()
        strategy.append(time.perf_counter() - t)
    return {"rerun_new_simulation_y": statistics.median(ratios), "rerun_new_simulation_cpu_y": statistics.median(cpu_ratios),
            "rerun_pairs": [round(r, 3) for r in ratios], "rerun_new_simulation_s": statistics.median(new_sim), "rerun_new_strategy_s": statistics.median(strategy),
            "rerun_cached_s": statistics.median(cached), "repeat": repeat}


def bench_figure() -> dict:
    import plotly.io as pio

    from sim import scenario, simulate
    from sim.config import resolve_workload
    from viz.timeline import request_lanes
    out = {}
    default = scenario("chat", workload=resolve_workload("chat", 60))
    for label, cfg in (("default playground (chat, 60 requests)", default),
                       ("chat preset, 200 requests", scenario("chat")),
                       ("legal-archive, 300 requests", scenario("legal-archive"))):
        res = simulate(cfg)
        t = time.perf_counter()
        fig = request_lanes(res)
        build = time.perf_counter() - t
        size = len(pio.to_json(fig, validate=False))
        out[label] = {"bytes": size, "frames": len(fig.frames), "iterations": len(res.iterations),
                      "build_s": round(build, 3)}
    return out


# Records, relative to the start of navigation, when the page's heading, first metric and first drawn
# chart appear (a MutationObserver, so the number does not include Playwright's own polling).
MARKS_JS = """
window.__marks = {};
const sels = {heading: 'h1', metric: '[data-testid=stMetric]', chart: '.js-plotly-plot .main-svg'};
new MutationObserver(() => { for (const [k, s] of Object.entries(sels))
    if (!window.__marks[k] && document.querySelector(s)) window.__marks[k] = performance.now() / 1000; })
  .observe(document, {subtree: true, childList: true});
"""


def _serve_yardstick(port: int, folder: str):
    """The browser yardstick's page, served as the app is (streamlit run, same flags), from ``folder``."""
    import subprocess
    import urllib.request
    path = os.path.join(folder, "yardstick.py")
    with open(path, "w") as f:
        f.write(YARDSTICK_PAGE)
    streamlit = os.path.join(os.path.dirname(sys.executable), "streamlit")
    proc = subprocess.Popen([streamlit, "run", path, "--server.headless", "true", "--server.address", "127.0.0.1",
                             "--server.port", str(port), "--browser.gatherUsageStats", "false"], cwd=folder,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 60
    while time.time() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=2) as r:
                if r.status == 200:
                    return proc
        except OSError:
            time.sleep(0.3)
    proc.terminate()
    raise RuntimeError("the yardstick page did not become healthy within 60 s")


def _settled(page, timeout_ms: int = 180_000) -> None:
    """Streamlit has finished its script run (no 'running' widget for half a second)."""
    page.wait_for_selector('[data-testid="stApp"]', timeout=timeout_ms)
    page.wait_for_function("""() => { const busy = document.querySelector('[data-testid="stStatusWidget"]');
        if (busy) { window.__quiet = 0; return false; }
        window.__quiet = (window.__quiet || 0) + 1; return window.__quiet > 5; }""", polling=100, timeout=timeout_ms)


def _first_chart(browser, url: str) -> dict:
    """Marks (s from navigation start) of a new session's page: a new Chromium page is a new session."""
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.set_default_timeout(180_000)
    page.add_init_script(MARKS_JS)
    page.goto(url, wait_until="commit")
    page.wait_for_function("() => window.__marks && window.__marks.chart", polling=100)
    marks = page.evaluate("window.__marks")
    _settled(page)
    page.close()
    return marks


# Counts, from the click on Play, the frames plotly draws (plotly_animatingframe fires once per frame) and
# the browser's animation ticks (requestAnimationFrame), over ``seconds``; and the timeline's drawn bars at
# the end (Play must not erase them: issue 11).
FPS_JS = """async ([n, seconds]) => {
  const gd = document.querySelectorAll('.js-plotly-plot')[n];
  let frames = 0, ticks = 0, first = null, last = null;
  gd.on('plotly_animatingframe', () => { const t = performance.now(); frames += 1; if (first === null) first = t; last = t; });
  const t0 = performance.now();
  let run = true;
  const tick = () => { ticks += 1; if (run) requestAnimationFrame(tick); };
  requestAnimationFrame(tick);
  window.__playClicked = t0;
  await new Promise(r => setTimeout(r, seconds * 1000));
  run = false;
  const wall = (performance.now() - t0) / 1000;
  return {frames, ticks, seconds: wall, span: first === null ? 0 : (last - first) / 1000,
          total: gd._transitionData._frames.length,
          bars: gd.querySelectorAll('.barlayer .point path').length};
}"""


def _fps(page) -> dict:
    """Frames per second of the playground's timeline while it plays, clicked as a learner clicks Play."""
    from browser_kit import bar_paths, chart_index
    nth = chart_index(page, "Batch timeline", 180_000)
    chart = page.locator(".js-plotly-plot").nth(nth)
    chart.scroll_into_view_if_needed()
    bars = bar_paths(page, nth)
    play = chart.locator(".updatemenu-button").filter(has_text="Play").first
    # The counters start first, then the click: the measurement window opens at the click.
    page.evaluate(f"() => {{ window.__fps = ({FPS_JS})([{nth}, 4]); }}")
    play.click()
    got = page.evaluate("() => window.__fps")
    chart.locator(".updatemenu-button").filter(has_text="Pause").first.click()
    # frames/s over the frames drawn (first to last), not counting the click's own latency
    got["fps"] = (got["frames"] - 1) / got["span"] if got["frames"] > 1 and got["span"] > 0 else 0.0
    got["bars_before"] = bars
    return got


def _warm_kernel(root: str) -> None:
    """Build ``root``'s compiled kernel's object file if it is missing, as scripts/app.sh does before it starts
    the server: a page process never compiles, and without the file its pages run on the Python engine, which
    is not what the app serves (nor, in an A/B, what the other checkout runs)."""
    import subprocess
    subprocess.run([sys.executable, "-c", "from sim.fastpath import warm; warm()"], cwd=root, check=True)


def bench_browser(repeat: int, vs: str | None = None) -> dict | None:
    import tempfile

    from browser_kit import CHROMIUM, CHROMIUM_ARGS, free_port as _free_port, missing as _missing, start_server
    reason = _missing()
    if reason:
        return {"skipped": reason}
    from playwright.sync_api import sync_playwright
    port, yport, vport = _free_port(), _free_port(), _free_port()
    proc = start_server(port)
    url, yurl, vurl = f"http://127.0.0.1:{port}", f"http://127.0.0.1:{yport}", f"http://127.0.0.1:{vport}"
    pairs_new, pairs_default, fps, rounds_vs = [], [], [], []
    with tempfile.TemporaryDirectory() as folder:
        yproc = vproc = None
        try:
            yproc = _serve_yardstick(yport, folder)
            vproc = start_server(vport, root=os.path.abspath(vs)) if vs else None
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
                for warm in (url + "/playground", yurl) + ((vurl + "/playground",) if vs else ()):
                    _first_chart(browser, warm)  # first script runs import plotly, numpy, the simulator
                for i in range(repeat):
                    b = _first_chart(browser, yurl)["chart"]
                    pairs_default.append((b, _first_chart(browser, f"{url}/playground")["chart"]))
                    b = _first_chart(browser, yurl)["chart"]
                    pairs_new.append((b, _first_chart(browser, f"{url}/playground?seed={3000 + i}")["chart"]))
                for i in range(repeat if vs else 0):
                    b = _first_chart(browser, yurl)["chart"]
                    # which server goes first alternates: the second page of a round finds a warmer browser
                    order = [(url, "this"), (vurl, "vs")][:: 1 if i % 2 == 0 else -1]
                    got = {who: _first_chart(browser, f"{u}/playground")["chart"] for u, who in order}
                    rounds_vs.append((b, got["this"], got["vs"]))
                page = browser.new_page(viewport={"width": 1400, "height": 1000})
                page.set_default_timeout(180_000)
                for _ in range(repeat):
                    page.goto(f"{url}/playground", wait_until="commit")
                    _settled(page)
                    fps.append(_fps(page))
                browser.close()
        finally:
            for pr in (proc, yproc, vproc):
                if pr is not None:
                    pr.terminate()
                    pr.wait(timeout=10)

    def ratio(pairs):
        return statistics.median(a / b for b, a in pairs)
    return {"first_chart_default_b": ratio(pairs_default), "first_chart_new_config_b": ratio(pairs_new),
            "yardstick_page_s": statistics.median(b for b, _ in pairs_default + pairs_new),
            "first_chart_default_s": statistics.median(a for _, a in pairs_default),
            "pairs_default": pairs_default, "pairs_new": pairs_new,
            "fps": statistics.median(f["fps"] for f in fps) if fps else None, "fps_runs": fps, "repeat": repeat,
            "vs": vs and {"dir": vs, "rounds": rounds_vs,
                          "this_b": statistics.median(a / b for b, a, _ in rounds_vs),
                          "vs_b": statistics.median(v / b for b, _, v in rounds_vs)}}


def _or_failure(fn, *args) -> dict:
    """The browser part's numbers, or why it could not measure them (the CPU part is printed anyway)."""
    try:
        return fn(*args)
    except Exception as e:  # a timeout on a loaded machine, a page that failed: say so, keep the rest
        return {"skipped": f"failed: {type(e).__name__}: {str(e).splitlines()[0][:200]}"}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-browser", action="store_true")
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--vs", metavar="DIR", help="another checkout whose playground's first chart is timed beside "
                                                "this one's, against the same yardstick page each round")
    args = ap.parse_args(argv)
    if args.vs and not os.path.isfile(os.path.join(args.vs, "app.py")):
        ap.error(f"--vs: {args.vs!r} is not a Batch Lab checkout (no app.py there); "
                 "make one with: git worktree add /tmp/before HEAD~1")
    if args.vs and args.no_browser:
        ap.error("--vs compares first charts in the browser; it cannot go with --no-browser")
    for root in (ROOT, args.vs) if args.vs else (ROOT,):
        _warm_kernel(root)  # this checkout's too: the rerun here and its server only link the file, never build it
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"1-min load average at the start: {load:.2f}", file=sys.stderr)
    res = {"cpu_count": os.cpu_count(), "load_1min": round(load, 2),
           "rerun": bench_rerun(args.repeat), "figure": bench_figure(),
           "browser": None if args.no_browser else _or_failure(bench_browser, args.repeat, args.vs)}
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    r = res["rerun"]
    end = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"machine: {res['cpu_count']} CPUs, 1-min load {res['load_1min']} at the start, {end:.2f} at the end; Y = the whole process "
          f"python -c 'sum(i*i for i in range(10**7))', B = first chart of a one-scatter Streamlit page; "
          f"medians of {r['repeat']} paired runs")
    print(f"playground rerun, new simulation (seed change):  {r['rerun_new_simulation_y']:.3f} Y wall, "
          f"{r['rerun_new_simulation_cpu_y']:.3f} Y CPU  (target <= {TARGETS['rerun_y']} Y; pairs "
          f"{r['rerun_pairs']}; {r['rerun_new_simulation_s']:.3f} s)")
    print(f"playground rerun, new strategy:                   {r['rerun_new_strategy_s']:.3f} s")
    print(f"playground rerun, cached config (strategy back):  {r['rerun_cached_s']:.3f} s")
    for label, f in res["figure"].items():
        print(f"animated timeline JSON, {label}: {f['bytes'] / 1e6:.2f} MB, {f['frames']} frames over "
              f"{f['iterations']} iterations, built in {f['build_s']:.3f} s (target <= 1 MB)")
    b = res["browser"]
    if b is None:
        print("browser: not measured (--no-browser)")
    elif "skipped" in b:
        print(f"browser: skipped ({b['skipped']})")
    else:
        pairs = lambda ps: ", ".join(f"{a / y:.2f}" for y, a in ps)  # noqa: E731
        print(f"first chart in chromium, new session, default config: {b['first_chart_default_b']:.2f} B  "
              f"(target <= {TARGETS['first_chart_b']} B; pairs {pairs(b['pairs_default'])}; B = "
              f"{b['yardstick_page_s']:.2f} s)")
        print(f"first chart in chromium, new session, new config:     {b['first_chart_new_config_b']:.2f} B  "
              f"(pairs {pairs(b['pairs_new'])})")
        fps = "not measured (no animated chart found)" if b["fps"] is None else f"{b['fps']:.1f} frames/s"
        print(f"animated timeline while playing in chromium: {fps} (target >= {TARGETS['fps']:g}; runs: " +
              ", ".join(f"{f['fps']:.1f} ({f['frames']} frames in {f['span']:.2f} s, browser ticks "
                        f"{f['ticks'] / f['seconds']:.0f}/s, bars {f['bars_before']} -> {f['bars']})"
                        for f in b["fps_runs"]) + ")")
        if b["vs"]:
            v = b["vs"]
            print(f"first chart, default config, this checkout vs {v['dir']}: {v['this_b']:.2f} B vs "
                  f"{v['vs_b']:.2f} B  (rounds, this / vs: " +
                  ", ".join(f"{a / y:.2f} / {o / y:.2f}" for y, a, o in v["rounds"]) + ")")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
