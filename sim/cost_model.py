"""Cost model: how long one iteration (one forward pass) takes for a given batch composition.

Two implementations behind one method, ``iteration_time(shape)``:

* ``RooflineCost`` for real models on real accelerators: ``t = overhead + max(FLOPs / (peak x MFU),
  bytes / (bandwidth x MBU)) + reorg x (joins + leaves)``. FLOPs count the weights (2 x params per token)
  and attention (4 x layers x hidden per token per context token); bytes count the weights read once per
  pass plus every decoding sequence's KV cache. So batching is not free: a bigger batch reads more KV,
  and a prefill in the same pass makes the pass compute-bound, which is where decode stalls come from.
* ``LinearCost`` for the app's tiny torch model on a CPU (preset ``tiny-cpu``): a CPU is neither
  bandwidth- nor compute-roofline shaped at this size, so each kind of work gets its own coefficient,
  fitted by calibration (``sim.calibrate``): fixed overhead, per prefill token, per prefill attention
  pair (prompt length squared), per decoding sequence, per context token read by a decode.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields, replace

from sim.errors import ConfigError

GB = 1e9  # vendors quote memory and bandwidth in decimal GB; the UI says "GB" for 1e9 bytes


@dataclass(frozen=True)
class BatchShape:
    """What a forward pass computes, aggregated so the cost is a function of a few numbers."""

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


@dataclass(frozen=True)
class ModelSpec:
    """A decoder-only transformer as its config.json describes it."""

    name: str
    params: float  # parameters
    layers: int
    hidden: int
    heads: int
    kv_heads: int
    head_dim: int
    bytes_per_param: int = 2  # 16-bit weights and KV cache
    source: str = ""

    @property
    def kv_bytes_per_token(self) -> int:
        # K and V, every layer, every KV head (GQA shares a KV head among several query heads).
        return 2 * self.layers * self.kv_heads * self.head_dim * self.bytes_per_param

    @property
    def weight_bytes(self) -> float:
        return self.params * self.bytes_per_param


@dataclass(frozen=True)
class HardwareSpec:
    """One engine's accelerators (``count`` cards used with tensor parallelism)."""

    name: str
    peak_flops: float  # dense BF16/FP16 FLOP/s per card, no sparsity
    memory_bytes: float  # per card
    bandwidth_bytes_per_s: float  # memory bandwidth per card
    count: int = 1
    host_link_bytes_per_s: float = 25 * GB  # PCIe Gen4 x16 in practice (~25 of 32 GB/s): swap traffic
    source: str = ""


# Model numbers from each model's published config.json (see shared reference/specs.md).
MODELS: dict[str, ModelSpec] = {
    "llama-2-7b": ModelSpec("llama-2-7b", 6.74e9, 32, 4096, 32, 32, 128,
                            source="meta-llama/Llama-2-7b-hf config.json: 32 layers, hidden 4096, 32 heads, no GQA"),
    "llama-3-8b": ModelSpec("llama-3-8b", 8.03e9, 32, 4096, 32, 8, 128,
                            source="meta-llama/Meta-Llama-3-8B config.json: 32 layers, hidden 4096, 8 KV heads"),
    "llama-3-70b": ModelSpec("llama-3-70b", 70.6e9, 80, 8192, 64, 8, 128,
                             source="meta-llama/Meta-Llama-3-70B config.json: 80 layers, hidden 8192, 8 KV heads"),
    # The app's own torch model (sim.real_model): 4 layers, d_model 256, 4 heads, vocab 1000, fp32 on CPU.
    # 3,802,624 = TinyLM().num_params(): embeddings 256k + positions 131k + 4 x 790k + LM head 256k.
    "tiny": ModelSpec("tiny", 3.80e6, 4, 256, 4, 4, 64, bytes_per_param=4,
                      source="defined in this repo (sim/real_model.py), seeded random weights"),
}

# Accelerator numbers from the vendors' datasheets (dense tensor peak, no sparsity).
HARDWARE: dict[str, HardwareSpec] = {
    "a100-80gb": HardwareSpec("a100-80gb", 312e12, 80 * GB, 2039 * GB,
                              source="NVIDIA A100 datasheet: 312 TFLOP/s BF16, 80 GB HBM2e, 2,039 GB/s (SXM)"),
    "h100-80gb": HardwareSpec("h100-80gb", 989e12, 80 * GB, 3350 * GB,
                              source="NVIDIA H100 datasheet: 989 TFLOP/s BF16 dense, 80 GB HBM3, 3,350 GB/s (SXM5)"),
    "4xa100-80gb": HardwareSpec("4xa100-80gb", 312e12, 80 * GB, 2039 * GB, count=4,
                                source="4 x A100-80GB SXM with tensor parallelism (NVIDIA A100 datasheet)"),
    "4xh100-80gb": HardwareSpec("4xh100-80gb", 989e12, 80 * GB, 3350 * GB, count=4,
                                source="4 x H100-80GB SXM5 with tensor parallelism (NVIDIA H100 datasheet)"),
    # The local CPU running the tiny model: timing comes from LinearCost, memory is a plain budget.
    "tiny-cpu": HardwareSpec("tiny-cpu", 0.0, 2 * GB, 0.0, host_link_bytes_per_s=10 * GB,
                             source="this machine's CPU; coefficients fitted by `python -m sim validate`"),
}


@dataclass(frozen=True)
class RooflineCost:
    """Roofline per iteration for ``model`` on ``hw``; efficiency factors are named, not hidden."""

    model: ModelSpec
    hw: HardwareSpec
    mfu: float = 0.5  # model FLOPs utilization reached by prefill (40-60% is typical)
    mbu: float = 0.8  # fraction of peak memory bandwidth reached by decode
    overhead_s: float = 0.002  # scheduler + kernel launch time per pass (a few ms in real servers)
    reorg_s: float = 0.0002  # per sequence joining or leaving the batch (C4): metadata rebuild, copies

    def iteration_time(self, s: BatchShape) -> float:
        m, hw = self.model, self.hw
        attn_per_pair = 4.0 * m.layers * m.hidden  # QK^T and AV: 2 matmuls x 2 FLOPs per multiply-add
        flops = (2.0 * m.params * (s.prefill_tokens + s.decode_seqs)
                 + attn_per_pair * (s.prefill_attn_pairs + s.decode_context_tokens))
        kv = m.kv_bytes_per_token
        bytes_moved = (m.weight_bytes + kv * (s.decode_context_tokens + s.prefill_cached_tokens)
                       + kv * s.tokens)  # read weights once, read cached KV, write the new KV
        compute_s = flops / (hw.peak_flops * hw.count * self.mfu)
        memory_s = bytes_moved / (hw.bandwidth_bytes_per_s * hw.count * self.mbu)
        swap_s = s.swap_tokens * kv / hw.host_link_bytes_per_s
        return self.overhead_s + max(compute_s, memory_s) + self.reorg_s * (s.joins + s.leaves) + swap_s

    def decode_line(self, decode_seqs: int, padding: int = 0) -> tuple[float, float, float, float, float]:
        """A decode-only pass of ``decode_seqs`` sequences (``padding`` of them static batching's padding,
        priced like any decode here) as ``overhead + max(c0 + c1 x ctx, m0 + m1 x ctx)``
        seconds for ``ctx`` cached context tokens: the same roofline with the context pulled out, so a
        steady stretch of passes is priced without building a BatchShape per pass."""
        m, hw = self.model, self.hw
        kv = m.kv_bytes_per_token
        peak, bw = hw.peak_flops * hw.count * self.mfu, hw.bandwidth_bytes_per_s * hw.count * self.mbu
        return (self.overhead_s, 2.0 * m.params * decode_seqs / peak, 4.0 * m.layers * m.hidden / peak,
                (m.weight_bytes + kv * decode_seqs) / bw, kv / bw)

    def describe(self) -> list[tuple[str, str, str]]:
        m, hw = self.model, self.hw
        return [
            ("model", m.name, m.source),
            ("parameters", f"{m.params / 1e9:.2f} B", "weights read once per pass"),
            ("weights", f"{m.weight_bytes / GB:.1f} GB", f"{m.bytes_per_param} bytes per parameter"),
            ("KV cache per token", f"{m.kv_bytes_per_token / 1024:.0f} KiB",
             f"2 x {m.layers} layers x {m.kv_heads} KV heads x {m.head_dim} x {m.bytes_per_param} bytes"),
            ("accelerator", f"{hw.count} x {hw.name}", hw.source),
            ("peak compute", f"{hw.peak_flops * hw.count / 1e12:.0f} TFLOP/s", "dense 16-bit"),
            ("memory bandwidth", f"{hw.bandwidth_bytes_per_s * hw.count / GB:,.0f} GB/s", ""),
            ("MFU / MBU", f"{self.mfu:.0%} / {self.mbu:.0%}", "fraction of peak reached"),
            ("overhead per pass", f"{self.overhead_s * 1e3:.2f} ms", ""),
            ("reorganization per join/leave", f"{self.reorg_s * 1e3:.2f} ms", "C4"),
        ]


SMALL_BATCH_TOKENS = 4  # LinearCost: below this many tokens a pass pays extra per token (knees of 3-6 fit alike)


@dataclass(frozen=True)
class LinearCost:
    """Per-iteration time as a sum of separately priced kinds of work (the tiny model on a CPU).

    The defaults are one calibration on the development machine (a 2-core x86 CPU, torch on 1 thread,
    R^2 0.999, 6% held-out error); ``sim.calibrate`` fits the numbers of the machine at hand."""

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
    return replace(RooflineCost(MODELS[model_name], HARDWARE[hw_name]), **changes)
