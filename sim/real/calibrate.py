"""Calibration: time the tiny model over a grid of batch shapes and fit the ``tiny-cpu`` LinearCost.

A forward pass of ``sim.real.model.TinyLM`` costs (see that module for why):

* a fixed part per pass (Python and framework dispatch, embedding, final norm),
* a part per prefill token (the projections and MLP run once over all packed tokens),
* a part per attention pair of a prefill (prompt length squared: each new token attends to the cache
  and to the earlier new tokens),
* a part per sequence (its own attention call, cache writes, its row of the LM head), larger for a
  decoding sequence than for a prefill chunk only because of how the terms share the work,
* a part per context token a decode step reads,
* a part per token for the first few tokens of a pass: with a handful of rows the matmuls are bound by
  reading the weights (a small roofline), so one- to four-token passes cost more per token,
* a part per padding slot of a static batch (a token through the matmuls, no context to read).

``measure`` times random shapes drawn from those dimensions (several prefill chunks with and without a
cache before them, up to 24 decodes with contexts up to 320 tokens, mixes, static-batch tails with
padding), each timed several times in shuffled order so that slow drift of a shared machine hits every
shape alike, and keeps the median.
``fit`` solves a non-negative least-squares problem on relative error (a 2 ms pass matters as much as
a 40 ms one), reports R^2 on the fitted shapes and the mean absolute % error on held-out shapes.
The fit is cached as JSON under ``$XDG_CACHE_HOME/batch-lab`` (or ``~/.cache/batch-lab``), keyed by
device and torch version; ``load_or_calibrate(recalibrate=True)`` fits again.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import asdict, dataclass, replace
from types import SimpleNamespace

import numpy as np

from sim.cost_model import SMALL_BATCH_TOKENS, BatchShape, LinearCost
from sim.plan import StepPlan

WARM_RUNS = 1  # untimed runs of a shape right before it is timed (see Session._time_shape)

# LinearCost fields in the order of the feature vector below.
COEFFS = ("overhead_s", "per_prefill_token_s", "per_attn_pair_s", "per_prefill_seq_s", "per_decode_seq_s",
          "per_context_token_s", "per_small_batch_token_s", "per_padding_seq_s")


def features(s: BatchShape) -> list[float]:
    return [1.0, s.prefill_tokens, s.prefill_attn_pairs, s.prefill_seqs, s.decode_seqs - s.padding_seqs,
            s.decode_context_tokens, min(s.prefill_tokens + s.decode_seqs, SMALL_BATCH_TOKENS), s.padding_seqs]


@dataclass(frozen=True)
class GridShape:
    """One calibration batch: prefill chunks (cached tokens before the chunk, chunk length) and decode contexts."""

    chunks: tuple  # ((cached, n), ...)
    decodes: tuple  # (context length, ...)
    pads: int = 0  # static batching's padding slots (a token each, no context)

    def shape(self) -> BatchShape:
        # Price it with the scheduler's own formula: fake sequences that only carry ``computed``.
        plan = StepPlan(prefill=[(SimpleNamespace(computed=c), n) for c, n in self.chunks],
                        decode=[SimpleNamespace(computed=c) for c in self.decodes], padding=self.pads)
        return plan.shape()


def grid(n: int, seed: int = 0, max_len: int = 320, max_decodes: int = 32) -> list[GridShape]:
    """``n`` random shapes: about a third prefill only (one in four of them a batch of many whole prompts),
    a third decode only, a third mixed."""
    rng = np.random.default_rng(seed)
    out = []

    def chunks(k_max: int):
        res = []
        for _ in range(int(rng.integers(1, k_max + 1))):
            # log-uniform 1..256: short chunks matter too
            length = max(1, min(int(np.exp(rng.uniform(0, np.log(256)))), max_len - 1))
            cached = 0 if rng.random() < 0.6 else int(rng.integers(1, max_len - length + 1))
            res.append((cached, length))
        return tuple(res)

    def decodes(d_max: int):
        # Log-uniform 1..d_max: a real run has many passes with only a few sequences (the tail of a burst),
        # and those short passes are where a fixed-cost error shows most in relative terms.
        d = int(np.exp(rng.uniform(0, np.log(d_max + 1))))
        # Each shape draws its own typical context (log-uniform 1..max_len) so that the number of decodes
        # and their total context vary independently: otherwise the fit cannot tell a per-sequence cost
        # from a per-context-token cost, and mis-prices short contexts (e.g. static batching's padding).
        level = np.exp(rng.uniform(0, np.log(max_len - 1)))
        return tuple(int(c) for c in np.clip(np.rint(level * rng.uniform(0.5, 1.5, size=d)), 0, max_len - 1))

    def batch_prefill():
        # Standard batching and bursts under continuous batching prefill many whole prompts in one pass.
        k = int(rng.integers(5, max_decodes // 2 + 6))
        return tuple((0, int(x)) for x in np.exp(rng.uniform(np.log(16), np.log(min(160, max_len)), size=k)))

    for i in range(n):
        kind = i % 3
        if i % 12 == 11:
            out.append(GridShape(batch_prefill(), ()))
        elif i % 12 == 7:
            # A static batch's tail: a few live decodes in a batch padded with finished slots.
            live = decodes(max_decodes // 2)
            out.append(GridShape((), live, int(rng.integers(1, max(2, max_decodes - len(live)) + 1))))
        elif kind == 0:
            out.append(GridShape(chunks(4), ()))
        elif kind == 1:
            out.append(GridShape((), decodes(max_decodes)))
        else:
            out.append(GridShape(chunks(2), decodes(max_decodes // 2)))
    return out


class Session:
    """A calibration in progress: fixed random shapes (with their KV caches built once), timed a few at a
    time or in whole rounds, and fitted on each shape's median over all its timings so far.

    Timing can be split around other work. Validation uses that to follow the machine through the
    measured run: a round right before it, a few shapes in short pauses during it (off the run's clock),
    a round right after. On a machine whose speed drifts over minutes, the fit then describes the
    conditions the run met, while the run's own passes still never enter the fit."""

    def __init__(self, model, n_shapes: int = 96, seed: int = 0, max_decodes: int = 24, clock: str = "wall",
                 shapes: list | None = None):
        self.model, self.seed, self.clock = model, seed, clock
        self.shapes = shapes if shapes is not None else grid(n_shapes, seed, min(320, model.cfg.max_len), max_decodes)
        self.rng = np.random.default_rng(seed + 1)
        vocab, cap = model.cfg.vocab, model.cfg.max_len
        # Caches are built once; each timing resets their lengths, so only the pass itself is timed. Like
        # the executor's (sized for prompt + output), each cache has room beyond the tokens it holds:
        # reading a slice of a bigger cache costs more than reading a cache that fits exactly.
        self.setups = []
        for g in self.shapes:
            entries = []
            for cached, n in g.chunks:
                size = min(cap, cached + n + int(self.rng.integers(8, 65)))
                entries.append((model.new_cache(size), cached, self.rng.integers(0, vocab, n).tolist()))
            for ctx in g.decodes:
                size = min(cap, ctx + 1 + int(self.rng.integers(8, 65)))
                entries.append((model.new_cache(size), ctx, [int(self.rng.integers(0, vocab))]))
            for _ in range(g.pads):  # as the executor pads: an empty one-slot cache
                entries.append((model.new_cache(1), 0, [0]))
            self.setups.append(entries)
        self.timings: list[list[float]] = [[] for _ in self.shapes]
        self._order: list[int] = []  # the rest of the current shuffled pass over all shapes
        self.seconds = 0.0

    @property
    def rounds(self) -> int:
        """Complete passes over the shapes so far."""
        return min(len(t) for t in self.timings)

    def _time_shape(self, i: int) -> None:
        from sim.real.executor import timed_pass
        entries = self.setups[i]
        work = [(c, toks) for c, _, toks in entries]
        # A repeated pass runs faster than a first one (measured here: a 2-sequence decode took 3.3 ms
        # cold, 2.9 ms on its second run, 2.7 ms from its fourth on). A real run's passes change a little
        # every pass (a token more context, a join, a leave), so a shape is timed on its second run; more
        # warm-up priced continuous batching ~5% fast. This holds for one-token passes too: a lone
        # sequence repeating the identical step gets ~35% faster over ten runs, but a run's lone tail
        # (a token more context each pass) does not (timed after such a streak, tails were priced ~19%
        # low). Caches are reset before every run.
        for _ in range(WARM_RUNS + 1):
            for cache, length, _ in entries:
                cache.length = length
            _, dt = timed_pass(self.model, work, self.clock)
        self.timings[i].append(dt)

    def measure_next(self, count: int) -> None:
        """Time the next ``count`` shapes of a rolling shuffled order (every shape once per pass over them)."""
        from sim.real.executor import no_gc
        t0 = time.perf_counter()
        with no_gc():
            for _ in range(count):
                if not self._order:
                    self._order = list(self.rng.permutation(len(self.shapes)))
                self._time_shape(self._order.pop())
        self.seconds += time.perf_counter() - t0

    def measure(self, rounds: int, budget_s: float | None = None) -> None:
        """Time every shape ``rounds`` more times, in a fresh random order each round; skip the rounds
        that would overrun ``budget_s`` (one round always runs)."""
        t_start = time.perf_counter()
        for r in range(rounds):
            elapsed = time.perf_counter() - t_start
            if budget_s is not None and r > 0 and elapsed + elapsed / r > budget_s:
                break  # another round would overrun the budget
            self._order = []
            self.measure_next(len(self.shapes))

    def times(self) -> np.ndarray:
        return np.array([np.median(t) if t else np.nan for t in self.timings])

    def fit(self) -> "Fit":
        from sim.real.model import describe_device
        n = sum(len(t) for t in self.timings)
        label = (f"{describe_device(self.model.device)}, {self.clock} clock, {n / len(self.shapes):.1f} timings "
                 f"per shape, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
        timed = [i for i, t in enumerate(self.timings) if t]
        return fit([self.shapes[i] for i in timed], self.times()[timed], seed=self.seed, label=label,
                   seconds=self.seconds)


def measure(model, shapes: list[GridShape], reps: int = 3, budget_s: float | None = None,
            seed: int = 0, clock: str = "wall") -> tuple[list[GridShape], np.ndarray]:
    """Median time of each shape over ``reps`` shuffled rounds (see ``Session.measure``)."""
    session = Session(model, seed=seed, clock=clock, shapes=shapes)
    session.measure(reps, budget_s)
    return shapes, session.times()


@dataclass(frozen=True)
class Fit:
    """A fitted cost model and how well it fits."""

    cost: LinearCost
    r2: float  # on the shapes used for the fit
    heldout_mape_pct: float  # mean absolute % error on shapes left out of the fit
    n_fit: int
    n_heldout: int
    seconds: float  # how long the calibration took (timing + fit)
    fitted_at: float = 0.0  # time.time() of the fit (a cached fit goes stale as the machine drifts)


def nnls_relative(X: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Least squares on relative error with every coefficient >= 0 (a negative cost has no meaning):
    solve, drop the most negative coefficient, repeat."""
    w = 1.0 / y
    active = list(range(X.shape[1]))
    beta = np.zeros(X.shape[1])
    while active:
        sol, *_ = np.linalg.lstsq(X[:, active] * w[:, None], y * w, rcond=None)
        if (sol >= 0).all():
            beta[:] = 0
            beta[active] = sol
            return beta
        active.pop(int(np.argmin(sol)))
    return beta


def fit(shapes: list[GridShape], times: np.ndarray, heldout: float = 0.25, seed: int = 0,
        label: str = "", seconds: float = 0.0) -> Fit:
    X = np.array([features(g.shape()) for g in shapes], dtype=float)
    y = np.asarray(times, dtype=float)
    rng = np.random.default_rng(seed + 2)
    idx = rng.permutation(len(y))
    n_out = int(round(len(y) * heldout))
    test, train = idx[:n_out], idx[n_out:]
    beta = nnls_relative(X[train], y[train])
    pred_train = X[train] @ beta
    ss_res = float(((y[train] - pred_train) ** 2).sum())
    ss_tot = float(((y[train] - y[train].mean()) ** 2).sum())
    r2 = 1.0 - ss_res / ss_tot if ss_tot > 0 else 0.0
    mape = float(np.mean(np.abs(X[test] @ beta - y[test]) / y[test]) * 100) if n_out else float("nan")
    cost = LinearCost(**dict(zip(COEFFS, (float(b) for b in beta))), reorg_s=0.0, fit_r2=r2,
                      fitted_on=label, fit_mape_pct=mape)
    return Fit(cost, r2, mape, len(train), n_out, seconds, time.time())


def calibrate(model=None, n_shapes: int = 96, reps: int = 3, budget_s: float = 7.0, seed: int = 0,
              max_decodes: int = 24, clock: str = "wall") -> Fit:
    """Time ``n_shapes`` random shapes (about ``budget_s`` seconds on a 2-core CPU) and fit."""
    from sim.real.executor import load_model
    session = Session(model or load_model(), n_shapes, seed, max_decodes, clock)
    session.measure(reps, budget_s)
    return session.fit()


# ---- the cache file ------------------------------------------------------------------------------------

def cache_path(device: str, clock: str = "wall") -> str:
    import torch
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    key = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{device}-torch{torch.__version__}-{clock}")
    return os.path.join(base, "batch-lab", f"tiny-cpu-fit-{key}.json")


def save(f: Fit, device: str, clock: str = "wall") -> str:
    path = cache_path(device, clock)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    data = {"device": device, "cost": asdict(f.cost), "r2": f.r2, "heldout_mape_pct": f.heldout_mape_pct,
            "n_fit": f.n_fit, "n_heldout": f.n_heldout, "seconds": f.seconds, "fitted_at": f.fitted_at}
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(data, fh, indent=1)
    os.replace(tmp, path)  # atomic: a page reading it never sees half a file
    return path


def load(device: str, clock: str = "wall") -> Fit | None:
    """The cached fit for this device, or None when there is none, it cannot be read, or it was fitted
    with fewer terms than the model has now (its coefficients absorbed the missing ones: refit)."""
    try:
        with open(cache_path(device, clock), encoding="utf-8") as fh:
            data = json.load(fh)
        if not set(COEFFS) <= set(data["cost"]):
            return None
        cost = replace(LinearCost(), **{k: v for k, v in data["cost"].items() if k in LinearCost.__dataclass_fields__})
        return Fit(cost, data["r2"], data["heldout_mape_pct"], data["n_fit"], data["n_heldout"], data["seconds"],
                   data.get("fitted_at", 0.0))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def fresh(device: str, clock: str = "wall", max_age_s: float | None = None) -> Fit | None:
    """The cached fit if there is one no older than ``max_age_s`` seconds (None = any age)."""
    cached = load(device, clock)
    if cached is not None and (max_age_s is None or time.time() - cached.fitted_at <= max_age_s):
        return cached
    return None


def load_or_calibrate(model=None, recalibrate: bool = False, max_age_s: float | None = None, clock: str = "wall",
                      **kw) -> Fit:
    """The cached fit, or a fresh one (saved) when there is none, it is older than ``max_age_s`` seconds,
    or ``recalibrate`` is set."""
    from sim.real.executor import load_model
    from sim.real.model import describe_device
    model = model or load_model()
    device = describe_device(model.device)
    if not recalibrate:
        cached = fresh(device, clock, max_age_s)
        if cached is not None:
            return cached
    f = calibrate(model, clock=clock, **kw)
    try:
        save(f, device, clock)
    except OSError:
        pass  # a read-only home still gets a fit, just not a cached one
    return f


if __name__ == "__main__":
    fitted = load_or_calibrate(recalibrate=True)
    for k in COEFFS:
        print(f"{k:22s} {getattr(fitted.cost, k):.3e}")
    print(f"R^2 {fitted.r2:.4f}  held-out MAPE {fitted.heldout_mape_pct:.1f}%  "
          f"({fitted.n_fit} fit + {fitted.n_heldout} held out, {fitted.seconds:.1f} s)")
