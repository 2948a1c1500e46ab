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
