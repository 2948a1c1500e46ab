"""Fit the GPU presets' efficiency factors to the measured passes and print the fit and its errors.

    python scripts/fit_costs.py            # fit on the rows marked split=main, report on the held-out rows
    python scripts/fit_costs.py --check    # also fail (exit 1) if sim/presets.py's numbers differ from the fit

What is fitted are physical factors of a card type (``sim.cost_model.Efficiency``) and of the serving
stack's CPU work (``CpuOverhead``), never a correction per shape; each part of the pass is fitted to its
own measured part, weighing its errors by the time of the pass it belongs to:

* linear layers (per card type): MFU, MBU and the exposed share of the shorter roof, to ``linear_ms`` of
  every row measured on that card (full passes and linear-only rows). The least time of one kernel
  (``KERNEL_S``, 9 kernels per layer) is an input, not fitted: the rows cannot tell it from MBU (both are
  the same at one token), so it is measured where it shows alone, in the norm and RoPE kernels of the same
  profiling data at one token (4 us on both cards);
* attention (A100: the only card with attention data): attention MFU, attention MBU and the launch time
  per layer per kernel, to ``attn_prefill_ms + attn_decode_ms``;
* KV-cache write (A100): the launch time per layer and the time per prompt token per layer, to
  ``kv_cache_save_ms`` (least absolute errors: the write has two per-token regimes, see fit()); the H100 takes the A100's attention and KV-write factors (no H100 data);
* CPU overhead: fixed + per sequence, least squares on the relative error of the ``cpu_overhead`` rows.

Then every row is priced with the fitted factors and the error table printed twice: the held-out rows
(never seen by the fit) and all rows, per (model, GPU, kind), with the issue's targets (median <= 5%,
largest <= 15% per kind).
"""

from __future__ import annotations

import argparse
import math
import statistics
import sys
from dataclasses import replace
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sim import gpu_passes as gp  # noqa: E402
from sim.cost_model import (CPU_OVERHEAD, EFFICIENCY, HARDWARE, KERNEL_S, MODELS, CpuOverhead,  # noqa: E402
                            Efficiency, RooflineCost)

FRACTIONS = ("mfu", "mbu", "exposed", "attn_mfu", "attn_mbu")  # fitted inside (0, 1)


def nelder_mead(f, x0: list[float], iterations: int = 3000, step: float = 0.3) -> list[float]:
    """Minimize f over unconstrained parameters (the simplex method; no SciPy in this project)."""
    n = len(x0)
    simplex = [list(x0)] + [[x + (step if i == j else 0.0) for j, x in enumerate(x0)] for i in range(n)]
    values = [f(x) for x in simplex]
    for _ in range(iterations):
        order = sorted(range(n + 1), key=values.__getitem__)
        simplex, values = [simplex[i] for i in order], [values[i] for i in order]
        if values[-1] - values[0] < 1e-15:
            break
        centre = [sum(p[j] for p in simplex[:-1]) / n for j in range(n)]
        worst = simplex[-1]
        def toward(t):
            return [c + t * (c - w) for c, w in zip(centre, worst)]
        xr = toward(1.0)
        fr = f(xr)
        if fr < values[0]:
            xe = toward(2.0)
            fe = f(xe)
            simplex[-1], values[-1] = (xe, fe) if fe < fr else (xr, fr)
        elif fr < values[-2]:
            simplex[-1], values[-1] = xr, fr
        else:
            xc = toward(-0.5)
            fc = f(xc)
            if fc < values[-1]:
                simplex[-1], values[-1] = xc, fc
            else:
                best = simplex[0]
                simplex = [best] + [[b + 0.5 * (x - b) for b, x in zip(best, p)] for p in simplex[1:]]
                values = [values[0]] + [f(p) for p in simplex[1:]]
    return simplex[min(range(n + 1), key=values.__getitem__)]


def to_free(name: str, v: float) -> float:
    return math.log(v / (1 - v)) if name in FRACTIONS else math.log(v)


def from_free(name: str, x: float) -> float:
    return 1 / (1 + math.exp(-x)) if name in FRACTIONS else math.exp(x)


def fit_part(eff: Efficiency, names: tuple, rows: list, measured, weight, norm: int = 2) -> Efficiency:
    """Fit ``names`` of ``eff`` so the part ``measured(row)`` names is priced well on ``rows``: minimize
    the sum of |error / weight(row)| ** norm (2: least squares; 1: least absolute errors)."""
    shapes = [(r, r.shape(), measured(r), weight(r)) for r in rows]
    part = {"linear": "linear_s", "attention": "attention_s", "kv_write": "kv_write_s"}[PART[names[0]]]

    def loss(x):
        e = replace(eff, **{n: from_free(n, v) for n, v in zip(names, x)})
        total = 0.0
        for r, shape, meas, w in shapes:
            cost = RooflineCost(MODELS[r.model], HARDWARE[r.hardware], e)
            pred = getattr(cost.parts(shape), part) * 1e3
            total += abs((pred - meas) / w) ** norm
        return total

    x = nelder_mead(loss, [to_free(n, getattr(eff, n)) for n in names])
    for step in (0.1, 0.03):  # restarts: the simplex method can stall on a ridge
        x = nelder_mead(loss, x, step=step)
    return replace(eff, **{n: from_free(n, v) for n, v in zip(names, x)})


PART = {"mfu": "linear", "attn_mfu": "attention", "kv_write_launch_s": "kv_write"}


def fit(rows: list) -> tuple[dict[str, Efficiency], CpuOverhead]:
    main = [r for r in rows if r.split == "main"]
    start = Efficiency(mfu=0.6, mbu=0.7, exposed=0.3, attn_mfu=0.5, attn_mbu=0.8, attn_launch_s=2e-5,
                       kv_write_launch_s=3e-6, kv_write_token_s=5e-7, kernel_s=KERNEL_S)
    effs = {}
    for card in ("a100", "h100"):
        mine = [r for r in main if r.gpu == card and r.linear_ms is not None and r.model in MODELS]
        # One row per (model, tokens): decode rows at two contexts share the same linear layers.
        seen, lin_rows = set(), []
        for r in mine:
            key = (r.model, r.prompt_tokens + r.batch)
            if key not in seen:
                seen.add(key)
                lin_rows.append(r)
        eff = fit_part(start, ("mfu", "mbu", "exposed"), lin_rows, lambda r: r.linear_ms, lambda r: r.linear_ms)
        attn_rows = [r for r in mine if r.attention_ms is not None]
        if attn_rows:
            eff = fit_part(eff, ("attn_mfu", "attn_mbu", "attn_launch_s"), attn_rows,
                           lambda r: r.attention_ms, lambda r: r.measured_ms)
            # Least absolute errors: the measured write takes ~9 us per prompt token up to 512 tokens and
            # ~18 us from 1,024 on; squares would average the two regimes, absolute errors follow the
            # typical rows (and the pass errors that the targets count).
            eff = fit_part(eff, ("kv_write_launch_s", "kv_write_token_s"), attn_rows,
                           lambda r: r.kv_write_ms, lambda r: r.measured_ms, norm=1)
        effs[card] = eff
    a100 = effs["a100"]
    effs["h100"] = replace(effs["h100"], **{n: getattr(a100, n) for n in (
        "attn_mfu", "attn_mbu", "attn_launch_s", "kv_write_launch_s", "kv_write_token_s")})
    # CPU overhead: relative least squares of y = a + b x, solved in closed form (weights 1 / y^2).
    cpu = [r for r in main if r.kind == "cpu_overhead"]
    w = [1 / r.measured_ms ** 2 for r in cpu]
    sw = sum(w)
    sx = sum(wi * r.batch for wi, r in zip(w, cpu))
    sy = sum(wi * r.measured_ms for wi, r in zip(w, cpu))
    sxx = sum(wi * r.batch ** 2 for wi, r in zip(w, cpu))
    sxy = sum(wi * r.batch * r.measured_ms for wi, r in zip(w, cpu))
    b = (sw * sxy - sx * sy) / (sw * sxx - sx ** 2)
    a = (sy - b * sx) / sw
    return effs, replace(CPU_OVERHEAD, fixed_s=a / 1e3, per_seq_s=b / 1e3)


def costs_for(rows: list, effs: dict, cpu: CpuOverhead) -> dict:
    return {(r.model, r.gpu): RooflineCost(MODELS[r.model], HARDWARE[r.hardware], effs[r.gpu], cpu.fixed_s,
                                           cpu.per_seq_s)
            for r in rows if r.model in MODELS}


def print_table(title: str, table: list) -> None:
    print(f"\n{title}")
    print(f"{'model':<11} {'gpu':<5} {'kind':<20} {'rows':>4} {'median |err|':>13} {'largest |err|':>14}  targets")
    for k in table:
        print(f"{k.model:<11} {k.gpu:<5} {k.kind:<20} {k.rows:>4} {k.median_abs_pct:>12.1f}% {k.max_abs_pct:>13.1f}%  "
              f"{'met' if k.within_targets else 'MISSED'}")


def rounded(v: float) -> float:
    return float(f"{v:.3g}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--check", action="store_true",
                    help="exit 1 if the factors in sim/presets.py are not this fit's (to 3 significant digits)")
    args = ap.parse_args(argv)
    rows = gp.load()
    effs, cpu = fit(rows)
    effs = {k: replace(e, **{f: rounded(getattr(e, f)) for f in e.__dataclass_fields__ if f != "source"})
            for k, e in effs.items()}
    cpu = replace(cpu, fixed_s=rounded(cpu.fixed_s), per_seq_s=rounded(cpu.per_seq_s))
    print(f"Fitted on the {sum(r.split == 'main' for r in rows)} rows marked main of {gp.DATA.name} "
          f"({len(rows)} rows; source: {gp.SOURCE}).")
    for card, e in effs.items():
        print(f"\n{card}: MFU {e.mfu:.3g}, MBU {e.mbu:.3g}, exposed share {e.exposed:.3g}; attention MFU "
              f"{e.attn_mfu:.3g}, MBU {e.attn_mbu:.3g}, launch {e.attn_launch_s * 1e6:.3g} us/layer/kernel; "
              f"KV write launch {e.kv_write_launch_s * 1e6:.3g} us/layer, {e.kv_write_token_s * 1e6:.3g} us per "
              f"prompt token per layer; least time of one kernel {e.kernel_s * 1e6:.3g} us (measured, not fitted)")
        print("  " + ", ".join(f"{f}={getattr(e, f)!r}" for f in e.__dataclass_fields__ if f != "source"))
    print(f"\nCPU overhead: {cpu.fixed_s * 1e3:.3g} ms + {cpu.per_seq_s * 1e3:.3g} ms per sequence "
          f"(fixed_s={cpu.fixed_s!r}, per_seq_s={cpu.per_seq_s!r})")
    compared = gp.compare(rows, costs_for(rows, effs, cpu))
    held = gp.error_table(compared, "heldout")
    every = gp.error_table(compared)
    print_table("Held-out rows (not fitted on):", held)
    print_table("All rows:", every)
    worst = max(compared, key=lambda c: abs(c.error_pct))
    r = worst.row
    print(f"\nLargest error: {r.model} {r.gpu} {r.kind} prompt {r.prompt_tokens} cached {r.cached_tokens} batch "
          f"{r.batch} context {r.context}: predicted {worst.predicted_ms:.2f} ms, measured {r.measured_ms:.2f} ms "
          f"({worst.error_pct:+.1f}%)")
    ok = all(k.within_targets for k in every)
    if args.check:
        code = {k: replace(EFFICIENCY[k], source="") for k in effs}
        fitted = {k: replace(e, source="") for k, e in effs.items()}
        same_cpu = (CPU_OVERHEAD.fixed_s, CPU_OVERHEAD.per_seq_s) == (cpu.fixed_s, cpu.per_seq_s)
        if code != fitted or not same_cpu:
            print("\nsim/presets.py's EFFICIENCY / CpuOverhead differ from this fit: paste the numbers above")
            return 1
        print("\nsim/presets.py holds these numbers.")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
