"""Hostile page URLs (issue 13) through Streamlit AppTest: the expressions that froze a page for a minute
come back at once with one message naming ``expr``, and junk query parameters never raise."""

import os
import time

import pytest
from streamlit.testing.v1 import AppTest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _open(path, params):
    at = AppTest.from_file(os.path.join(ROOT, path), default_timeout=60)
    for k, v in params.items():
        at.query_params[k] = v
    # CPU seconds of this process (the page runs in a thread of it): on a shared, loaded machine wall time
    # also counts everyone else's work.
    cpu0 = time.process_time()
    at.run()
    return at, time.process_time() - cpu0


@pytest.mark.parametrize("path, params", [
    ("pages/priorities.py", {"expr": "9**3999999-9**3999999+priority"}),
    ("pages/playground.py", {"order": "custom", "expr": "(prompt_tokens**999999>1)+waiting_s"}),
    ("pages/playground.py", {"order": "custom", "expr": "().__class__"}),
    ("pages/priorities.py", {"expr": "__import__('os').system('true')"}),
])
def test_issue_urls_return_at_once_naming_expr(path, params):
    at, cpu_s = _open(path, params)
    assert not at.exception, [e.value for e in at.exception]
    errors = [e.value for e in at.error]
    assert errors and errors[0].startswith("**expr**"), errors
    assert "`" in errors[0]  # the construct quoted as code, so Markdown shows it as typed
    assert cpu_s < 2.0, cpu_s


@pytest.mark.parametrize("path, params, key", [
    ("pages/playground.py", {"rate": "abc"}, "rate"),
    ("pages/playground.py", {"requests": "1e400", "policy": "fastest"}, "requests"),
    ("pages/playground.py", {"max_batch": "nan"}, "max_batch"),
    ("pages/playground.py", {"policy": "<script>" * 5000}, "policy"),
    ("pages/step-by-step.py", {"it": "abc"}, "it"),
    ("pages/prefill-vs-decode.py", {"a": "**bold**", "rate": "-1"}, "a"),
])
def test_junk_link_parameters_are_named_and_ignored(path, params, key):
    at, cpu_s = _open(path, params)
    assert not at.exception, [e.value for e in at.exception]
    notes = [c.value for c in at.caption if "Link parameter" in c.value]
    assert any(f"**{key}**" in n for n in notes), notes
    assert all(len(n) < 400 for n in notes)  # the value is shown cut short
    assert cpu_s < 5.0, cpu_s


def test_a_link_past_the_last_iteration_shows_the_last():
    at, _ = _open("pages/step-by-step.py", {"it": "99"})
    assert not at.exception
    assert not [c.value for c in at.caption if "Link parameter" in c.value]
