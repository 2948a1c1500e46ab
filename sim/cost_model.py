"""Cost model: how long one iteration (one forward pass) takes for a given batch composition.

Two implementations behind one method, ``iteration_time(shape)`` (seconds), and one explained form,
``parts(shape)`` (a ``PassCost``: the same time split into the parts of a pass):

* ``RooflineCost`` for real models on real accelerators. A pass runs its kernels one after another, so
  its time is a sum of parts, each priced by its own roofline (the larger of its compute time and its
  memory time, plus the share of the smaller one the kernels fail to hide):

      pass = linear layers + attention (prefill kernel + decode kernel) + KV-cache write + CPU overhead

  - linear layers: compute 2 x (block parameters) FLOPs per token at ``peak x mfu``; memory: every
    weight read once per pass at ``bandwidth x mbu``. Few tokens: bound by the weights read (the floor of
    every decode step); many tokens: bound by compute. The ridge point is where the two meet. Plus the
    element-wise kernels between them (norms, RoPE, SiLU, residual adds), which move each token's
    activations at ``bandwidth x mbu``, plus each of the layer's 9 kernels' least time (``kernel_s``,
    launching it and filling and draining the SMs; measured, not fitted), which no batch size hides.
  - attention: compute 4 x layers x (heads x head dim) FLOPs per (query token, cached token) pair at
    ``peak x attn_mfu``; memory: the cached K and V each query reads at ``bandwidth x attn_mbu``; plus a
    fixed launch time per layer per kernel. Prefill attention is compute-bound, decode attention memory-bound.
  - KV-cache write: each new token's K and V (``kv_bytes_per_token``) at ``bandwidth x mbu``, a launch time
    per layer, and a time per prompt token per layer (the measured write kernel walks a prompt token by
    token, so a long prompt's write is slow; decode tokens of different sequences are written in parallel).
  - CPU overhead: scheduling, input preparation, sampling and output processing per iteration,
    ``fixed + per sequence x batch``, measured on a real serving stack.

  The efficiency factors (``Efficiency``, one per card type) and the CPU overhead (``CpuOverhead``), in
  ``sim.presets`` beside the model and card presets, are fitted by ``scripts/fit_costs.py`` to measured A100/H100 passes (``sim/data/gpu-passes.csv``); the spec
  numbers (peak FLOP/s, bandwidth, memory, model shapes) come from datasheets and config.json files.
  Not priced: embedding lookup, final norm, LM head (as in the measured data), tensor-parallel all-reduce.
  On top of the pass: a per-join/leave reorganization cost (C4) and swap traffic over the host link.
* ``LinearCost`` for the app's tiny torch model on a CPU (preset ``tiny-cpu``): a CPU is neither
  bandwidth- nor compute-roofline shaped at this size, so each kind of work gets its own coefficient,
  fitted by calibration (``sim.real.calibrate``): fixed overhead, per prefill token, per prefill attention
  pair (prompt length squared), per decoding sequence, per context token read by a decode.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace
from typing import NamedTuple

from sim.errors import ConfigError
# The numbers the presets rest on live in sim.presets (re-exported here: callers import them from either).
from sim.presets import (CPU_OVERHEAD, EFFICIENCY, GB, HARDWARE, KERNEL_S, KERNEL_S_SOURCE, LINEAR_KERNELS_PER_LAYER,  # noqa: F401
                         MODELS, CpuOverhead, Efficiency, HardwareSpec, ModelSpec)



class BatchShape(NamedTuple):
    """What a forward pass computes, aggregated so the cost is a function of a few numbers. Immutable, and
    a named tuple rather than a frozen dataclass: the simulator builds one or two per planned pass, and a
    frozen dataclass costs about 2.5x as much to build."""

    prefill_tokens: int = 0  # prompt tokens computed this pass (all chunks)
    prefill_attn_pairs: float = 0.0  # sum over chunks of n x (tokens already cached + (n + 1) / 2)
    prefill_seqs: int = 0  # sequences with a prefill chunk this pass
    prefill_cached_tokens: int = 0  # sum over chunks of tokens already cached before the chunk (read once)
    decode_seqs: int = 0  # sequences taking one decode step (plus padding slots under static batching)
    padding_seqs: int = 0  # of those, static batching's padding: finished slots computing a thrown-away token
    decode_context_tokens: int = 0  # sum of the decoding sequences' cached context lengths
    joins: int = 0  # sequences that joined the running batch this pass (C4 reorganization)
    leaves: int = 0  # sequences that left since the previous pass
    swap_tokens: int = 0  # KV tokens moved between device and host memory (swap preemption)

    @property
    def tokens(self) -> int:
        return self.prefill_tokens + self.decode_seqs


def pass_shape(prefill: int = 0, cached: int = 0, decode: int = 0, context: int = 0) -> BatchShape:
    """One pass as ``python -m sim cost`` describes it: a prompt chunk of ``prefill`` tokens on top of
    ``cached`` tokens already in the cache, beside ``decode`` sequences with ``context`` tokens each."""
    return BatchShape(prefill_tokens=prefill, prefill_attn_pairs=prefill * (cached + (prefill + 1) / 2),
                      prefill_seqs=1 if prefill else 0, prefill_cached_tokens=cached if prefill else 0,
                      decode_seqs=decode, decode_context_tokens=decode * context)


@dataclass(frozen=True)
class PassCost:
    """One pass's time split into its parts (seconds). ``total_s`` is what the simulator waits."""

    linear_compute_s: float  # the linear layers at the compute roof
    linear_memory_s: float  # the linear layers at the memory roof (reading every weight once)
    linear_s: float  # the linear layers' time: their roofline
    attention_compute_s: float  # prefill + decode attention at the compute roof
    attention_memory_s: float  # prefill + decode attention at the memory roof
    attention_s: float  # both attention kernels' time, launch included
    kv_write_s: float  # writing the new tokens' K and V into the cache
    overhead_s: float  # CPU time of the iteration (scheduling, inputs, sampling, outputs)
    extra_s: float = 0.0  # reorganization (joins/leaves, C4) and swap traffic on top
    bound: str = "memory"  # "compute" or "memory": the roof the pass's kernels sit on
    linear_fixed_s: float = 0.0  # of linear_s: every kernel's least time (launch, filling and draining the SMs)

    @property
    def gpu_s(self) -> float:
        return self.linear_s + self.attention_s + self.kv_write_s

    @property
    def total_s(self) -> float:
        return self.gpu_s + self.overhead_s + self.extra_s

    def as_ms(self) -> dict:
        """The ``python -m sim cost --json`` object."""
        ms = {"pass_ms": self.total_s, "linear_ms": self.linear_s, "attention_ms": self.attention_s,
              "kv_write_ms": self.kv_write_s, "overhead_ms": self.overhead_s}
        return {**{k: round(v * 1e3, 6) for k, v in ms.items()}, "bound": self.bound}


@dataclass(frozen=True)
class Number:
    """One number a preset rests on, for display: what it is, its value in its unit, where it is from."""

    quantity: str
    value: float
    unit: str
    source: str


@dataclass(frozen=True)
class RooflineCost:
    """The pass of ``model`` on ``hw`` as a sum of rooflines; every factor is named, not hidden."""

    model: ModelSpec
    hw: HardwareSpec
    eff: Efficiency
    overhead_s: float = CPU_OVERHEAD.fixed_s  # CPU time per pass, whatever the batch
    overhead_per_seq_s: float = CPU_OVERHEAD.per_seq_s  # CPU time per sequence in the pass
    reorg_s: float = 0.0002  # per sequence joining or leaving the batch (C4): metadata rebuild, copies

    def __post_init__(self):
        # Per-unit prices, computed once: the simulator prices millions of passes.
        m, hw, e = self.model, self.hw, self.eff
        peak, bw = hw.peak_flops * hw.count, hw.bandwidth_bytes_per_s * hw.count
        kv = m.kv_bytes_per_token
        attn_width = m.heads * m.head_dim
        per = {
            "_lin_c": 2.0 * m.block_params / (peak * e.mfu),  # s per token
            "_lin_m": m.block_params * m.bytes_per_param / (bw * e.mbu),  # s per pass: the weights read
            "_lin_act": m.activation_bytes_per_token / (bw * e.mbu),  # s per token: the element-wise kernels
            # s per pass: every kernel of the linear part takes at least kernel_s, however few its tokens (with
            # tensor parallelism each card runs all of them: the floor does not shrink with more cards)
            "_lin_fixed": m.layers * LINEAR_KERNELS_PER_LAYER * e.kernel_s,
            "_att_c": 4.0 * m.layers * attn_width / (peak * e.attn_mfu),  # s per attention pair
            "_att_kv": kv / (bw * e.attn_mbu),  # s per cached token read
            # Q read and the output written, plus K and V read, per prompt token (all layers)
            "_att_tok": (2 * attn_width + 2 * m.kv_heads * m.head_dim) * m.bytes_per_param * m.layers / (bw * e.attn_mbu),
            "_att_launch": m.layers * e.attn_launch_s,  # s per attention kernel run
            "_kv_w": kv / (bw * e.mbu),  # s per token written, at the memory roof
            "_kv_launch": m.layers * e.kv_write_launch_s,
            "_kv_tok": m.layers * e.kv_write_token_s,  # s per prompt token
        }
        per["_pass_fixed"] = per["_kv_launch"] + per["_lin_fixed"]  # both paid once by any pass with tokens
        for k, v in per.items():
            object.__setattr__(self, k, v)

    def _roof(self, compute: float, memory: float) -> float:
        if compute > memory:
            return compute + self.eff.exposed * memory
        return memory + self.eff.exposed * compute

    def parts(self, s: BatchShape) -> PassCost:
        tokens = s.prefill_tokens + s.decode_seqs
        lin_c, lin_m = self._lin_c * tokens, self._lin_m if tokens else 0.0
        linear = self._roof(lin_c, lin_m) + self._lin_act * tokens + (self._lin_fixed if tokens else 0.0)
        att_c = att_m = attention = 0.0
        if s.prefill_tokens:
            c = self._att_c * s.prefill_attn_pairs
            m = self._att_kv * s.prefill_cached_tokens + self._att_tok * s.prefill_tokens
            att_c, att_m, attention = c, m, self._att_launch + self._roof(c, m)
        if s.decode_seqs > s.padding_seqs:
            c = self._att_c * s.decode_context_tokens
            m = self._att_kv * s.decode_context_tokens
            att_c, att_m, attention = att_c + c, att_m + m, attention + self._att_launch + self._roof(c, m)
        kv_write = 0.0
        if tokens:
            kv_write = self._kv_launch + self._kv_w * tokens + self._kv_tok * s.prefill_tokens
        overhead = self.overhead_s + self.overhead_per_seq_s * (s.decode_seqs + s.prefill_seqs)
        extra = self.reorg_s * (s.joins + s.leaves) + s.swap_tokens * self.model.kv_bytes_per_token / self.hw.host_link_bytes_per_s
        bound = "compute" if lin_c + att_c > lin_m + att_m else "memory"
        return PassCost(lin_c, lin_m, linear, att_c, att_m, attention, kv_write, overhead, extra, bound,
                        self._lin_fixed if tokens else 0.0)

    def iteration_time(self, s: BatchShape) -> float:
        # The same sum as parts(), without building the breakdown (the simulator's inner loop).
        exposed = self.eff.exposed
        tokens = s.prefill_tokens + s.decode_seqs
        t = self.overhead_s + self.overhead_per_seq_s * (s.decode_seqs + s.prefill_seqs)
        if tokens:
            c, m = self._lin_c * tokens, self._lin_m
            t += (c + exposed * m if c > m else m + exposed * c) + self._lin_act * tokens
            t += self._pass_fixed + self._kv_w * tokens + self._kv_tok * s.prefill_tokens
        if s.prefill_tokens:
            c = self._att_c * s.prefill_attn_pairs
            m = self._att_kv * s.prefill_cached_tokens + self._att_tok * s.prefill_tokens
            t += self._att_launch + (c + exposed * m if c > m else m + exposed * c)
        if s.decode_seqs > s.padding_seqs:
            c = self._att_c * s.decode_context_tokens
            m = self._att_kv * s.decode_context_tokens
            t += self._att_launch + (c + exposed * m if c > m else m + exposed * c)
        t += self.reorg_s * (s.joins + s.leaves)
        if s.swap_tokens:
            t += s.swap_tokens * self.model.kv_bytes_per_token / self.hw.host_link_bytes_per_s
        return t

    def decode_line(self, decode_seqs: int, padding: int = 0) -> tuple[float, float, float, float, float]:
        """A decode-only pass of ``decode_seqs`` sequences (``padding`` of them static batching's padding)
        as ``fixed + max(c0 + c1 x ctx, m0 + m1 x ctx)`` seconds for ``ctx`` cached context tokens, so a
        steady stretch of passes is priced without building a BatchShape per pass. Only decode attention
        grows with the context, and its roofline of two terms proportional to ctx is one slope."""
        tokens = decode_seqs
        c, m = self._lin_c * tokens, self._lin_m
        fixed = self._roof(c, m) + self._lin_act * tokens + self._pass_fixed + self._kv_w * tokens
        fixed += self.overhead_s + self.overhead_per_seq_s * decode_seqs
        slope = 0.0
        if decode_seqs > padding:
            fixed += self._att_launch
            slope = self._roof(self._att_c, self._att_kv)
        return (fixed, 0.0, slope, 0.0, slope)

    def ridge_tokens(self, at_peak: bool = False) -> float:
        """Tokens per pass at which the linear layers' compute time equals their weights-read time: below
        it a pass costs about the same whatever its size (memory-bound), above it grows with every token."""
        if at_peak:
            m, hw = self.model, self.hw
            return (hw.peak_flops / hw.bandwidth_bytes_per_s) * m.bytes_per_param / 2.0
        return self._lin_m / self._lin_c

    def weights_floor_s(self) -> float:
        """A floor under every pass's GPU time: every block weight read once at ``bandwidth x mbu`` (a pass also
        pays each kernel's least time, ``kernel_s``, and its attention and KV write)."""
        return self._lin_m

    def numbers(self) -> list[Number]:
        """Every number the preset rests on, with its unit and source (the model, the card, the fit)."""
        m, hw, e = self.model, self.hw, self.eff
        fit = e.source
        return [
            Number("parameters", m.params / 1e9, "billion", m.source),
            Number("block linear-layer parameters", m.block_params / 1e9, "billion",
                   "layers x (Q, K, V, O projections + 3 MLP matrices); no embedding, no LM head"),
            Number("weights read per pass", m.block_params * m.bytes_per_param / GB, "GB",
                   f"{m.bytes_per_param} bytes per parameter"),
            Number("KV cache per token", m.kv_bytes_per_token / 1024, "KiB",
                   f"2 x {m.layers} layers x {m.kv_heads} KV heads x {m.head_dim} x {m.bytes_per_param} bytes"),
            Number("cards", hw.count, "", hw.source),
            Number("peak compute", hw.peak_flops * hw.count / 1e12, "TFLOP/s", "dense 16-bit, " + hw.source),
            Number("memory bandwidth", hw.bandwidth_bytes_per_s * hw.count / GB, "GB/s", hw.source),
            Number("memory", hw.memory_bytes * hw.count / GB, "GB", hw.source),
            Number("MFU (linear layers)", e.mfu, "fraction of peak", fit),
            Number("MBU (weights, KV write)", e.mbu, "fraction of peak", fit),
            Number("exposed share of the shorter roof", e.exposed, "fraction", fit + "; 0 = max, 1 = sum"),
            Number("least time of one kernel", e.kernel_s * 1e6, "us",
                   f"{KERNEL_S_SOURCE}; {LINEAR_KERNELS_PER_LAYER} kernels per layer in the linear part"),
            Number("attention MFU", e.attn_mfu, "fraction of peak", fit),
            Number("attention MBU (KV read)", e.attn_mbu, "fraction of peak", fit),
            Number("attention launch per layer per kernel", e.attn_launch_s * 1e6, "us", fit),
            Number("KV write launch per layer", e.kv_write_launch_s * 1e6, "us", fit),
            Number("KV write per prompt token per layer", e.kv_write_token_s * 1e6, "us", fit),
            Number("CPU overhead per pass", self.overhead_s * 1e3, "ms", CPU_OVERHEAD.source),
            Number("CPU overhead per sequence", self.overhead_per_seq_s * 1e3, "ms", CPU_OVERHEAD.source),
            Number("reorganization per join/leave", self.reorg_s * 1e3, "ms", "C4: a teaching parameter"),
            Number("ridge point (linear layers)", self.ridge_tokens(), "tokens per pass",
                   "compute time = weights-read time at the fitted MFU and MBU"),
            Number("weights-read floor", self.weights_floor_s() * 1e3, "ms", "no pass takes less GPU time"),
        ]

    def describe(self) -> list[tuple[str, str, str]]:
        return [(n.quantity, _fmt_number(n), n.source) for n in self.numbers()]


def _fmt_number(n: Number) -> str:
    v = n.value
    text = f"{v:,.0f}" if abs(v) >= 100 or float(v).is_integer() else f"{v:.3g}"
    return f"{text} {n.unit}".strip()


SMALL_BATCH_TOKENS = 4  # LinearCost: below this many tokens a pass pays extra per token (knees of 3-6 fit alike)


@dataclass(frozen=True)
class LinearCost:
    """Per-iteration time as a sum of separately priced kinds of work (the tiny model on a CPU).

    The defaults are one calibration on the development machine (a 2-core x86 CPU, torch on 1 thread,
    R^2 0.999, 6% held-out error); ``sim.real.calibrate`` fits the numbers of the machine at hand."""

    overhead_s: float = 1.8e-3  # fixed per pass: Python and framework dispatch, embeddings, final norm
    per_prefill_token_s: float = 7.5e-5  # MLP + projections per prompt token
    per_attn_pair_s: float = 1.7e-7  # attention score per (query token, cached token) pair in prefill
    per_decode_seq_s: float = 2.6e-4  # per decoding sequence: its token's matmuls, attention call, cache write
    per_context_token_s: float = 1.0e-6  # per cached token a decode step reads
    per_prefill_seq_s: float = 3.1e-4  # per prefilled sequence: its own attention call and cache write
    # Each of a pass's first SMALL_BATCH_TOKENS tokens costs this much more: with a handful of rows the
    # matmuls are bound by reading the weights, not by arithmetic (a small roofline), so a pass of 1-4
    # tokens costs more per token than a big one. Without it, single-sequence passes were priced ~10% off.
    per_small_batch_token_s: float = 2.0e-4
    # A padding slot of a static batch: one token through the matmuls and a cache write, but no context
    # to read (measured: cheaper than a live decode row, whose cache sits among other sequences' memory).
    per_padding_seq_s: float = 2.2e-4
    reorg_s: float = 0.0  # joins/leaves are part of the measured Python overhead on the real executor
    fit_r2: float | None = None  # quality of the fit that produced these numbers (None = defaults)
    fitted_on: str = ""  # device and time of the calibration
    fit_mape_pct: float | None = None  # mean absolute % error on held-out calibration shapes

    def iteration_time(self, s: BatchShape) -> float:
        tokens = s.prefill_tokens + s.decode_seqs
        return (self.overhead_s + self.per_prefill_token_s * s.prefill_tokens
                + self.per_attn_pair_s * s.prefill_attn_pairs
                + self.per_decode_seq_s * (s.decode_seqs - s.padding_seqs) + self.per_padding_seq_s * s.padding_seqs
                + self.per_context_token_s * s.decode_context_tokens
                + self.per_prefill_seq_s * s.prefill_seqs + self.reorg_s * (s.joins + s.leaves)
                + self.per_small_batch_token_s * min(tokens, SMALL_BATCH_TOKENS))

    def parts(self, s: BatchShape) -> PassCost:
        """The same sum split as a GPU pass is: per-token and per-sequence work in the linear part, attention
        pairs, context reads and per-prefill calls in the attention part. The CPU is the only resource, so
        the bound is "compute"; the KV write is inside the per-token and per-sequence prices."""
        tokens = s.prefill_tokens + s.decode_seqs
        linear = (self.per_prefill_token_s * s.prefill_tokens
                  + self.per_decode_seq_s * (s.decode_seqs - s.padding_seqs) + self.per_padding_seq_s * s.padding_seqs
                  + self.per_small_batch_token_s * min(tokens, SMALL_BATCH_TOKENS))
        attention = (self.per_attn_pair_s * s.prefill_attn_pairs + self.per_context_token_s * s.decode_context_tokens
                     + self.per_prefill_seq_s * s.prefill_seqs)
        return PassCost(linear, 0.0, linear, attention, 0.0, attention, 0.0, self.overhead_s,
                        self.reorg_s * (s.joins + s.leaves), "compute")

    def scaled(self, factor: float) -> "LinearCost":
        """Every price times ``factor``: the same machine, uniformly faster or slower."""
        return replace(self, **{f.name: getattr(self, f.name) * factor for f in fields(self) if f.name.endswith("_s")})

    def decode_line(self, decode_seqs: int, padding: int = 0) -> tuple[float, float, float, float, float]:
        """Same form as RooflineCost.decode_line: both 'roofs' are the one line here."""
        base = (self.per_decode_seq_s * (decode_seqs - padding) + self.per_padding_seq_s * padding
                + self.per_small_batch_token_s * min(decode_seqs, SMALL_BATCH_TOKENS))
        return (self.overhead_s, base, self.per_context_token_s, base, self.per_context_token_s)

    def describe(self) -> list[tuple[str, str, str]]:
        fit = "defaults (not calibrated)" if self.fit_r2 is None else f"R^2 = {self.fit_r2:.3f} ({self.fitted_on})"
        if self.fit_mape_pct is not None:
            fit += f"; held-out error {self.fit_mape_pct:.1f}%"
        return [
            ("model", "tiny", MODELS["tiny"].source),
            ("fixed overhead per pass", f"{self.overhead_s * 1e3:.3f} ms", fit),
            ("per prefill token", f"{self.per_prefill_token_s * 1e6:.2f} us", ""),
            ("per prefill attention pair", f"{self.per_attn_pair_s * 1e9:.3f} ns", "prompt length squared"),
            ("per prefilled sequence", f"{self.per_prefill_seq_s * 1e6:.1f} us", ""),
            ("per decoding sequence", f"{self.per_decode_seq_s * 1e6:.1f} us", ""),
            ("per padding slot (static)", f"{self.per_padding_seq_s * 1e6:.1f} us", "no context to read"),
            ("per context token read", f"{self.per_context_token_s * 1e9:.2f} ns", ""),
            (f"per token of the first {SMALL_BATCH_TOKENS} in a pass", f"{self.per_small_batch_token_s * 1e6:.1f} us",
             "small batches read the weights for few rows"),
        ]


ACTIVATION_RESERVE = 0.10  # share of device memory kept for activations and framework workspace


def kv_capacity_tokens(model: ModelSpec, hw: HardwareSpec) -> int:
    """KV tokens that fit after the weights and the activation reserve; refuses a model that cannot fit."""
    total = hw.memory_bytes * hw.count
    free = total * (1 - ACTIVATION_RESERVE) - model.weight_bytes
    if free <= 0:
        raise ConfigError("model", f"{model.name} weights ({model.weight_bytes / GB:.0f} GB) do not fit in "
                                   f"{hw.count} x {hw.name} ({total / GB:.0f} GB less a "
                                   f"{ACTIVATION_RESERVE:.0%} activation reserve); choose more cards, "
                                   "e.g. --hardware 4xh100-80gb")
    return int(free // model.kv_bytes_per_token)


def build_cost_model(model_name: str, hw_name: str, reorg_s: float | None = None,
                     overhead_s: float | None = None, linear: LinearCost | None = None):
    """The cost model for a (model, hardware) preset pair, with optional overrides."""
    if model_name not in MODELS:
        raise ConfigError("model", f"unknown model {model_name!r}; choose one of {', '.join(MODELS)}")
    if hw_name not in HARDWARE:
        raise ConfigError("hardware", f"unknown hardware {hw_name!r}; choose one of {', '.join(HARDWARE)}")
    for name, v in (("reorg_s", reorg_s), ("overhead_s", overhead_s)):
        if v is not None and not (0 <= v <= 10 and math.isfinite(v)):
            raise ConfigError(name, f"must be between 0 and 10 seconds, got {v}")
    changes = {k: v for k, v in (("reorg_s", reorg_s), ("overhead_s", overhead_s)) if v is not None}
    if hw_name == "tiny-cpu" or model_name == "tiny":
        if not (hw_name == "tiny-cpu" and model_name == "tiny"):
            raise ConfigError("hardware", "the tiny model runs only on tiny-cpu, and tiny-cpu runs only the tiny model")
        return replace(linear or LinearCost(), **changes)
    hw = HARDWARE[hw_name]
    return replace(RooflineCost(MODELS[model_name], hw, EFFICIENCY[hw.card]), **changes)


def price_pass(model_name: str, hw_name: str, prefill: int = 0, cached: int = 0, decode: int = 0,
               context: int = 0, check_fit: bool = True) -> PassCost:
    """One pass priced by the preset pair, its parts and bound (``python -m sim cost``). Refuses, naming
    the flag, a negative count and (with ``check_fit``) a pass whose KV cache does not fit the cards."""
    for flag, v in (("prefill", prefill), ("cached", cached), ("decode", decode), ("context", context)):
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise ConfigError(flag, f"must be a whole number of tokens >= 0, got {v!r}")
    if cached and not prefill:
        raise ConfigError("cached", "tokens already cached belong to a prompt chunk: give --prefill too")
    if context and not decode:
        raise ConfigError("context", "context is per decoding sequence: give --decode too")
    if not prefill and not decode:
        raise ConfigError("prefill", "a pass computes at least one token: give --prefill P or --decode B")
    cost = build_cost_model(model_name, hw_name)
    if check_fit:
        capacity = kv_capacity_tokens(MODELS[model_name], HARDWARE[hw_name])
        if hw_name == "tiny-cpu":
            capacity = min(capacity, 65_536)  # the real executor preallocates this much
        prompt = cached + prefill
        held = prompt + decode * (context + 1)
        if held > capacity:
            if prompt > capacity:  # the prompt alone does not fit: name the larger of its two parts
                flag = "cached" if cached > prefill else "prefill"
            else:
                flag = "context" if decode * context > prompt else "decode"
            raise ConfigError(flag, f"the pass holds {held:,} KV tokens ({prompt:,} of the prompt + {decode:,} "
                                    f"sequences x {context + 1:,}); {model_name} on {hw_name} has room for "
                                    f"{capacity:,}")
    return cost.parts(pass_shape(prefill, cached, decode, context))
