"""Real-model validation: the executor does what each plan says, calibration fits, and
``python -m sim validate --json`` keeps its contract (DESIGN.md section 6)."""

import json
import math
import os
import subprocess
import sys
from dataclasses import replace

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from sim.real import calibrate  # noqa: E402
from sim.config import with_changes  # noqa: E402
from sim.errors import ConfigError  # noqa: E402
from sim.real.executor import ScheduleDiverged, execute, load_model, replay  # noqa: E402
from sim.real.validate import ERROR_KEYS, config, errors  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def model():
    return load_model(warmup=False)


def _expected_fed(it) -> dict:
    fed = {rid: n for rid, n in it.prefill}
    fed.update({rid: 1 for rid in it.decode})
    return fed


@pytest.mark.parametrize("policy", ["continuous", "prefill-first", "chunked", "static"])
def test_executor_runs_exactly_each_plan(model, policy):
    cfg = config(policy, 8, seed=3)
    run = execute(cfg, model)
    res = run.result
    assert len(res.iterations) == len(run.fed) == len(run.shapes) == len(run.durations_s) > 0
    for it, fed, shape, dt in zip(res.iterations, run.fed, run.shapes, run.durations_s):
        assert fed == _expected_fed(it)  # the model computed exactly the tokens the plan gave each sequence
        assert shape.prefill_tokens == it.prefill_tokens and shape.prefill_seqs == len(it.prefill)
        assert it.end_s - it.start_s == pytest.approx(dt) and dt > 0
    for r in res.requests:  # every request generated exactly its output tokens, one per emitting pass
        assert r.completed and r.generated_tokens == r.output_tokens
        assert len(run.tokens[r.id]) == r.prompt_tokens + r.output_tokens
        assert r.arrival_s <= r.first_token_s <= r.finish_s
    starts = [it.start_s for it in res.iterations]
    assert starts == sorted(starts)  # one engine: passes never overlap on the model's clock
    assert all(a.end_s <= b.start_s + 1e-12 for a, b in zip(res.iterations, res.iterations[1:]))
    assert res.metrics["completed"] == 8 and res.metrics["makespan_s"] > 0


def test_greedy_tokens_do_not_depend_on_batching_or_preemption(model):
    """The model's output is a property of each sequence alone: the same greedy tokens whether it ran
    alone, in a static batch, in mixed continuous batches, or was preempted and recomputed."""
    # All at t = 0: the plans (and the recompute preemptions in the small cache) do not depend on how
    # fast this machine runs the passes, unlike Poisson arrivals timed against the measured clock.
    base = config("continuous", 8, seed=5)
    base = with_changes(base, workload=replace(base.workload, arrival="backlog"))
    ref = execute(base, model).tokens
    static = execute(with_changes(base, policy="static"), model).tokens
    tight = execute(with_changes(base, kv_capacity_tokens=320, block_size=16), model)  # forces recompute
    assert tight.result.metrics["preemptions"] > 0
    assert static == ref
    assert tight.tokens == ref


def test_errors_are_percent_of_measured(model):
    cfg = config("continuous", 6, seed=1)
    run = execute(cfg, model)
    e = errors(run.result, run.result, run.durations_s, run.durations_s)  # a run against itself: no error
    assert set(e) == set(ERROR_KEYS)
    assert all(v == pytest.approx(0.0, abs=1e-9) for v in e.values())
    doubled = [2 * d for d in run.durations_s]
    assert errors(run.result, run.result, doubled, run.durations_s)["iteration_mape_pct"] == pytest.approx(100.0)


def test_short_calibration_fits_the_cost_structure(model):
    shapes, times = calibrate.measure(model, calibrate.grid(36, seed=1, max_len=200, max_decodes=12), reps=3)
    f = calibrate.fit(shapes, times)
    # On a tiny grid of a noisy shared CPU the fit is rough, but the cost structure must be there:
    # a clearly positive fixed cost and prefill cost per token, and a fit far better than a constant.
    assert f.r2 > 0.7, f
    assert f.cost.overhead_s > 0 and f.cost.per_prefill_token_s > 0
    assert all(getattr(f.cost, k) >= 0 for k in calibrate.COEFFS)
    assert f.n_fit + f.n_heldout == 36 and math.isfinite(f.heldout_mape_pct)


def test_fit_recovers_known_coefficients_and_stays_nonnegative():
    truth = dict(overhead_s=2e-3, per_prefill_token_s=8e-5, per_attn_pair_s=1e-7, per_prefill_seq_s=3e-4,
                 per_decode_seq_s=4e-4, per_context_token_s=5e-7, per_small_batch_token_s=2e-4,
                 per_padding_seq_s=1.5e-4)
    shapes = calibrate.grid(90, seed=2)
    X = np.array([calibrate.features(g.shape()) for g in shapes])
    y = X @ np.array([truth[k] for k in calibrate.COEFFS])
    f = calibrate.fit(shapes, y)
    for k, v in truth.items():
        assert getattr(f.cost, k) == pytest.approx(v, rel=1e-6)
    assert f.r2 == pytest.approx(1.0) and f.heldout_mape_pct < 1e-6
    beta = calibrate.nnls_relative(np.array([[1.0, 1.0], [1.0, 2.0], [1.0, 3.0]]), np.array([3.0, 2.0, 1.0]))
    assert (beta >= 0).all()  # a falling line cannot have a negative cost per unit


def test_fit_cache_roundtrip_and_staleness(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    shapes = calibrate.grid(12, seed=0)
    times = np.array([1e-3 + 1e-4 * g.shape().prefill_tokens + 3e-4 * g.shape().decode_seqs for g in shapes])
    f = calibrate.fit(shapes, times, label="test")
    path = calibrate.save(f, "cpu:test", "wall")
    assert path.startswith(str(tmp_path)) and "batch-lab" in path
    back = calibrate.load("cpu:test", "wall")
    assert back.cost == f.cost and back.r2 == f.r2
    assert calibrate.load("cpu:test", "cpu") is None  # another clock is another fit
    assert calibrate.load("cpu:other") is None
    with open(path, encoding="utf-8") as fh:  # a fit from before a cost term existed is refitted, not reused
        data = json.load(fh)
    del data["cost"]["per_padding_seq_s"]
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(data, fh)
    assert calibrate.load("cpu:test", "wall") is None


def _cli(*args, env_extra=None, timeout=120):
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.run([sys.executable, "-m", "sim", "validate", *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=timeout, check=False)


def test_validate_cli_json_contract(tmp_path):
    out = _cli("--requests", "8", "--json", "--policy", "chunked", env_extra={"XDG_CACHE_HOME": str(tmp_path)})
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert {"simulated", "measured", "error"} <= set(data)
    assert set(data["error"]) == set(ERROR_KEYS)
    assert all(isinstance(v, float) and math.isfinite(v) and v >= 0 for v in data["error"].values())
    for side in ("simulated", "measured"):
        assert data[side]["completed"] == 8 and data[side]["makespan_s"] > 0
    assert data["device"] and data["fit"]["r2"] <= 1.0
    assert list(tmp_path.rglob("*.json"))  # the fit was cached under the user cache folder


def test_validate_cli_refuses_bad_input_by_name():
    out = _cli("--requests", "0")
    assert out.returncode == 2 and "requests" in out.stderr and "Traceback" not in out.stderr


def test_validate_page_runs_and_shows_both_runs(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.chdir(ROOT)
    at = AppTest.from_file(os.path.join(ROOT, "pages", "validate.py"), default_timeout=120)
    at.run()
    assert not at.exception
    assert any("Run validation" in b.label for b in at.button)
    # Nothing measured yet: only the GPU view's two figures (presets vs measured GPU passes) are drawn.
    assert len(at.get("plotly_chart")) == 2
    gpu_text = " ".join(md.value for md in at.markdown) + " ".join(i.value for i in at.info)
    assert "github.com/microsoft/vidur" in gpu_text and "What this does not cover" in gpu_text
    assert "no embedding, final norm, LM head or sampling" in gpu_text
    assert any("median |error|" in df.value.columns for df in at.dataframe)
    # A fresh fit in the cache, and no recalibration: the page must then reuse it (and the test stays fast).
    from sim.real.model import describe_device, pick_device
    shapes = calibrate.grid(12, seed=0)
    times = [2e-3 + 1e-4 * g.shape().prefill_tokens + 4e-4 * g.shape().decode_seqs for g in shapes]
    calibrate.save(calibrate.fit(shapes, np.array(times), label="seeded by the test"), describe_device(pick_device()))
    at.slider(key="w_requests").set_value(8)
    at.selectbox(key="w_policy").set_value("static")
    at.toggle(key="w_recal").set_value(False)
    at.button[0].click()
    at.run()
    assert not at.exception, at.exception
    charts = at.get("plotly_chart")
    assert len(charts) == 5  # the GPU view's two, the run's three
    labels = [m.label for m in at.metric]
    assert "makespan" in labels and "per pass" in labels and "end-to-end" in labels
    assert all(m.value.endswith("%") for m in at.metric)
    text = " ".join(md.value for md in at.markdown)
    assert "Measured on" in text and "R² =" in text and "2 replays of the whole run" in text
    assert "How much this workload amplifies timing errors" in text
    assert any("seeded by the test" in str(df.value) for df in at.dataframe)  # the cached fit was used


def test_replaying_a_run_is_exact_and_its_median_clock_keeps_every_plan(model):
    """replay() runs every pass again on the caches as they were (same keys and values written), and
    execute(timings=...) lays the same plans on other durations; with arrivals during the run, a clock
    that would plan other passes is refused instead of mixing passes up."""
    cfg = config("continuous", 6, seed=3)  # a backlog: plans never depend on time
    run = execute(cfg, model, keep_work=True)
    kv = {id(c): (c.length, c.k[:, :, :c.length].clone()) for entries in run.work for c, _, _ in entries}
    again = replay(model, run)
    assert len(again) == len(run.durations_s) and all(d > 0 for d in again)
    for entries in run.work:
        for c, _, _ in entries:
            length, k = kv[id(c)]
            assert torch.equal(c.k[:, :, :length], k)  # replaying rewrote the same keys
    slow = [2 * d for d in run.durations_s]
    laid = execute(cfg, model, timings=(run.shapes, slow))
    assert laid.shapes == run.shapes and laid.durations_s == slow
    assert [it.end_s - it.start_s for it in laid.result.iterations] == pytest.approx(slow)
    assert laid.result.metrics["makespan_s"] == pytest.approx(2 * run.result.metrics["makespan_s"])
    assert not laid.work  # nothing computed, nothing kept
    streamed = config("continuous", 6, seed=3, rate_per_s=40.0)
    timed = execute(streamed, model)
    with pytest.raises(ScheduleDiverged):  # 10x slower passes: later arrivals join other passes
        execute(streamed, model, timings=(timed.shapes, [10 * d for d in timed.durations_s]))


def test_executor_calls_between_after_every_pass_and_honours_the_clock(model):
    seen = []
    run = execute(config("continuous", 6, seed=1), model, clock="cpu", between=seen.append)
    assert seen == list(range(1, len(run.result.iterations) + 1))
    assert any("thread_time" in note for _, _, note in run.result.cost_description)  # the cpu clock was used


def test_calibration_session_times_shapes_in_a_rolling_order(model):
    s = calibrate.Session(model, shapes=calibrate.grid(6, seed=4, max_len=100, max_decodes=4))
    s.measure_next(6)
    assert [len(t) for t in s.timings] == [1] * 6 and s.rounds == 1  # one pass over the shapes: each once
    s.measure_next(3)
    assert sorted(len(t) for t in s.timings) == [1, 1, 1, 2, 2, 2]
    s.measure(1)
    assert s.rounds == 2 and all(np.isfinite(s.times())) and (s.times() > 0).all()


def test_validate_cli_refuses_bad_pass_repeats():
    out = _cli("--requests", "4", "--pass-repeats", "12")
    assert out.returncode == 2 and "pass-repeats" in out.stderr and "Traceback" not in out.stderr


def test_amplification_reports_how_far_a_uniform_timing_error_carries():
    """The simulator against itself: a 3% slower machine moves a backlog's makespan by about 3% (never more:
    every pass is 3% longer and the engine is rarely idle), and nothing at all at 0%."""
    from sim.cost_model import BatchShape, LinearCost
    from sim.real.validate import AMPLIFIED_KEYS, amplification
    cost = LinearCost()
    shape = BatchShape(prefill_tokens=40, prefill_seqs=1, prefill_attn_pairs=800, decode_seqs=3,
                       decode_context_tokens=200)
    assert cost.scaled(1.03).iteration_time(shape) == pytest.approx(1.03 * cost.iteration_time(shape))
    amp = amplification("continuous", 30, 0, cost, rate_per_s=1000.0)
    assert set(amp) == set(AMPLIFIED_KEYS)
    assert 2.0 <= amp["makespan_abs_pct"] <= 3.0 + 1e-9
    assert amp["e2e_median_abs_pct"] > 1.0


def test_validate_refuses_an_impossible_rate_by_name():
    for bad in (0.0, -5.0, float("nan"), 1e9):
        with pytest.raises(ConfigError, match="rate"):
            config("continuous", 5, seed=0, rate_per_s=bad)
    out = _cli("--requests", "4", "--rate", "0")
    assert out.returncode == 2 and "rate" in out.stderr and "Traceback" not in out.stderr
