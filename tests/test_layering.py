"""The architecture's import rules (DESIGN.md section 2), checked on the source and at run time."""

import ast
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TORCH_HALF = os.path.join("sim", "real")  # the torch half of the simulator: the only place torch is imported


def imports(path):
    tree = ast.parse(open(path, encoding="utf-8").read())
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for a in node.names:
                yield a.name.split(".")[0]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            yield node.module.split(".")[0]


def py_files(folder):
    base = os.path.join(ROOT, folder)
    if not os.path.isdir(base):
        return []
    return [os.path.join(dp, f) for dp, _, fs in os.walk(base) for f in fs if f.endswith(".py")]


@pytest.mark.parametrize("folder, banned", [("sim", {"streamlit", "plotly"}), ("quiz", {"streamlit", "plotly"}),
                                            ("viz", {"streamlit"})])
def test_no_ui_imports_in_core(folder, banned):
    for path in py_files(folder):
        bad = set(imports(path)) & banned
        assert not bad, f"{os.path.relpath(path, ROOT)} imports {bad}"


def test_the_page_catalog_is_plain_data():
    """quiz/catalog.py is read by app.py, pages/ and quiz/, so it may import nothing but the standard library
    (quiz/ must not reach the UI through it, and it must not reach back into the layers that read it)."""
    mods = set(imports(os.path.join(ROOT, "quiz", "catalog.py")))
    assert mods <= set(sys.stdlib_module_names) | {"__future__"}, mods


def test_quiz_imports_no_page_module():
    for path in py_files("quiz"):
        assert "pages" not in set(imports(path)), f"{os.path.relpath(path, ROOT)} imports pages/"


def test_no_import_circle_in_quiz():
    """Module-level and function-level imports between quiz modules form no cycle."""
    graph = {}
    for path in py_files("quiz"):
        name = "quiz." + os.path.relpath(path, os.path.join(ROOT, "quiz"))[:-3].replace(os.sep, ".")
        tree = ast.parse(open(path, encoding="utf-8").read())
        graph[name] = {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module
                       and n.module.startswith("quiz.")}
    seen, stack = set(), []

    def visit(m):
        assert m not in stack, "import circle: " + " -> ".join(stack[stack.index(m):] + [m])
        if m in seen:
            return
        stack.append(m)
        for d in graph.get(m, ()):
            visit(d)
        stack.pop()
        seen.add(m)

    for m in graph:
        visit(m)


def test_torch_only_in_the_torch_half():
    for folder in ("sim", "quiz", "viz", "pages"):
        for path in py_files(folder):
            if os.path.relpath(path, ROOT).startswith(TORCH_HALF + os.sep):
                continue
            assert "torch" not in set(imports(path)), f"{os.path.relpath(path, ROOT)} imports torch"


def test_every_module_opens_with_a_docstring():
    for folder in ("sim", "quiz", "viz", "pages"):
        for path in py_files(folder):
            tree = ast.parse(open(path, encoding="utf-8").read())
            assert ast.get_docstring(tree), f"{os.path.relpath(path, ROOT)} has no module docstring"


def test_running_the_simulator_loads_no_ui_or_torch():
    code = ("import sys; from sim import scenario, simulate; simulate(scenario('book-example')); "
            "print(sorted(m for m in ('streamlit', 'plotly', 'torch') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, check=True)
    assert out.stdout.strip() == "[]"


def test_every_page_hands_a_first_visit_to_the_router_before_drawing():
    """Every catalog page calls common.reroute_first_visit() as its first statement after its imports, so
    every run of it checks it (Streamlit's legacy pages/ mode runs the page script alone on a fresh server;
    a page that skipped it would show without the app's frame and menu when it is the first URL a server
    gets: tests/test_deep_links.py shows it in a browser). And pages/common.py hands nothing over on import:
    an exception out of a module's import breaks every other session importing it at that moment
    (tests/test_class_server_first_visits.py)."""
    from quiz import catalog
    for page in catalog.PAGES:
        body = [n for n in ast.parse(open(os.path.join(ROOT, page.file), encoding="utf-8").read()).body
                if not (isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant))]
        first = next(n for n in body if not isinstance(n, (ast.Import, ast.ImportFrom)))
        call = first.value if isinstance(first, ast.Expr) else None
        assert isinstance(call, ast.Call) and ast.unparse(call.func) == "common.reroute_first_visit", \
            f"{page.file}: the first statement after the imports is not common.reroute_first_visit()"
    common = ast.parse(open(os.path.join(ROOT, "pages", "common.py"), encoding="utf-8").read())
    assert not [n for n in common.body if isinstance(n, ast.Expr) and isinstance(n.value, ast.Call)], \
        "pages/common.py calls something when imported"
