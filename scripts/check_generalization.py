"""Hold the fitted linear-layer factors against every model Vidur profiled on the A100 and H100, not only the two
pairs in ``sim/data/gpu-passes.csv`` that the fit saw.

    python scripts/check_generalization.py --vidur PATH    # PATH: a checkout of github.com/microsoft/vidur

Vidur's ``data/profiling/compute/<gpu>/<org>/<model>/mlp.csv`` holds, per token count (1 to 4,096 or 8,192),
the median time of each operation of one layer's linear part (projections, norms, RoPE, activation, add), the
same sum ``gpu-passes.csv``'s linear-layer rows are made of. This script rebuilds each model's shape from the
file's own columns (heads, KV heads, hidden, MLP width; gated MLPs only, one card), prices one layer's linear
part with the card's presets (``sim.presets.EFFICIENCY``) and prints the median and largest absolute error at
the token counts of ``gpu-passes.csv`` (prefill 128-4,096, decode batches 1-256) and over every token count.
Nothing is fitted here and nothing is downloaded; the data is read from PATH. The two pairs the fit saw are
marked ``(fitted)``.
"""

from __future__ import annotations

import argparse
import csv
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from sim.cost_model import EFFICIENCY, HARDWARE, RooflineCost, pass_shape  # noqa: E402
from sim.presets import ModelSpec  # noqa: E402

OPS = ("attn_pre_proj", "attn_post_proj", "mlp_up_proj", "mlp_down_proj", "attn_rope", "input_layernorm",
       "post_attention_layernorm", "mlp_act", "add")  # as gpu-passes.md sums them
PREFILL = (128, 256, 512, 768, 1024, 1536, 2048, 3072, 4096)  # the token counts of gpu-passes.csv
DECODE = (1, 4, 8, 16, 32, 64, 96, 128, 192, 256)
FITTED = {("a100", "Meta-Llama-3-8B"), ("h100", "Llama-2-7b-hf")}


def per_layer_ms(path: Path) -> tuple[tuple, dict]:
    """(heads, KV heads, hidden, MLP width) and token count -> one layer's linear-part time (ms, median over
    the file's rows for that count), from the tensor-parallel-1 rows of a gated-MLP model's mlp.csv."""
    times, shape = {}, None
    with open(path, newline="") as f:
        for r in csv.DictReader(f):
            if r.get("num_tensor_parallel_workers") != "1" or r.get("use_gated_mlp") != "True":
                continue
            shape = (int(r["n_head"]), int(r["n_kv_head"]), int(r["n_embd"]), int(r["n_expanded_embd"]))
            times.setdefault(int(r["num_tokens"]), []).append(sum(float(r[f"time_stats.{op}.median"]) for op in OPS))
    return shape, {n: statistics.median(v) for n, v in times.items()}


def errors(gpu: str, shape: tuple, measured: dict) -> dict:
    heads, kv_heads, hidden, ffn = shape
    model = ModelSpec("vidur", 0.0, 1, hidden, heads, kv_heads, hidden // heads, ffn, vocab=0)
    cost = RooflineCost(model, HARDWARE[f"{gpu}-80gb"], EFFICIENCY[gpu])

    def abs_pct(counts):
        return [abs(cost.parts(pass_shape(decode=n)).linear_s * 1e3 / measured[n] - 1) * 100
                for n in counts if n in measured]
    return {"prefill sizes": abs_pct(PREFILL), "decode sizes": abs_pct(DECODE), "every size": abs_pct(sorted(measured))}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--vidur", required=True, type=Path, help="a checkout of github.com/microsoft/vidur")
    args = ap.parse_args(argv)
    root = args.vidur / "data" / "profiling" / "compute"
    files = sorted(p for gpu in ("a100", "h100") for p in (root / gpu).glob("*/*/mlp.csv"))
    if not files:
        print(f"error: --vidur: no data/profiling/compute/{{a100,h100}}/*/*/mlp.csv under {args.vidur}", file=sys.stderr)
        return 2
    print("median / largest absolute error of the linear layers' time, per layer, one card\n")
    print(f"{'gpu':<5} {'model':<36} {'prefill sizes':>15} {'decode sizes':>15} {'every size':>15}")
    for path in files:
        gpu, name = path.parts[-4], path.parts[-2]
        shape, measured = per_layer_ms(path)
        if shape is None:
            continue  # not a gated MLP (e.g. phi-2): outside what the presets describe
        e = errors(gpu, shape, measured)
        label = name + (" (fitted)" if (gpu, name) in FITTED else "")
        print(f"{gpu:<5} {label:<36} " + " ".join(
            f"{statistics.median(v):>6.1f}% /{max(v):>5.1f}%" for v in e.values()))
    return 0


if __name__ == "__main__":
    sys.exit(main())
