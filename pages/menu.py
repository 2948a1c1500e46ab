"""The app's own menu, drawn from the page catalog (a helper module, not a page).

Streamlit's built-in sidebar menu marks its links up as list items outside any list, which every page's
accessibility audit (axe-core) flagged as serious, and it lives in the sidebar, which a course page's
narrow iframe (embed mode, ``?embed=true``) should not depend on. So app.py hides it (``st.navigation(..., position="hidden")``, the documented way to build
one's own navigation) and draws this one: each section of quiz/catalog.py as a heading, its pages as
``st.page_link`` links. Those are plain ``<a href>`` links, reachable with Tab, and they change page
inside the same session (the quiz's progress and the presentation mode survive), keeping ``?embed=true``.
The current page is drawn as a link marked ``aria-current="page"``, so a screen reader says where the
learner is; it looks like Streamlit's own current-page entry (bold on a grey band).

Embedded, the app draws no sidebar at all and the same menu sits in a collapsed "Pages of Batch Lab"
expander at the top of the page, in two columns.
"""

from __future__ import annotations

import html
import os
import urllib.parse

import streamlit as st

from pages import common
from quiz import catalog

MENU_KEY = "batchlab_menu"  # the menu's container: class "st-key-batchlab_menu" in the page (tests find it)
IN_PAGE_KEY = f"{MENU_KEY}_in_page"  # the embedded copy's container

# Section headings: small, bold, dark grey (10:1 on white), like Streamlit's own section headers.
_HEADING = ('<h2 class="bl-menu-section" style="font-size:0.8rem;font-weight:600;letter-spacing:0.02em;'
            'color:#444;margin:0.9rem 0 0.1rem 0.5rem;padding:0">{}</h2>')
# The current page: the layout of an st.page_link (icon, 8 px gap, 32 px line, rounded band), bold on grey.
_CURRENT = ('<a class="bl-menu-current" aria-current="page" href="{href}" style="display:flex;align-items:center;'
            'gap:0.5rem;padding:0 0.5rem;margin:0.125rem 0;border-radius:0.5rem;line-height:1.75rem;'
            'font-size:0.875rem;font-weight:600;color:#262730;text-decoration:none;background:#E6E9EF">'
            '<span aria-hidden="true" translate="no" style="font-family:\'Material Symbols Rounded\';'
            'font-size:1rem;line-height:1rem;font-weight:400">{icon}</span><span>{title}</span></a>')


def embedded() -> bool:
    """Whether the page is shown in Streamlit's embed mode (the sidebar and header hidden)."""
    if str(st.query_params.get("embed", "")).lower() == "true":
        return True
    try:
        return bool(st.context.is_embedded)
    except (AttributeError, KeyError, TypeError):  # AppTest has no browser context
        return False


def _shown(pages: list[catalog.Page]) -> list[catalog.Page]:
    return [p for p in pages if os.path.exists(os.path.join(common.ROOT, p.file))]


def _icon_name(icon: str) -> str:
    """':material/home:' -> 'home' (the ligature the Material Symbols font draws as the icon)."""
    return icon.removeprefix(":material/").rstrip(":")


def _current_href(p: catalog.Page) -> str:
    """The current page's own URL with the query it shows now (clicking it reloads the same view)."""
    query = urllib.parse.urlencode(st.query_params.to_dict())
    return f"./{p.url_path}" + (f"?{query}" if query else "")


def _section(section: str, pages: list[catalog.Page], current: str | None) -> None:
    st.html(_HEADING.format(html.escape(section)))
    for p in pages:
        if p.url_path == current:
            st.html(_CURRENT.format(href=html.escape(_current_href(p)), icon=html.escape(_icon_name(p.icon)),
                                    title=html.escape(p.title)))
        else:
            st.page_link(p.file, label=p.title, icon=p.icon)


def draw(current: str | None = None, key: str = MENU_KEY, columns: int = 1) -> None:
    """Every catalog page whose script exists, by section, as headings and links. With ``columns`` = 2 the
    first section (Learn, the longest) fills the left column and the others the right one."""
    sections = [(s, ps) for s, ps in ((s, _shown(ps)) for s, ps in catalog.by_section().items()) if ps]
    with st.container(key=key):
        if columns == 1 or len(sections) < 2:
            for s, ps in sections:
                _section(s, ps, current)
            return
        left, right = st.columns(2, gap="medium")
        with left:
            _section(*sections[0], current)
        with right:
            for s, ps in sections[1:]:
                _section(s, ps, current)


def draw_in_page(current: str | None = None) -> None:
    """The menu inside the page, for embed mode, where there is no sidebar."""
    with st.expander("Pages of Batch Lab", icon=":material/menu:"):
        draw(current, key=IN_PAGE_KEY, columns=2)
