"""The compiled kernel's native code (sim.native): a fresh process runs it from the cached object file without
importing numba, a damaged file is rebuilt, a new file in the checkout's own cache deletes the stale ones
beside it, an exception inside native code hands the run to the Python engine instead of crashing, and the
file's key follows the kernel's sources."""

import ctypes
import os
import subprocess
import sys

import pytest

from sim import fastpath, native, scenario
from sim.engine import simulate

pytest.importorskip("numba")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _same(a, b) -> bool:
    return a.metrics == b.metrics and a.by_class == b.by_class and a.requests == b.requests


def test_a_fresh_process_runs_the_kernel_without_importing_numba():
    assert native.kernel() is not None  # builds the cache file here if it is missing
    code = ("import sys; from sim import scenario; from sim.engine import simulate; "
            "r = simulate(scenario('chat', requests=400, rate_per_s=6.0, record_iterations=False)); "
            "print(r.simulated_by, 'numba' in sys.modules, r.metrics['completed'])")
    env = dict(os.environ, **{fastpath.ENGINE_ENV: "compiled"})
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT,
                         check=True)
    assert out.stdout.split() == ["compiled", "False", "400"]


def test_a_damaged_cache_file_is_rebuilt_and_gives_the_same_results(monkeypatch, tmp_path):
    cfg = scenario("chat", requests=300, rate_per_s=8.0, record_iterations=False)
    monkeypatch.setenv(fastpath.ENGINE_ENV, "python")
    ref = simulate(cfg)
    bad = tmp_path / "kernel.o"
    bad.write_bytes(b"not an object file")
    monkeypatch.setattr(native, "_cache_file", lambda key: bad)
    monkeypatch.setattr(native, "_loaded", {})
    monkeypatch.setenv(fastpath.ENGINE_ENV, "compiled")
    got = simulate(cfg)
    assert got.simulated_by == "compiled" and _same(ref, got)
    name, obj = native._read(bad)  # rewritten whole, with its entry point's name
    assert name.startswith("cfunc.") and obj[:4] == b"\x7fELF"
    monkeypatch.setattr(native, "_loaded", {})  # and the rebuilt file links
    assert simulate(cfg).simulated_by == "compiled"


def test_an_exception_in_native_code_returns_instead_of_crashing():
    """numba's error path calls the helpers _STUBS defines: the call returns 0 and the process lives."""
    import llvmlite.binding as llvm
    from numba import cfunc, types

    @cfunc(types.int64(types.int64), nopython=True)
    def divide(a):
        return 7 // a

    address, engine = native.link(llvm, divide.native_name, native.object_code(divide))
    fn = ctypes.CFUNCTYPE(ctypes.c_int64, ctypes.c_int64)(address)
    assert fn(1) == 7
    assert fn(0) == 0  # ZeroDivisionError inside: reported as unraisable, not raised
    assert fn(7) == 1


def test_a_kernel_that_raised_hands_the_run_to_the_reference(monkeypatch):
    cfg = scenario("chat", requests=200, rate_per_s=6.0, record_iterations=False)
    monkeypatch.setenv(fastpath.ENGINE_ENV, "python")
    ref = simulate(cfg)
    monkeypatch.setattr(native, "_loaded", {"kernel": lambda *arrays: False})
    monkeypatch.setenv(fastpath.ENGINE_ENV, "compiled")
    got = simulate(cfg)
    assert got.simulated_by == "python" and _same(ref, got)


def test_wrong_arrays_are_refused_before_native_code_reads_them():
    import numpy as np
    k = native.kernel()
    arrays = [np.zeros(4, np.int64 if kind == "i" else np.float64) if ndim == 1
              else np.zeros((2, 4), np.int64 if kind == "i" else np.float64) for _, kind, ndim in native.ARRAYS]
    arrays[1] = np.zeros(4, np.int64)  # T must hold floats
    with pytest.raises(TypeError, match="T must be"):
        k(*arrays, 1)
    arrays[1] = np.zeros(8)[::2]  # floats, but not contiguous
    with pytest.raises(TypeError, match="T must be"):
        k(*arrays, 1)


def test_writing_the_checkouts_object_file_deletes_its_stale_ones_only_there(monkeypatch, tmp_path):
    own = tmp_path / "sim" / "__pycache__"
    shared = tmp_path / "shared-cache"
    for d in (own, shared):
        d.mkdir(parents=True)
        (d / "kernel-0ld.o").write_bytes(b"cfunc.old\0obj")
        (d / "other.txt").write_text("not ours")
    monkeypatch.setattr(native, "_HERE", tmp_path / "sim")
    native._write(own / "kernel-new.o", "cfunc.new", b"obj")
    native._write(shared / "kernel-new.o", "cfunc.new", b"obj")
    assert sorted(p.name for p in own.iterdir()) == ["kernel-new.o", "other.txt"]
    assert sorted(p.name for p in shared.iterdir()) == ["kernel-0ld.o", "kernel-new.o", "other.txt"]
    assert native._read(own / "kernel-new.o") == ("cfunc.new", b"obj")


def test_the_cache_key_follows_the_kernel_sources(monkeypatch, tmp_path):
    import llvmlite.binding as llvm
    for name in native._SOURCES:
        (tmp_path / name).write_bytes((native._HERE / name).read_bytes())
    monkeypatch.setattr(native, "_HERE", tmp_path)
    before = native.cache_key(llvm)
    (tmp_path / "compiled.py").write_text((tmp_path / "compiled.py").read_text() + "\n# changed\n")
    assert native.cache_key(llvm) != before
    monkeypatch.setitem(sys.modules, "numba", None)
    assert native.cache_key(llvm) is None  # no numba: no key, so no stale object is ever taken
