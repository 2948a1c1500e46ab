"""Measure the app against its targets and print the numbers.

- server-side rerun of the playground after a widget change (Streamlit AppTest, default settings):
  a change that needs a new simulation (strategy, seed) and one served from the cache (inspect slider);
  target <= 0.3 s;
- size of the animated timeline figure (JSON sent to the browser): target <= 1 MB;
- time from opening the playground to its first chart in Debian's chromium (if installed): target <= 3 s.

Usage: .venv/bin/python scripts/bench_app.py [--repeat N] [--no-browser] [--json]
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

TARGETS = {"rerun_s": 0.3, "first_chart_s": 3.0, "figure_bytes": 1_000_000}


def bench_rerun(repeat: int) -> dict:
    """Median wall time of AppTest reruns of the playground after one widget change."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(os.path.join(ROOT, "pages", "playground.py"), default_timeout=120)
    at.run()
    assert not at.exception, at.exception
    new_sim, cached = [], []
    policies = ["static", "continuous"]
    for i in range(repeat):
        # A new seed is a new configuration: simulate, build the figures, send them.
        t = time.perf_counter()
        at.number_input(key="w_seed").set_value(1000 + i).run()
        new_sim.append(time.perf_counter() - t)
        # Changing the strategy to one already run with this seed is served from the cache.
        at.selectbox(key="w_policy").set_value(policies[i % 2]).run()
        t = time.perf_counter()
        at.selectbox(key="w_policy").set_value(policies[(i + 1) % 2]).run()
        at.selectbox(key="w_policy").set_value(policies[i % 2]).run()
        cached.append((time.perf_counter() - t) / 2)
        assert not at.exception, at.exception
    strategy = []
    for pol in ("chunked", "prefill-first", "static"):
        at.number_input(key="w_seed").set_value(5000).run()
        t = time.perf_counter()
        at.selectbox(key="w_policy").set_value(pol).run()
        strategy.append(time.perf_counter() - t)
    return {"rerun_new_simulation_s": statistics.median(new_sim), "rerun_new_strategy_s": statistics.median(strategy),
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


def bench_browser(repeat: int) -> dict | None:
    from test_browser import CHROMIUM, CHROMIUM_ARGS, _free_port, _missing, start_server, wait_idle
    reason = _missing()
    if reason:
        return {"skipped": reason}
    from playwright.sync_api import sync_playwright
    port = _free_port()
    proc = start_server(port)
    url = f"http://127.0.0.1:{port}"
    times_new, times_cached = [], []
    try:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(url)  # warm the server: first script run imports plotly, numpy and the simulator
            wait_idle(page, 120_000)
            for i in range(repeat):
                for seed, bucket in ((2000 + i, times_new), (2000 + i, times_cached)):
                    page = browser.new_page(viewport={"width": 1400, "height": 1000})
                    page.add_init_script(MARKS_JS)
                    page.goto(f"{url}/playground?seed={seed}", wait_until="commit")
                    page.wait_for_selector(".js-plotly-plot .main-svg", timeout=120_000)
                    wait_idle(page, 120_000)
                    bucket.append(page.evaluate("window.__marks"))
                    page.close()
            browser.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    def med(bucket, key):
        return statistics.median(m[key] for m in bucket)
    return {"first_chart_new_config_s": med(times_new, "chart"), "first_chart_cached_s": med(times_cached, "chart"),
            "heading_s": med(times_cached, "heading"), "first_metric_s": med(times_cached, "metric"),
            "repeat": repeat}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--no-browser", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args(argv)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    res = {"cpu_count": os.cpu_count(), "load_1min": round(load, 2),
           "rerun": bench_rerun(args.repeat), "figure": bench_figure(),
           "browser": None if args.no_browser else bench_browser(args.repeat)}
    if args.json:
        print(json.dumps(res, indent=2))
        return 0
    r = res["rerun"]
    print(f"machine: {res['cpu_count']} CPUs, 1-min load {res['load_1min']}")
    print(f"playground rerun, new simulation (seed change):  {r['rerun_new_simulation_s']:.3f} s  (target <= "
          f"{TARGETS['rerun_s']} s)")
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
        print(f"first chart in chromium, new config:   {b['first_chart_new_config_s']:.2f} s  (target <= "
              f"{TARGETS['first_chart_s']} s)")
        print(f"first chart in chromium, cached config: {b['first_chart_cached_s']:.2f} s (heading after "
              f"{b['heading_s']:.2f} s, first metric after {b['first_metric_s']:.2f} s; from navigation start)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
