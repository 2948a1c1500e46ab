"""The app's own tiny decoder-only transformer (torch) with a KV cache that serves a mixed batch.

Defined here with seeded random weights, so nothing is downloaded: 4 layers, d_model 256, 4 heads,
vocab 1000, MLP 4x, learned positions. Its outputs are meaningless text; what matters is that it does
the same work per token as a real LLM, so the scheduler's plans can be run and timed on it
(``sim.real.executor``) and the ``tiny-cpu`` cost model can be fitted to it (``sim.real.calibrate``).

One call to ``TinyLM.forward_mixed`` is one forward pass (one iteration, C1): it takes any mix of
prefill chunks (n tokens of one sequence, appended to that sequence's cache) and decode steps (one
token), like a continuous-batching engine (C3). All tokens of the pass are packed into one
``[total_tokens, d_model]`` tensor, so the projections and the MLP run once for the whole batch; only
attention is done per sequence, each against its own cache. That split is exactly why the cost model
prices prefill tokens (matmuls), sequences (one attention call each) and context length (attention reads)
separately.

torch is imported only here and in ``sim.real.executor`` / ``sim.real.calibrate``; the rest of ``sim/`` never
needs it. Import this module lazily.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from sim.errors import ConfigError


@dataclass(frozen=True)
class TinyConfig:
    """Shape of the tiny model. Defaults are the ``tiny`` preset in ``sim.cost_model.MODELS``."""

    layers: int = 4
    d_model: int = 256
    heads: int = 4  # head_dim = d_model / heads = 64
    vocab: int = 1000
    mlp_mult: int = 4  # MLP hidden width = 4 x d_model
    max_len: int = 512  # longest sequence (prompt + output) a cache slot holds; validation uses <= 320
    seed: int = 0  # weights are drawn from this seed: same seed, same model, same greedy tokens

    @property
    def head_dim(self) -> int:
        return self.d_model // self.heads


DEVICE_ENV = "BATCH_LAB_DEVICE"  # cpu, cuda or auto (the default): where the tiny model runs


def choose_device(requested: str | None, cuda_available: bool) -> str:
    """The device type the tiny model runs on: CUDA when there is a GPU, the CPU otherwise, unless
    ``requested`` (the BATCH_LAB_DEVICE setting) says otherwise. Pure, so the choice is tested without a GPU."""
    choice = (requested or "auto").strip().lower()
    if choice == "auto":
        return "cuda" if cuda_available else "cpu"
    if choice == "cpu":
        return "cpu"
    if choice == "cuda":
        if not cuda_available:
            raise ConfigError("device", f"{DEVICE_ENV}=cuda, but torch finds no CUDA GPU (a CPU build of torch, "
                                        "or no driver); unset it to run on the CPU")
        return "cuda"
    raise ConfigError("device", f"{DEVICE_ENV} must be cpu, cuda or auto, got {requested!r}")


def pick_device() -> torch.device:
    """CUDA when there is a GPU, the CPU otherwise (``choose_device``; BATCH_LAB_DEVICE overrides).

    On the CPU we pin torch to one thread: on a small shared machine (this one has 2 cores) two threads
    contend with each other and with anything else running, and the measured pass times jump by 20-30%;
    one thread is slower but much steadier, and steadiness is what a calibration needs. On a GPU every
    timed pass is bracketed by ``synchronize`` (``timed_pass`` in the executor), so the clock covers the
    kernels and not just their launch.
    """
    if choose_device(os.environ.get(DEVICE_ENV), torch.cuda.is_available()) == "cuda":
        return torch.device("cuda")
    torch.set_num_threads(1)
    return torch.device("cpu")


def describe_device(device: torch.device) -> str:
    """Human-readable device name, shown on the validation page and keyed into the calibration cache."""
    if device.type == "cuda":
        return f"cuda:{torch.cuda.get_device_name(device)}"
    import platform
    cpu = platform.processor() or platform.machine()
    return f"cpu:{cpu}:{torch.get_num_threads()}-thread"


def synchronize(device: torch.device) -> None:
    """Wait for queued GPU work so a perf_counter reading covers it (a no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


class CausalSelfAttention(nn.Module):
    """Multi-head attention whose keys and values come from (and are appended to) a per-sequence cache."""

    def __init__(self, cfg: TinyConfig):
        super().__init__()
        self.cfg = cfg
        self.qkv = nn.Linear(cfg.d_model, 3 * cfg.d_model)
        self.proj = nn.Linear(cfg.d_model, cfg.d_model)

    def forward(self, x: torch.Tensor, items: list, layer: int) -> torch.Tensor:
        # x: [T, d] packed tokens of the pass; items: (cache, offset in x, start position, n tokens)
        cfg = self.cfg
        H, hd = cfg.heads, cfg.head_dim
        qkv = self.qkv(x)  # [T, 3d]: one matmul for every token of every sequence
        q, k, v = qkv.split(cfg.d_model, dim=1)
        out = torch.empty_like(q)
        for cache, off, start, n in items:
            end = start + n
            qi = q[off:off + n].view(n, H, hd).transpose(0, 1)  # [H, n, hd]
            kc, vc = cache.k[layer], cache.v[layer]  # [H, max_len, hd]
            kc[:, start:end] = k[off:off + n].view(n, H, hd).transpose(0, 1)
            vc[:, start:end] = v[off:off + n].view(n, H, hd).transpose(0, 1)
            keys, values = kc[:, :end], vc[:, :end]  # [H, end, hd]: the cache up to and including the new tokens
            if n == 1:  # a decode step sees everything before it: no mask
                o = F.scaled_dot_product_attention(qi, keys, values)
            elif start == 0:  # a whole prompt (or first chunk): plain causal attention
                o = F.scaled_dot_product_attention(qi, keys, values, is_causal=True)
            else:  # a later chunk: query j (position start + j) sees keys 0..start + j
                pos_q = torch.arange(start, end, device=x.device)[:, None]
                pos_k = torch.arange(end, device=x.device)[None, :]
                o = F.scaled_dot_product_attention(qi, keys, values, attn_mask=pos_k <= pos_q)
            out[off:off + n] = o.transpose(0, 1).reshape(n, cfg.d_model)
        return self.proj(out)


class MLP(nn.Module):
    def __init__(self, cfg: TinyConfig):
        super().__init__()
        self.fc = nn.Linear(cfg.d_model, cfg.mlp_mult * cfg.d_model)
        self.out = nn.Linear(cfg.mlp_mult * cfg.d_model, cfg.d_model)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.out(F.gelu(self.fc(x)))


class Block(nn.Module):
    """Pre-norm transformer block: x + attn(ln(x)), then x + mlp(ln(x))."""

    def __init__(self, cfg: TinyConfig):
        super().__init__()
        self.ln1 = nn.LayerNorm(cfg.d_model)
        self.attn = CausalSelfAttention(cfg)
        self.ln2 = nn.LayerNorm(cfg.d_model)
        self.mlp = MLP(cfg)

    def forward(self, x: torch.Tensor, items: list, layer: int) -> torch.Tensor:
        x = x + self.attn(self.ln1(x), items, layer)
        return x + self.mlp(self.ln2(x))


class SeqCache:
    """One sequence's KV cache, preallocated for ``max_len`` tokens so appending never reallocates."""

    __slots__ = ("k", "v", "length")

    def __init__(self, cfg: TinyConfig, device: torch.device, max_len: int):
        shape = (cfg.layers, cfg.heads, max_len, cfg.head_dim)
        self.k = torch.zeros(shape, device=device)
        self.v = torch.zeros(shape, device=device)
        self.length = 0  # tokens whose K and V are stored


class TinyLM(nn.Module):
    """The tiny decoder-only LM. Use ``forward_mixed`` for serving; ``forward_full`` recomputes from scratch."""

    def __init__(self, cfg: TinyConfig = TinyConfig(), device: torch.device | None = None):
        super().__init__()
        self.cfg = cfg
        self.device = device or pick_device()
        gen = torch.Generator().manual_seed(cfg.seed)
        self.tok_emb = nn.Embedding(cfg.vocab, cfg.d_model)
        self.pos_emb = nn.Embedding(cfg.max_len, cfg.d_model)
        self.blocks = nn.ModuleList(Block(cfg) for _ in range(cfg.layers))
        self.ln_f = nn.LayerNorm(cfg.d_model)
        self.lm_head = nn.Linear(cfg.d_model, cfg.vocab, bias=False)
        with torch.no_grad():  # GPT-2 style init, drawn from our own generator: same seed, same weights
            for name, p in self.named_parameters():
                if p.dim() >= 2:  # matrices and embeddings
                    p.copy_(torch.randn(p.shape, generator=gen) * 0.02)
                elif name.endswith(".bias"):
                    p.zero_()
                else:  # LayerNorm gains
                    p.fill_(1.0)
        self.to(self.device)
        self.eval()

    def num_params(self) -> int:
        return sum(p.numel() for p in self.parameters())

    def new_cache(self, max_len: int | None = None) -> SeqCache:
        n = max_len or self.cfg.max_len
        if n > self.cfg.max_len:
            raise ValueError(f"sequence of {n} tokens exceeds the model's {self.cfg.max_len} positions")
        return SeqCache(self.cfg, self.device, n)

    @torch.inference_mode()
    def forward_mixed(self, work: list, all_logits: bool = False) -> list:
        """One forward pass over a mixed batch.

        ``work``: list of ``(cache, token_ids)``; each entry's tokens are appended to its cache (a prefill
        chunk when there are several, a decode step when there is one). Returns, per entry, the logits
        of its last token (``[vocab]``), or of every token (``[n, vocab]``) with ``all_logits``.
        """
        ids, pos, items = [], [], []
        off = 0
        for cache, toks in work:
            n = len(toks)
            if n == 0:
                raise ValueError("an entry of a forward pass must compute at least one token")
            start = cache.length
            if start + n > cache.k.shape[2]:
                raise ValueError(f"cache holds {cache.k.shape[2]} tokens; cannot append {n} after {start}")
            ids.extend(toks)
            pos.extend(range(start, start + n))
            items.append((cache, off, start, n))
            off += n
        dev = self.device
        x = self.tok_emb(torch.tensor(ids, device=dev)) + self.pos_emb(torch.tensor(pos, device=dev))  # [T, d]
        for layer, block in enumerate(self.blocks):
            x = block(x, items, layer)
        for cache, _, start, n in items:
            cache.length = start + n
        if all_logits:
            logits = self.lm_head(self.ln_f(x))  # [T, vocab]
            return [logits[o:o + n] for _, o, _, n in items]
        last = torch.tensor([o + n - 1 for _, o, _, n in items], device=dev)
        logits = self.lm_head(self.ln_f(x[last]))  # [entries, vocab]: the LM head only where a token is sampled
        return list(logits)

    @torch.inference_mode()
    def forward_full(self, token_ids: list) -> torch.Tensor:
        """Logits for every position of one sequence, recomputed from scratch with no cache ([n, vocab])."""
        cache = self.new_cache(len(token_ids))
        return self.forward_mixed([(cache, list(token_ids))], all_logits=True)[0]


def prompt_tokens(request_id: str, n: int, vocab: int, seed: int = 0) -> list:
    """A request's prompt: ``n`` token ids drawn from a generator seeded by the request id (reproducible)."""
    import zlib
    gen = torch.Generator().manual_seed(zlib.crc32(f"{seed}:{request_id}".encode()))
    return torch.randint(0, vocab, (n,), generator=gen).tolist()
