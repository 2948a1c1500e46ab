"""Measured GPU passes (``sim/data/gpu-passes.csv``) and the presets' predictions for them.

The rows are per-iteration kernel times measured on real A100 and H100 GPUs (Microsoft Vidur's public
profiling data, summed as Vidur sums them; provenance and licence in ``sim/data/README.md``). Each row is
priced by the preset cost model (``sim.cost_model``) and compared the way the issue's targets read:

* full passes (kinds ``prefill``, ``decode``, ``mixed``, ``chunked_prefill``): the GPU part of the pass
  (linear + attention + KV write, i.e. ``pass_ms - overhead_ms``) against ``measured_ms``;
* ``prefill_linear_only`` / ``decode_linear_only``: the linear layers (``linear_ms``) against ``measured_ms``;
* ``cpu_overhead``: the CPU overhead per iteration (``overhead_ms``) against ``measured_ms``.

What the data does not cover: it is kernel time only (no embedding, final norm, LM head or sampling on the
GPU), one card (tensor parallel 1), fp16; the H100 rows are linear layers only.
"""

from __future__ import annotations

import csv
import statistics
from dataclasses import dataclass, replace
from pathlib import Path

from sim.cost_model import MODELS, BatchShape, RooflineCost, build_cost_model, pass_shape

DATA = Path(__file__).parent / "data" / "gpu-passes.csv"
SOURCE = ("Microsoft Vidur's public profiling data (github.com/microsoft/vidur, data/profiling: mlp.csv, "
          "attention.csv, cpu_overheads.csv), fp16, one card; copied into sim/data/gpu-passes.csv")
NOT_COVERED = ("kernel time only: no embedding, final norm, LM head or sampling on the GPU; one card "
               "(no tensor parallelism); H100 rows cover the linear layers only")

HARDWARE_OF = {"a100": "a100-80gb", "h100": "h100-80gb"}  # the CSV's gpu column -> hardware preset
PASS_KINDS = ("prefill", "decode", "mixed", "chunked_prefill")
LINEAR_KINDS = ("prefill_linear_only", "decode_linear_only")
KINDS = PASS_KINDS + LINEAR_KINDS + ("cpu_overhead",)


@dataclass(frozen=True)
class MeasuredPass:
    """One row of gpu-passes.csv: a pass's shape and its measured time (ms), with the measured parts."""

    model: str
    gpu: str
    kind: str
    prompt_tokens: int
    batch: int  # decoding sequences (cpu_overhead: sequences in the iteration)
    context: int  # KV tokens per decoding sequence
    cached_tokens: int  # tokens already cached before the prompt chunk
    measured_ms: float
    split: str  # "main" (fitted on) or "heldout" (reported on); cpu_overhead rows: see cpu_split()
    linear_ms: float | None
    attention_ms: float | None  # attn_prefill_ms + attn_decode_ms
    kv_write_ms: float | None  # kv_cache_save_ms
    fits_80gb: bool | None

    @property
    def hardware(self) -> str:
        return HARDWARE_OF[self.gpu]

    def shape(self) -> BatchShape:
        if self.kind == "cpu_overhead":
            return BatchShape(decode_seqs=self.batch)
        return pass_shape(self.prompt_tokens, self.cached_tokens, self.batch, self.context)


def _num(text: str) -> float | None:
    return float(text) if text not in ("", None) else None


def load(path: Path = DATA) -> list[MeasuredPass]:
    rows = []
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            attn = None
            if r["attn_prefill_ms"] != "":
                attn = float(r["attn_prefill_ms"]) + float(r["attn_decode_ms"])
            rows.append(MeasuredPass(
                model=r["model"], gpu=r["gpu"], kind=r["kind"], prompt_tokens=int(r["prompt_tokens"]),
                batch=int(r["batch"]), context=int(r["context"] or 0), cached_tokens=int(r["cached_tokens"] or 0),
                measured_ms=float(r["measured_ms"]), split=r["split"], linear_ms=_num(r["linear_ms"]),
                attention_ms=attn, kv_write_ms=_num(r["kv_cache_save_ms"]),
                fits_80gb=None if r["fits_80gb"] == "" else r["fits_80gb"] == "True"))
    # The CPU rows carry no split: every other batch size is held out (8, 24, ... fitted; 16, 32, ... reported).
    cpu = sorted((r for r in rows if r.kind == "cpu_overhead"), key=lambda r: (r.model, r.gpu, r.batch))
    held = {id(r) for r in cpu[1::2]}
    return [replace(r, split="heldout" if id(r) in held else "main") if r.kind == "cpu_overhead" else r
            for r in rows]


def predicted_ms(cost: RooflineCost, r: MeasuredPass) -> float:
    """The preset's number for what the row measured (see the module docstring)."""
    p = cost.parts(r.shape())
    if r.kind == "cpu_overhead":
        return p.overhead_s * 1e3
    if r.kind in LINEAR_KINDS:
        return p.linear_s * 1e3
    return p.gpu_s * 1e3


@dataclass(frozen=True)
class Compared:
    row: MeasuredPass
    predicted_ms: float

    @property
    def error_pct(self) -> float:
        return (self.predicted_ms / self.row.measured_ms - 1.0) * 100.0


def compare(rows: list[MeasuredPass] | None = None, costs: dict | None = None) -> list[Compared]:
    """Every row priced by its (model, hardware) preset; ``costs`` maps (model, gpu) to a cost model to use
    instead (the fit script prices candidate factors this way)."""
    rows = load() if rows is None else rows
    out = []
    for r in rows:
        if r.model not in MODELS:
            continue
        cost = (costs or {}).get((r.model, r.gpu)) or build_cost_model(r.model, r.hardware)
        out.append(Compared(r, predicted_ms(cost, r)))
    return out


@dataclass(frozen=True)
class KindError:
    model: str
    gpu: str
    kind: str
    rows: int
    median_abs_pct: float
    max_abs_pct: float

    @property
    def within_targets(self) -> bool:
        return self.median_abs_pct <= 5.0 and self.max_abs_pct <= 15.0


def error_table(compared: list[Compared], split: str | None = None) -> list[KindError]:
    """Median and largest absolute error per (model, gpu, kind); ``split`` keeps only main or heldout rows."""
    groups: dict[tuple, list[float]] = {}
    for c in compared:
        if split is None or c.row.split == split:
            groups.setdefault((c.row.model, c.row.gpu, c.row.kind), []).append(abs(c.error_pct))
    order = {k: i for i, k in enumerate(KINDS)}
    return [KindError(m, g, k, len(e), statistics.median(e), max(e))
            for (m, g, k), e in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1], order[kv[0][2]]))]
