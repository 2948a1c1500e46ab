"""Where the tiny model runs, tested on a CPU: CUDA whenever torch sees a GPU (BATCH_LAB_DEVICE overrides),
one thread on the CPU, and every timed pass bracketed by a synchronize so a GPU's clock covers its kernels.
(No GPU is needed: torch's CUDA queries and the synchronize are replaced by recorders.)"""

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
