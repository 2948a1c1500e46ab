"""Where the tiny model runs, tested on a CPU: CUDA whenever torch sees a GPU (BATCH_LAB_DEVICE overrides),
one thread on the CPU, and every timed pass bracketed by a synchronize so a GPU's clock covers its kernels.
(No GPU is needed: torch's CUDA queries and the synchronize are replaced by recorders.) On a machine with a
CUDA GPU, ``test_validate_runs_the_tiny_model_on_the_gpu`` runs a whole validation there; elsewhere it is
skipped with its reason."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from sim.errors import ConfigError  # noqa: E402
from sim.real import executor as real_executor  # noqa: E402
from sim.real import model as real_model  # noqa: E402
from sim.real.model import DEVICE_ENV, choose_device  # noqa: E402


@pytest.mark.parametrize("requested,cuda,expected", [
    (None, True, "cuda"), (None, False, "cpu"), ("", True, "cuda"), ("auto", False, "cpu"), ("AUTO", True, "cuda"),
    ("cpu", True, "cpu"), ("cpu", False, "cpu"), ("cuda", True, "cuda"), (" cuda ", True, "cuda"),
])
def test_choose_device(requested, cuda, expected):
    assert choose_device(requested, cuda) == expected


@pytest.mark.parametrize("requested,cuda", [("cuda", False), ("gpu", True), ("mps", False)])
def test_choose_device_refuses_what_cannot_run(requested, cuda):
    with pytest.raises(ConfigError) as e:
        choose_device(requested, cuda)
    assert e.value.field == "device" and DEVICE_ENV in str(e.value)


def test_pick_device_takes_the_gpu_when_torch_sees_one(monkeypatch):
    threads = []
    monkeypatch.delenv(DEVICE_ENV, raising=False)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch, "set_num_threads", threads.append)
    assert real_model.pick_device().type == "cuda" and threads == []  # GPU: the CPU's threads left alone
    monkeypatch.setenv(DEVICE_ENV, "cpu")
    assert real_model.pick_device().type == "cpu" and threads == [1]  # CPU: one steady thread
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv(DEVICE_ENV, "cuda")
    with pytest.raises(ConfigError):
        real_model.pick_device()


def test_describe_device_names_the_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "get_device_name", lambda device=None: "NVIDIA H100 80GB HBM3")
    assert real_model.describe_device(torch.device("cuda")) == "cuda:NVIDIA H100 80GB HBM3"


class _FakeGpuModel:
    device = torch.device("cuda")


@pytest.mark.parametrize("clock", ["wall", "cpu"])
def test_a_timed_pass_on_a_gpu_is_synchronized_before_and_after(monkeypatch, clock):
    """A GPU runs kernels asynchronously: without a synchronize after the pass the clock would stop at the
    launch. The cpu clock cannot see GPU work, so on a GPU a pass is always timed by the wall clock."""
    events = []
    monkeypatch.setattr(real_model, "synchronize", lambda device: events.append(("sync", device.type)))
    monkeypatch.setattr(real_executor, "run_pass", lambda model, work: events.append("pass") or [7])
    out, dt = real_executor.timed_pass(_FakeGpuModel(), [], clock)
    assert out == [7] and dt >= 0
    assert events == [("sync", "cuda"), "pass", ("sync", "cuda")]


@pytest.mark.parametrize("clock,device,expected", [
    ("wall", "cpu", "wall"), ("cpu", "cpu", "cpu"), ("wall", "cuda", "wall"), ("cpu", "cuda", "wall"),
    ("bogus", "cpu", "bogus"),  # left for execute() to refuse by name
])
def test_the_cpu_clock_is_used_only_on_the_cpu(clock, device, expected):
    assert real_executor.effective_clock(clock, torch.device(device)) == expected


ROOT = __import__("pathlib").Path(__file__).resolve().parent.parent
NO_CUDA = not torch.cuda.is_available()
NO_CUDA_REASON = (f"no CUDA GPU here: torch.cuda.is_available() is False (torch {torch.__version__}, "
                  f"CUDA build: {torch.version.cuda}); runs on a machine with a GPU")


@pytest.mark.skipif(not NO_CUDA, reason="this machine has a CUDA GPU: the CPU-only path is not what runs here")
def test_without_a_gpu_the_model_runs_on_one_cpu_thread(monkeypatch):
    """No mocks: the real device choice of this machine. Weights, inputs and caches all on the CPU."""
    from sim.real.executor import load_model, run_pass
    monkeypatch.delenv(DEVICE_ENV, raising=False)
    before = torch.get_num_threads()
    try:
        model = load_model(warmup=False)
        assert model.device.type == "cpu" and torch.get_num_threads() == 1
        assert {p.device.type for p in model.parameters()} == {"cpu"}
        cache = model.new_cache(16)
        assert cache.k.device.type == "cpu"
        assert len(run_pass(model, [(cache, [1, 2, 3])])) == 1 and cache.length == 3
        assert real_model.describe_device(model.device).startswith("cpu:")
    finally:
        torch.set_num_threads(before)


@pytest.mark.skipif(not NO_CUDA, reason="this machine has a CUDA GPU")
def test_validate_asking_for_cuda_without_one_is_refused_in_one_line(tmp_path):
    import os
    import subprocess
    import sys
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path), **{DEVICE_ENV: "cuda"})
    out = subprocess.run([sys.executable, "-m", "sim", "validate", "--requests", "2"], capture_output=True,
                         text=True, cwd=ROOT, env=env, timeout=120)
    assert out.returncode == 2 and out.stdout == ""
    assert out.stderr.strip().splitlines() == [out.stderr.strip()] and out.stderr.startswith("error: device:")


@pytest.mark.skipif(NO_CUDA, reason=NO_CUDA_REASON)
def test_validate_runs_the_tiny_model_on_the_gpu(monkeypatch, tmp_path):
    """On a CUDA machine: the tiny model, its caches and its inputs live on the GPU, its weights are the
    seeded CPU weights, every timed pass is bracketed by torch.cuda.synchronize(), and validation reports
    the same error table as on the CPU (even when asked for the CPU clock, which cannot see GPU kernels)."""
    import math

    from sim.real.executor import load_model
    from sim.real.model import TinyLM
    from sim.real.validate import ERROR_KEYS, run_validation
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.delenv(DEVICE_ENV, raising=False)  # auto: a GPU is there, so it is used
    model = load_model()
    assert model.device.type == "cuda" and {p.device.type for p in model.parameters()} == {"cuda"}
    assert model.new_cache(8).k.device.type == "cuda"
    on_cpu = TinyLM(device=torch.device("cpu"))
    for (name, p), q in zip(model.state_dict().items(), on_cpu.state_dict().values()):
        assert torch.equal(p.cpu(), q), name  # the same seeded weights, moved to the GPU
    ids = list(range(1, 40))
    assert torch.allclose(model.forward_full(ids).cpu(), on_cpu.forward_full(ids), atol=1e-4, rtol=1e-4)
    syncs = []
    real_sync = torch.cuda.synchronize
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: syncs.append(1) or real_sync(device))
    v = run_validation("continuous", 8, recalibrate=True, model=model, clock="cpu", repeats=1)
    assert v.device.startswith("cuda:") and v.clock == "wall"
    passes = len(v.measured.iterations)
    assert passes > 0 and len(syncs) >= 2 * passes  # the run's passes (calibration's too)
    assert set(v.errors) == set(ERROR_KEYS)
    assert all(x is None or math.isfinite(x) for x in v.errors.values())
    assert math.isfinite(v.fit.r2) and all(d > 0 for d in v.iteration_measured_s)  # the fit ran on GPU timings
