"""Screenshots of every page of Batch Lab, as a learner (1400x1000) and in presentation mode on a lecture
projector (1280x720), into the git-ignored screenshots/ folder; and a list of text that overflows its box.

Usage: .venv/bin/python scripts/screenshots.py [--url http://127.0.0.1:8501] [--out screenshots] [--full]
Without --url it starts the app itself (the README's command) on a free port and stops it afterwards.
Each page is shot after its script run has settled; --full adds a full-page shot. Text elements whose
content is wider than their box (scrollWidth > clientWidth, the cut-off "Res..." labels) are printed
with the page and size, and the exit status is 1 when there are any.
"""

from __future__ import annotations

import argparse
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tests"))

from browser_kit import (CHROMIUM, CHROMIUM_ARGS, OVERFLOWING_TEXT, free_port, menu_hrefs,  # noqa: E402
                         open_page, start_server, stop_server)

SIZES = {"learner": (1400, 1000, ""), "present": (1280, 720, "present=1")}


def page_paths(page, base: str) -> list[str]:
    """The URL path of every page in the navigation ("" for Home)."""
    open_page(page, base)
    hrefs = menu_hrefs(page)
    return [h.split("?")[0][len(base):].strip("/") for h in hrefs]


def shoot(base: str, out: str, full: bool) -> list[str]:
    from playwright.sync_api import sync_playwright
    os.makedirs(out, exist_ok=True)
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        first = browser.new_page(viewport={"width": 1400, "height": 1000})
        paths = page_paths(first, base)
        first.close()
        for size, (w, h, query) in SIZES.items():
            page = browser.new_page(viewport={"width": w, "height": h})
            for path in paths:
                name = path or "home"
                try:
                    open_page(page, f"{base}/{path}" + (f"?{query}" if query else ""), 180_000)
                except Exception as e:  # a page that does not settle on a busy machine: note it, go on
                    problems.append(f"{name} at {w}x{h}: did not load ({type(e).__name__})")
                    continue
                try:  # every chart drawn (plotly loads after the page's text)
                    page.wait_for_function("""() => Array.from(document.querySelectorAll(
                        '[data-testid="stPlotlyChart"]')).every(c => c.querySelector('.main-svg'))""",
                                           timeout=20_000)
                except Exception:  # a chart that never draws shows as a grey box in the shot
                    pass
                page.wait_for_timeout(500)
                try:  # a busy machine can take long to paint a big chart: note it and go on
                    page.screenshot(path=os.path.join(out, f"{name}-{size}.png"), timeout=120_000)
                    if full:
                        page.screenshot(path=os.path.join(out, f"{name}-{size}-full.png"), full_page=True,
                                        timeout=120_000)
                except Exception as e:  # playwright's TimeoutError
                    problems.append(f"{name} at {w}x{h}: no screenshot ({type(e).__name__})")
                for text in page.evaluate(OVERFLOWING_TEXT):
                    problems.append(f"{name} at {w}x{h}: {text}")
            page.close()
        browser.close()
    return problems


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--url", help="a running Batch Lab (default: start one)")
    ap.add_argument("--out", default=os.path.join(ROOT, "screenshots"))
    ap.add_argument("--full", action="store_true", help="also a full-page screenshot of each page")
    args = ap.parse_args()
    proc = None
    base = args.url
    if base is None:
        proc = start_server(free_port())
        base = f"http://127.0.0.1:{proc.args[proc.args.index('--server.port') + 1]}"
    try:
        problems = shoot(base.rstrip("/"), args.out, args.full)
    finally:
        if proc is not None:
            stop_server(proc)
    for line in problems:
        print("overflow:", line)
    print(f"screenshots in {args.out}; {len(problems)} overflowing text element(s)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
