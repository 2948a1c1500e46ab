"""The tiny torch model (sim.real.model): its KV cache and mixed batches compute exactly what a full
recompute computes, so timing it measures the real work of each plan and nothing else."""

import pytest

torch = pytest.importorskip("torch")

from sim.cost_model import MODELS  # noqa: E402
from sim.real.model import TinyConfig, TinyLM, prompt_tokens  # noqa: E402

# float32 on the CPU: the cached and the recomputed paths sum the same products in a different order,
# so they agree to rounding (observed ~1e-6 on logits of size ~1), far inside this tolerance.
ATOL = 1e-4


@pytest.fixture(scope="module")
def model():
    return TinyLM(TinyConfig(), torch.device("cpu"))


def test_parameter_count_matches_the_tiny_preset(model):
    assert model.num_params() == 3_802_624
    assert abs(MODELS["tiny"].params - model.num_params()) / model.num_params() < 0.01


def test_same_seed_same_weights_other_seed_other_weights(model):
    again = TinyLM(TinyConfig(), torch.device("cpu"))
    other = TinyLM(TinyConfig(seed=1), torch.device("cpu"))
    toks = prompt_tokens("r1", 12, 1000)
    assert torch.equal(model.forward_full(toks), again.forward_full(toks))
    assert not torch.allclose(model.forward_full(toks), other.forward_full(toks), atol=ATOL)


def test_incremental_decoding_with_kv_cache_equals_full_recompute(model):
    toks = prompt_tokens("r2", 60, 1000)
    full = model.forward_full(toks)  # [60, vocab], no cache
    cache = model.new_cache(60)
    parts = [model.forward_mixed([(cache, toks[:20])], all_logits=True)[0],  # prompt chunk 1
             model.forward_mixed([(cache, toks[20:45])], all_logits=True)[0]]  # chunk 2 on top of the cache
    for t in toks[45:]:  # then one decode step at a time
        parts.append(model.forward_mixed([(cache, [t])], all_logits=True)[0])
    inc = torch.cat(parts)
    assert inc.shape == full.shape
    assert torch.allclose(inc, full, atol=ATOL), (inc - full).abs().max()
    assert cache.length == 60


def _state(model, seqs):
    """Fresh caches holding each sequence's first ``cached`` tokens."""
    caches = []
    for toks, cached in seqs:
        c = model.new_cache(len(toks))
        if cached:
            model.forward_mixed([(c, toks[:cached])])
        caches.append(c)
    return caches


def test_mixed_batch_equals_its_parts_run_separately(model):
    a = prompt_tokens("a", 40, 1000)  # a prefill chunk on top of 15 cached tokens
    b = prompt_tokens("b", 30, 1000)  # a decode step after 29 cached tokens
    c = prompt_tokens("c", 25, 1000)  # a whole new prompt
    d = prompt_tokens("d", 50, 1000)  # another decode, longer context
    spec = [(a, 15, 40), (b, 29, 30), (c, 0, 25), (d, 49, 50)]  # (tokens, cached before, cached after)
    mixed_caches = _state(model, [(t, k) for t, k, _ in spec])
    mixed = model.forward_mixed([(cache, t[k:e]) for cache, (t, k, e) in zip(mixed_caches, spec)], all_logits=True)
    alone_caches = _state(model, [(t, k) for t, k, _ in spec])
    for cache, (t, k, e), got in zip(alone_caches, spec, mixed):
        ref = model.forward_mixed([(cache, t[k:e])], all_logits=True)[0]
        assert got.shape == ref.shape == (e - k, 1000)
        assert torch.allclose(got, ref, atol=ATOL)
    for m, s in zip(mixed_caches, alone_caches):
        assert m.length == s.length
        assert torch.allclose(m.k[:, :, :m.length], s.k[:, :, :s.length], atol=ATOL)
    # The default output is the last token's logits per entry, the same numbers.
    last_caches = _state(model, [(t, k) for t, k, _ in spec])
    last = model.forward_mixed([(cache, t[k:e]) for cache, (t, k, e) in zip(last_caches, spec)])
    for got, full in zip(last, mixed):
        assert torch.allclose(got, full[-1], atol=ATOL)


def test_cache_overflow_and_empty_entries_are_refused(model):
    cache = model.new_cache(4)
    with pytest.raises(ValueError, match="cannot append"):
        model.forward_mixed([(cache, [1, 2, 3, 4, 5])])
    with pytest.raises(ValueError, match="at least one token"):
        model.forward_mixed([(cache, [])])
    with pytest.raises(ValueError, match="positions"):
        model.new_cache(model.cfg.max_len + 1)
