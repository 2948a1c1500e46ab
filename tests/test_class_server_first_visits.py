"""A class arriving at once on a fresh server: many first visits in the same second, each a real websocket
session of the app (scripts/load_class.py's protobuf client), none may see an exception.

Two races lived here, both only on a fresh process while its first sessions import the app's modules
together: a page's import of pages.common raised (the hand-over to app.py's router called st.rerun() as an
import side effect), and every other session waiting on that import got "cannot import name 'common' from
'pages'"; and plotly met a half-imported pandas that another session's st.dataframe was still importing.
So this starts the README's server command with nothing warmed up and opens every kind of first visit a
class makes (join, the presenter's page, the quiz, Home, the playground's figures, the step-by-step
page's dataframe) at the same moment. Each must draw no exception and be drawn inside app.py's frame (its
sidebar toggle), whichever session got there first.
"""

from __future__ import annotations

import asyncio
import os
import sys

from tests.browser_kit import free_port, start_server, stop_server

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))

PAGES = [("join", "code=ABCDEF"), ("step-by-step", ""), ("quiz", ""), ("", ""), ("playground", ""),
         ("presenter", "")]
SESSIONS = 36
FRAME = "Presentation mode (larger type)"  # app.py's sidebar toggle: the run went through the router


async def _first_visit(base: str, page: str, query: str) -> str | None:
    import load_class
    s = load_class.AppSession(base, timeout_s=120)
    try:
        await s.open()
        r = await s.rerun(page=page, query=query)  # follows st.rerun() to the routed run, raises on an exception
        labels = {getattr(el, el.WhichOneof("type")).label for _, el in r.elements
                  if el.WhichOneof("type") == "checkbox"}
        return None if FRAME in labels else f"/{page}: drawn without app.py's frame"
    except Exception as e:  # noqa: BLE001  (every failure of a session is the test's finding)
        return f"/{page}: {type(e).__name__}: {e}"
    finally:
        await s.close()


async def _class_arrives(base: str) -> list[str | None]:
    return await asyncio.gather(*[_first_visit(base, *PAGES[i % len(PAGES)]) for i in range(SESSIONS)])


def test_many_first_visits_at_once_on_a_fresh_server_raise_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path))  # the server's SQLite file: a fresh one, not the user's
    monkeypatch.delenv("BATCH_LAB_DATABASE_URL", raising=False)
    monkeypatch.delenv("PYTHONPATH", raising=False)  # the README's command as it is, nothing added
    port = free_port()
    proc = start_server(port)  # a new process: nothing imported yet, Streamlit's legacy pages/ mode still on
    try:
        failures = [f for f in asyncio.run(_class_arrives(f"http://127.0.0.1:{port}")) if f]
    finally:
        stop_server(proc)
    assert not failures, f"{len(failures)} of {SESSIONS} first visits failed: {failures[:5]}"
