"""Presets: every number the GPU cost model rests on, each with its unit and source.

* ``MODELS``: decoder-only transformers as their published config.json files describe them;
* ``HARDWARE``: accelerators by their datasheets (dense 16-bit peak, memory, bandwidth), one or four cards;
* ``EFFICIENCY``: how close one card type's kernels get to its datasheet numbers, fitted by
  ``scripts/fit_costs.py`` to passes measured on real A100 and H100 GPUs (``sim/data/gpu-passes.csv``);
* ``CPU_OVERHEAD``: the serving stack's CPU time per iteration, fitted to the same data.

``sim.cost_model`` turns them into the time of a pass.
"""

from __future__ import annotations

from dataclasses import dataclass

GB = 1e9  # vendors quote memory and bandwidth in decimal GB; the UI says "GB" for 1e9 bytes


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
    ffn_hidden: int  # MLP width (intermediate_size): gate, up and down projections
    vocab: int
    bytes_per_param: int = 2  # 16-bit weights and KV cache
    source: str = ""

    @property
    def kv_bytes_per_token(self) -> int:
        # K and V, every layer, every KV head (GQA shares a KV head among several query heads).
        return 2 * self.layers * self.kv_heads * self.head_dim * self.bytes_per_param

    @property
    def weight_bytes(self) -> float:
        return self.params * self.bytes_per_param

    @property
    def activation_bytes_per_token(self) -> int:
        """Bytes the element-wise kernels between the matrix multiplies move per token (all layers): two
        RMSNorms (read + write the hidden state), RoPE on Q and K (read + write), SiLU x gate (read two
        MLP-wide vectors, write one), two residual adds (read two hidden states, write one)."""
        per_layer = 10 * self.hidden + 2 * (self.heads + self.kv_heads) * self.head_dim + 3 * self.ffn_hidden
        return self.layers * per_layer * self.bytes_per_param

    @property
    def block_params(self) -> int:
        """Parameters of the transformer blocks' linear layers (Q, K, V, O projections and the 3 MLP
        matrices), the weights a pass reads and multiplies for every token. The embedding and the LM head
        are left out (2 x vocab x hidden): the measured passes leave them out too."""
        q_o = 2 * self.hidden * self.heads * self.head_dim
        k_v = 2 * self.hidden * self.kv_heads * self.head_dim
        return self.layers * (q_o + k_v + 3 * self.hidden * self.ffn_hidden)


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
    card: str = ""  # key into EFFICIENCY: the card type whose measured passes fitted the factors


# Model numbers from each model's published config.json (see shared reference/specs.md).
MODELS: dict[str, ModelSpec] = {
    "llama-2-7b": ModelSpec("llama-2-7b", 6.74e9, 32, 4096, 32, 32, 128, ffn_hidden=11008, vocab=32000,
                            source="meta-llama/Llama-2-7b-hf config.json: 32 layers, hidden 4096, 32 heads, "
                                   "no GQA, intermediate 11008, vocab 32000"),
    "llama-3-8b": ModelSpec("llama-3-8b", 8.03e9, 32, 4096, 32, 8, 128, ffn_hidden=14336, vocab=128256,
                            source="meta-llama/Meta-Llama-3-8B config.json: 32 layers, hidden 4096, 8 KV heads, "
                                   "intermediate 14336, vocab 128256"),
    "llama-3-70b": ModelSpec("llama-3-70b", 70.6e9, 80, 8192, 64, 8, 128, ffn_hidden=28672, vocab=128256,
                             source="meta-llama/Meta-Llama-3-70B config.json: 80 layers, hidden 8192, 8 KV heads, "
                                    "intermediate 28672, vocab 128256"),
    # The app's own torch model (sim.real.model): 4 layers, d_model 256, 4 heads, vocab 1000, fp32 on CPU.
    # 3,802,624 = TinyLM().num_params(): embeddings 256k + positions 131k + 4 x 790k + LM head 256k.
    "tiny": ModelSpec("tiny", 3.80e6, 4, 256, 4, 4, 64, ffn_hidden=1024, vocab=1000, bytes_per_param=4,
                      source="defined in this repo (sim/real/model.py), seeded random weights"),
}

# Accelerator numbers from the vendors' datasheets (dense tensor peak, no sparsity).
HARDWARE: dict[str, HardwareSpec] = {
    "a100-80gb": HardwareSpec("a100-80gb", 312e12, 80 * GB, 2039 * GB, card="a100",
                              source="NVIDIA A100 datasheet: 312 TFLOP/s BF16, 80 GB HBM2e, 2,039 GB/s (SXM)"),
    "h100-80gb": HardwareSpec("h100-80gb", 989e12, 80 * GB, 3350 * GB, card="h100",
                              source="NVIDIA H100 datasheet: 989 TFLOP/s BF16 dense, 80 GB HBM3, 3,350 GB/s (SXM5)"),
    "4xa100-80gb": HardwareSpec("4xa100-80gb", 312e12, 80 * GB, 2039 * GB, count=4, card="a100",
                                source="4 x A100-80GB SXM with tensor parallelism (NVIDIA A100 datasheet)"),
    "4xh100-80gb": HardwareSpec("4xh100-80gb", 989e12, 80 * GB, 3350 * GB, count=4, card="h100",
                                source="4 x H100-80GB SXM5 with tensor parallelism (NVIDIA H100 datasheet)"),
    # The local CPU running the tiny model: timing comes from LinearCost, memory is a plain budget.
    "tiny-cpu": HardwareSpec("tiny-cpu", 0.0, 2 * GB, 0.0, host_link_bytes_per_s=10 * GB,
                             source="this machine's CPU; coefficients fitted by `python -m sim validate`"),
}


@dataclass(frozen=True)
class Efficiency:
    """How close one card type's kernels get to its datasheet numbers: physical factors, not per-shape
    corrections, so they carry over to other models on the same card."""

    mfu: float  # linear layers: fraction of peak FLOP/s the matrix multiplications reach
    mbu: float  # fraction of peak bandwidth reached streaming weights (and writing KV)
    exposed: float  # share of the shorter of (compute, memory) time NOT hidden behind the longer: 0 = the
    #                 textbook roofline max(compute, memory), 1 = their sum
    attn_mfu: float  # attention kernels: fraction of peak FLOP/s (prefill attention is compute-bound)
    attn_mbu: float  # attention kernels: fraction of peak bandwidth reading the KV cache (decode)
    attn_launch_s: float  # per layer, per attention kernel (prefill, decode): launch and setup time
    kv_write_launch_s: float  # per layer: the KV-cache write kernel's launch time
    kv_write_token_s: float  # per prompt token per layer: the measured write kernel's time per token
    # The least time one kernel takes however little it computes (launch, filling and draining the SMs):
    # measured, not fitted (see KERNEL_S_SOURCE). A layer's linear part runs LINEAR_KERNELS_PER_LAYER kernels.
    kernel_s: float = 0.0
    source: str = ""


# The kernels of one layer's linear part, as the measured passes count them (Vidur's sum): RMSNorm, QKV
# projection, RoPE, output projection, RMSNorm, gate/up projection, SiLU x up, down projection, residual add.
LINEAR_KERNELS_PER_LAYER = 9
KERNEL_S = 4e-6  # s: the least time of one kernel, measured (below); an input of the fit, not fitted
KERNEL_S_SOURCE = ("measured: the norm and RoPE kernels of the same profiling data at one token, which move a few "
                   "KB, take 4 us each on both cards (Vidur mlp.csv, A100 Llama-3-8B and H100 Llama-2-7B)")


# Fitted by `python scripts/fit_costs.py` on the rows of sim/data/gpu-passes.csv marked split=main
# (its held-out rows and the table it prints are in the README). Vidur's public profiling data
# (github.com/microsoft/vidur): fp16 kernels, tensor parallel 1, median time per operation per layer.
EFFICIENCY: dict[str, Efficiency] = {
    "a100": Efficiency(mfu=0.725, mbu=0.777, exposed=0.274, attn_mfu=0.438, attn_mbu=0.854, attn_launch_s=2.18e-05,
                       kv_write_launch_s=2e-06, kv_write_token_s=5.11e-07, kernel_s=KERNEL_S,
                       source="fitted to Llama-3-8B passes measured on an A100 (linear layers, FlashInfer "
                              "attention and KV write)"),
    "h100": Efficiency(mfu=0.812, mbu=0.907, exposed=0.536, attn_mfu=0.438, attn_mbu=0.854, attn_launch_s=2.18e-05,
                       kv_write_launch_s=2e-06, kv_write_token_s=5.11e-07, kernel_s=KERNEL_S,
                       source="linear layers fitted to Llama-2-7B passes measured on an H100; attention and "
                              "KV write not measured on H100: the A100's factors"),
}


@dataclass(frozen=True)
class CpuOverhead:
    """CPU time per iteration between GPU passes: ``fixed_s + per_seq_s x sequences in the pass``."""

    fixed_s: float = 0.000993  # scheduling and launching, whatever the batch
    per_seq_s: float = 4.82e-05  # per sequence in the pass: input preparation, sampling, output processing
    source: str = ("fitted to vLLM's CPU time per iteration (schedule, prepare inputs, sampler, process "
                   "outputs) measured against batch size on an A100 host (Vidur cpu_overheads.csv)")


CPU_OVERHEAD = CpuOverhead()
