"""Real browser: 'What one iteration costs' renders with its prediction; answering shows the cost model's
answer and the pass-time chart (a screenshot goes to artifacts/screenshots/)."""

from __future__ import annotations

import os

from test_browser import SHOTS, wait_idle  # the browser and server fixtures are in conftest.py


def test_iteration_cost_page_predicts_then_reveals(server, browser):
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    try:
        page.goto(f"{server}/iteration-cost", timeout=60_000)
        wait_idle(page, 60_000)
        page.get_by_text("Double the batch").first.wait_for(timeout=30_000)
        assert page.locator('[data-testid="stException"]').count() == 0
        assert page.locator(".js-plotly-plot").count() == 0  # the curves wait for a prediction
        page.get_by_text("Somewhat longer: 10% to 50% longer").first.click()
        page.locator(".js-plotly-plot").first.wait_for(timeout=60_000)
        wait_idle(page, 60_000)
        body = page.inner_text("body")
        assert "The cost model prices the pass of 16 decodes" in body
        assert "ridge point" in body
        assert page.locator('[data-testid="stException"]').count() == 0
        os.makedirs(SHOTS, exist_ok=True)
        page.screenshot(path=os.path.join(SHOTS, "iteration-cost.png"), full_page=True)
    finally:
        page.close()
