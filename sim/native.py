"""The compiled kernel as native code that a process loads without importing numba.

Importing numba and loading its cached kernel cost ~0.4 s in every process, while the kernel itself runs
10,000 chat requests in a few hundredths of a second: for a ``python -m sim run`` the import was most of
the time. So numba compiles the kernel (``sim.compiled_disagg.run_kernel``: ``sim.compiled.run_events``, or
a disaggregated run's event loop) once behind a C entry point (a ``cfunc`` over raw pointers, ``_entry``)
and its machine code is kept in an object file; a later process links that file
with llvmlite's JIT (~0.07 s including llvmlite's import) and calls it through ctypes. It is the machine
code numba made, so the results are the same bits (``tests/test_compiled.py`` runs this path).

The file is keyed by the kernel's sources, numba's and llvmlite's installation, the Python version and
the host CPU (numba compiles for the host's features). A missing, stale or unreadable file is rebuilt by
numba (a first run on a machine: 15-60 s); without numba nobody builds and the Python engine
runs. The object refers to a few of numba's runtime helpers that only its error path calls; ``_STUBS``
defines them here, so an exception inside the kernel (none is known) makes the call return 0 and the
Python engine run the config instead of crashing the process.
"""

from __future__ import annotations

import ctypes
import hashlib
import importlib.util
import os
import sys
import threading
from pathlib import Path

import numpy as np

# The kernel's arrays in its argument order (sim.fastpath._run): dtype and number of dimensions. The last
# three are the event heap and queues of a disaggregated run (sim.compiled_disagg; placeholders otherwise).
ARRAYS = (("S", "i", 1), ("T", "f", 1), ("SI", "i", 2), ("SF", "f", 2), ("C", "i", 1), ("P", "f", 1),
          ("mem", "i", 1), ("oth", "i", 1), ("pf", "i", 2), ("tmp", "i", 1), ("staged", "i", 1),
          ("crossings", "i", 1), ("goals", "f", 1), ("pgap", "f", 1), ("pcum", "f", 1), ("pover", "i", 2),
          ("built", "i", 1), ("gcls", "i", 1), ("gval", "f", 1), ("gcnt", "i", 1), ("cls_count", "i", 1),
          ("cls_order", "i", 1), ("evt", "f", 1), ("evi", "i", 2), ("qs", "i", 2))
_DTYPES = {"i": np.dtype(np.int64), "f": np.dtype(np.float64)}
_HERE = Path(__file__).resolve().parent
_SOURCES = ("compiled.py", "compiled_cohort.py", "compiled_disagg.py", "compiled_events.py", "compiled_trace.py",
            "kernel_layout.py", "native.py")
OK = 1  # what _entry returns; numba's cfunc wrapper returns 0 when the kernel raised

# numba's runtime helpers that the object's error path calls (they live, unexported, in numba's C
# extensions): enough of them to set a Python error and return, with the GIL taken as numba takes it.
_STUBS = r"""
@PyExc_RuntimeError = external global ptr
@msg = private constant [42 x i8] c"the compiled Batch Lab kernel raised here\00"
declare i32 @PyGILState_Ensure()
declare void @PyGILState_Release(i32)
declare void @PyErr_SetString(ptr, ptr)
declare void @free(ptr)
define void @numba_gil_ensure(ptr %s) {
  %g = call i32 @PyGILState_Ensure()
  store i32 %g, ptr %s
  ret void
}
define void @numba_gil_release(ptr %s) {
  %g = load i32, ptr %s
  call void @PyGILState_Release(i32 %g)
  ret void
}
define i32 @numba_do_raise(ptr %e) {
  %t = load ptr, ptr @PyExc_RuntimeError
  call void @PyErr_SetString(ptr %t, ptr @msg)
  ret i32 0
}
define ptr @numba_unpickle(ptr %a, i32 %n, ptr %h) {
  ret ptr null
}
define ptr @numba_runtime_build_excinfo_struct(ptr %a, ptr %b) {
  ret ptr null
}
define void @NRT_Free(ptr %p) {
  call void @free(ptr %p)
  ret void
}
define void @NRT_MemInfo_call_dtor(ptr %p) {
  ret void
}
"""

_loaded: dict = {}  # "kernel": the Kernel, or None once it could not be had in this process
_lock = threading.Lock()  # a page's sessions are threads: one of them builds or links, the others wait


class Kernel:
    """The kernel on native code: call it with the arrays of ``ARRAYS`` and ``n_cls``; True when the
    kernel returned, False when it raised (the caller hands the run to the Python engine)."""

    def __init__(self, address: int, keep=None):
        argtypes = []
        for _, _, ndim in ARRAYS:
            argtypes += [ctypes.c_void_p] + [ctypes.c_int64] * ndim
        argtypes.append(ctypes.c_int64)
        # CFUNCTYPE releases the GIL for the call: a page's other sessions keep running meanwhile.
        self._fn = ctypes.CFUNCTYPE(ctypes.c_int64, *argtypes)(address)
        self._keep = keep  # what owns the code's memory (an llvmlite engine or numba's cfunc)

    def __call__(self, *args) -> bool:
        *arrays, n_cls = args
        if len(arrays) != len(ARRAYS):
            raise TypeError(f"run_events takes {len(ARRAYS)} arrays, got {len(arrays)}")
        flat = []
        for (name, kind, ndim), a in zip(ARRAYS, arrays):
            # the kernel indexes raw memory: a wrong layout would be read as garbage, not refused
            if a.dtype != _DTYPES[kind] or a.ndim != ndim or not a.flags.c_contiguous:
                raise TypeError(f"run_events: {name} must be a C-contiguous {ndim}-d {_DTYPES[kind]} array")
            flat.append(a.ctypes.data)
            flat.extend(a.shape)
        return self._fn(*flat, int(n_cls)) == OK


def ready() -> bool:
    """Is the kernel linked in this process already (then a run on it costs no start-up)?"""
    return _loaded.get("kernel") is not None


def kernel(build: bool = True) -> Kernel | None:
    """The native kernel for this process (loaded once), or None: numba or llvmlite missing or broken.
    ``build=False``: link it only from a cached object file (no numba compile; None and nothing remembered
    when there is none, so a later call may still build it)."""
    if "kernel" not in _loaded:
        with _lock:
            if "kernel" not in _loaded:
                try:
                    got = _load(build)
                except Exception:  # any failure to build or link: the reference path runs
                    got = None
                if got is not None or build:
                    _loaded["kernel"] = got
    return _loaded.get("kernel")


def _load(build: bool = True) -> Kernel | None:
    import llvmlite.binding as llvm
    key = cache_key(llvm)
    if key is None:
        return None
    path = _cache_file(key)
    if path is not None and path.exists():
        try:
            address, engine = link(llvm, *_read(path))
            return Kernel(address, keep=engine)
        except Exception:  # unreadable or truncated: rebuilt below
            pass
    if not build:
        return None
    name, obj, cf = _build()
    if path is not None:
        _write(path, name, obj)
    return Kernel(cf.address, keep=cf)


def cache_key(llvm) -> str | None:
    """What the object file depends on, hashed; None when numba is not installed."""
    try:
        spec = importlib.util.find_spec("numba")
    except (ImportError, ValueError, AttributeError):  # sys.modules["numba"] set to None (a test, a ban)
        return None
    if spec is None or spec.origin is None:
        return None
    h = hashlib.sha256()
    for name in _SOURCES:
        h.update((_HERE / name).read_bytes())
    st = os.stat(spec.origin)  # a reinstalled numba is a new file
    import llvmlite
    llvm.initialize_native_target()
    llvm.initialize_native_asmprinter()
    for part in (spec.origin, st.st_size, st.st_mtime_ns, llvmlite.__version__, sys.version,
                 llvm.get_process_triple(), llvm.get_host_cpu_name(), llvm.get_host_cpu_features().flatten()):
        h.update(repr(part).encode())
    return h.hexdigest()[:24]


def _cache_file(key: str) -> Path | None:
    """Where numba keeps its cache (NUMBA_CACHE_DIR, else sim/__pycache__), else the user's cache."""
    env = os.environ.get("NUMBA_CACHE_DIR")
    xdg = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    for d in ([Path(env)] if env else []) + [_HERE / "__pycache__", Path(xdg) / "batch-lab"]:
        try:
            d.mkdir(parents=True, exist_ok=True)
            if os.access(d, os.W_OK) or (d / f"kernel-{key}.o").exists():
                return d / f"kernel-{key}.o"
        except OSError:
            continue
    return None


def _read(path: Path) -> tuple[str, bytes]:
    data = path.read_bytes()
    name, sep, obj = data.partition(b"\0")
    if not sep or not obj:
        raise ValueError(f"{path}: not a kernel object")
    return name.decode("ascii"), obj


def _write(path: Path, name: str, obj: bytes) -> None:
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_bytes(name.encode("ascii") + b"\0" + obj)
        os.replace(tmp, path)  # another process reading meanwhile sees the old file or the whole new one
    except OSError:  # a read-only cache: the next process builds again
        tmp.unlink(missing_ok=True)
        return
    if path.parent == _HERE / "__pycache__":
        _prune(path)


def _prune(keep: Path) -> None:
    """Delete the other kernel object files beside ``keep``: each edit of a kernel source left one (~0.25 MB)
    behind. Only in the checkout's own sim/__pycache__, whose files no other checkout reads: a shared cache
    (NUMBA_CACHE_DIR, ~/.cache/batch-lab) may hold the current file of another checkout or Python, which
    would then rebuild it, and each would delete the other's in turn."""
    for old in keep.parent.glob("kernel-*.o"):
        if old != keep:
            old.unlink(missing_ok=True)  # another process may have pruned it first


def link(llvm, name: str, obj: bytes) -> tuple[int, object]:
    """The address of ``name`` in the object, linked into a fresh JIT engine beside ``_STUBS`` and resolved
    against this process, and the engine, which owns the code's memory."""
    target = llvm.Target.from_triple(llvm.get_process_triple())
    tm = target.create_target_machine(codemodel="jitdefault")
    stubs = llvm.parse_assembly(_STUBS)
    stubs.verify()
    engine = llvm.create_mcjit_compiler(stubs, tm)
    engine.add_object_file(llvm.ObjectFileRef.from_data(obj))
    engine.finalize_object()
    address = engine.get_function_address(name)
    if not address:
        raise LookupError(f"{name} not in the kernel object")
    return address, engine


def _build():
    """(symbol name, object code, cfunc): numba compiles the C entry point, its njit callees from numba's
    own cache when it has them."""
    from numba import carray, cfunc, types
    _fresh_numba_cache()
    args = []
    for _, kind, ndim in ARRAYS:
        args += [types.CPointer(types.int64 if kind == "i" else types.float64)] + [types.int64] * ndim
    args.append(types.int64)
    cf = cfunc(types.int64(*args), nopython=True)(_entry_for(carray))
    return cf.native_name, object_code(cf), cf


def _fresh_numba_cache() -> None:
    """Start numba's own cache of the kernel's functions over. numba keys each cached function by its own file
    alone, so a function whose callee in another kernel file changed comes back from that cache stale (a
    traced run fell back to Python that way once). A build only happens for a new key, which covers every
    kernel source, so everything is compiled from the sources as they are now (15-60 s, by the machine) and
    cached again."""
    from numba.core.dispatcher import Dispatcher
    for name in _SOURCES:
        if name.startswith("compiled"):
            module = importlib.import_module(f"sim.{name[:-3]}")
            for obj in vars(module).values():
                if isinstance(obj, Dispatcher) and obj.py_func.__module__ == module.__name__:
                    obj._cache.flush()


def object_code(cf) -> bytes:
    """A numba cfunc's machine code with its callees linked in, as an object file (numba's own cache
    serializes a library this way)."""
    return cf._library._get_compiled_object()


def _entry_for(carray):
    from sim.compiled_disagg import run_kernel

    def _entry(S, s0, T, t0, SI, si0, si1, SF, sf0, sf1, C, c0, P, p0, mem, m0, oth, o0, pf, pf0, pf1, tmp, tm0,
               staged, st0, cr, cr0, goals, g0, pgap, pg0, pcum, pc0, pover, po0, po1, built, b0, gcls, gc0,
               gval, gv0, gcnt, gn0, cls_count, cc0, cls_order, co0, evt, ev0, evi, ei0, ei1, qs, q0, q1, n_cls):
        run_kernel(carray(S, (s0,)), carray(T, (t0,)), carray(SI, (si0, si1)), carray(SF, (sf0, sf1)),
                   carray(C, (c0,)), carray(P, (p0,)), carray(mem, (m0,)), carray(oth, (o0,)),
                   carray(pf, (pf0, pf1)), carray(tmp, (tm0,)), carray(staged, (st0,)), carray(cr, (cr0,)),
                   carray(goals, (g0,)), carray(pgap, (pg0,)), carray(pcum, (pc0,)), carray(pover, (po0, po1)),
                   carray(built, (b0,)), carray(gcls, (gc0,)), carray(gval, (gv0,)), carray(gcnt, (gn0,)),
                   carray(cls_count, (cc0,)), carray(cls_order, (co0,)), carray(evt, (ev0,)),
                   carray(evi, (ei0, ei1)), carray(qs, (q0, q1)), n_cls)
        return OK
    return _entry
