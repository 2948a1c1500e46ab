"""quiz/catalog.py against what it describes: the page scripts in pages/, the concepts C1..C12, the URL parameters
each page reads (found in the page's source) and the quiz's links. Fast: nothing is run, sources are parsed."""

from __future__ import annotations

import ast
import os
import sys

import pytest

from quiz import catalog
from quiz import cached_bank
from quiz.links import check_link
from quiz.model import CONCEPTS

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HELPERS = {"pages/common.py", "pages/live_class.py", "pages/menu.py", "pages/runtime.py"}  # modules of pages/ that are not pages
URL_WIDGETS = {"url_select": 2, "url_radio": 2, "url_slider": 3, "url_number": 3, "url_text": 1, "url_toggle": 1}
KINDS = {"url_select": "choice", "url_radio": "choice", "url_text": "text", "url_toggle": "flag", "follow_bar": "choice"}
FOLLOW = ("follow_bar", "follow_select")  # common's follow-one-request picker: ?follow=<a request id of the run>


def _page_files() -> set[str]:
    return {f"pages/{f}" for f in os.listdir(os.path.join(ROOT, "pages")) if f.endswith(".py")} - HELPERS


def test_every_page_file_is_in_the_catalog_and_back():
    files = [p.file for p in catalog.PAGES]
    assert len(files) == len(set(files))
    assert set(files) == _page_files()


def test_entries_are_well_formed():
    urls = [p.url_path for p in catalog.PAGES]
    assert len(urls) == len(set(urls)) and urls.count("") == 1
    for p in catalog.PAGES:
        assert p.section in catalog.SECTIONS, p
        assert p.icon.startswith(":material/") and p.icon.endswith(":"), p
        assert set(p.concepts) <= set(CONCEPTS), p
        assert p.title and p.blurb
        assert "/" not in p.url_path
    assert catalog.CONCEPTS == CONCEPTS  # the catalog's ids are the quiz's (DESIGN.md section 1)


def test_every_concept_has_a_page_that_teaches_it():
    """A page on one or a few concepts, not only the playground and the quiz (which touch all twelve)."""
    lessons = [p for p in catalog.PAGES if p.concepts and p.concepts != CONCEPTS]
    for c in CONCEPTS:
        assert any(c in p.concepts for p in lessons), f"no page teaches {c}"


def test_no_page_file_shadows_a_package_of_the_repository():
    """Streamlit puts pages/ first on sys.path when a page runs as the main script (AppTest): a page named
    like a top-level package (pages/quiz.py, pages/sim.py) would be imported in its place."""
    top = {n.removesuffix(".py") for n in os.listdir(ROOT)
           if n.endswith(".py") or os.path.isdir(os.path.join(ROOT, n, "")) and not n.startswith(".")}
    for p in catalog.PAGES:
        stem = os.path.basename(p.file).removesuffix(".py")
        assert stem not in top | set(sys.stdlib_module_names), f"{p.file} shadows the module {stem!r}"


def _url_widgets(path: str):
    """(helper name, key, lo, hi) for every ``common.url_*`` call in a page; lo/hi None unless literal."""
    tree = ast.parse(open(os.path.join(ROOT, path), encoding="utf-8").read())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in FOLLOW:
            yield "follow_bar", "follow", None, None
            continue
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute)
                and node.func.attr in URL_WIDGETS):
            continue
        i = URL_WIDGETS[node.func.attr]
        key = node.args[i] if len(node.args) > i else next(k.value for k in node.keywords if k.arg == "key")
        assert isinstance(key, ast.Constant), f"{path}: a URL key must be a literal string"
        lo = hi = None
        if node.func.attr in ("url_slider", "url_number"):
            lo, hi = (a.value if isinstance(a, ast.Constant) else None for a in node.args[1:3])
        yield node.func.attr, key.value, lo, hi


@pytest.mark.parametrize("entry", catalog.PAGES, ids=lambda p: p.url_path or "home")
def test_catalog_params_are_the_ones_the_page_reads(entry):
    """Every URL-synced widget of the page is in the catalog with its kind and range, and nothing more."""
    found = {}
    for helper, key, lo, hi in _url_widgets(entry.file):
        found[key] = (helper, lo, hi)
    src = open(os.path.join(ROOT, entry.file), encoding="utf-8").read()
    raw = {k for k in entry.params if f'query_params["{k}"]' in src or f'query_params.get("{k}"' in src}
    assert set(entry.params) == set(found) | raw, f"{entry.file}: catalog {sorted(entry.params)}, page {sorted(found)}"
    for key, (helper, lo, hi) in found.items():
        spec = entry.params[key]
        if helper in KINDS:
            assert spec.kind == KINDS[helper], (entry.file, key, spec)
        else:
            assert spec.kind in ("int", "float"), (entry.file, key, spec)
            assert (spec.lo, spec.hi) == (lo, hi), f"{entry.file}: {key} range {lo}..{hi}, catalog {spec}"


@pytest.mark.parametrize("entry", [p for p in catalog.PAGES if p.scenario], ids=lambda p: p.url_path)
def test_a_fixed_scenario_is_the_one_the_page_runs(entry):
    src = open(os.path.join(ROOT, entry.file), encoding="utf-8").read()
    assert f'"{entry.scenario}"' in src and "scenario" not in entry.params


def test_quiz_links_point_at_catalog_pages_with_valid_values():
    links = [q.link for q in cached_bank() if q.link is not None]
    assert links
    for link in links:
        assert link.page in catalog.BY_URL
        assert check_link(link.page, link.as_dict()) == [], link


@pytest.mark.parametrize("page, params, field", [
    ("nowhere", {"scenario": "chat"}, "link.page"),
    ("memory", {"scenario": "chat"}, "link.params.scenario"),  # memory always shows fragmentation
    ("memory", {"scenario": "fragmentation", "policy": "static"}, "link.params.policy"),  # not read there
    ("playground", {"scenario": "chat", "requests": "501"}, "link.params.requests"),  # slider stops at 500
    ("playground", {"scenario": "chat", "rate": "0.05"}, "link.params.rate"),
    ("disaggregation", {"scenario": "chat", "decode": "5"}, "link.params.decode"),
])
def test_a_link_outside_the_catalog_is_refused(page, params, field):
    assert field in {f for f, _ in check_link(page, params)}


def test_learning_path_and_navigation_cover_the_catalog():
    nav = catalog.by_section()
    assert list(nav) == [s for s in catalog.SECTIONS if nav.get(s)]
    assert sorted(p.url_path for ps in nav.values() for p in ps) == sorted(catalog.BY_URL)
    path = catalog.learning_path()
    assert path[0].url_path == "iteration-cost" and path[-1].url_path == "quiz"  # issue 12: cost of one pass first
    # Off the path: Home, and the class pages (a class session is joined with a code, not studied).
    assert catalog.page("") not in path and len(path) == len(catalog.PAGES) - 1 - len(nav.get("Class", []))


def test_the_router_serves_catalog_pages_by_url_path():
    """app.py's st.navigation is built from the catalog: the quiz page (file pages/_quiz.py) answers at
    /quiz, and Home links every page of the learning path."""
    from streamlit.testing.v1 import AppTest
    at = AppTest.from_file(os.path.join(ROOT, "app.py"), default_timeout=60)
    at.run()
    assert not at.exception
    links = [el.proto for el in at.get("page_link")]
    for p in catalog.learning_path():
        assert any(p.title in str(el) for el in links), f"Home does not link {p.title!r}"
    at.switch_page(catalog.page("quiz").file).run()
    assert not at.exception
    assert at.title[0].value == "Quiz"
