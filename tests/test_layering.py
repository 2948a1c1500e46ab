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


def test_every_page_imports_the_shared_page_module():
    """pages/common.py makes app.py's st.navigation the only router when a fresh server's first visitor
    opens a page URL; a page that does not import it would run without the app's frame and menu."""
    for path in py_files("pages"):
        if os.path.basename(path) in ("common.py", "__init__.py"):
            continue
        mods = set()
        for node in ast.walk(ast.parse(open(path, encoding="utf-8").read())):
            if isinstance(node, ast.ImportFrom) and node.module == "pages":
                mods |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module == "pages.common":
                mods.add("common")
        assert "common" in mods, f"{os.path.relpath(path, ROOT)} does not import pages.common"
