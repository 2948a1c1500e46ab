"""The input fuzz (scripts/fuzz_inputs.py) at CI size: every path, no traceback, no hang, no nonsense run.

CI runs a few hundred inputs; ``FUZZ_EXAMPLES=10000 pytest tests/test_fuzz_inputs.py`` (or the script
itself) runs the large draw on demand.
"""

import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "scripts"))

import fuzz_inputs  # noqa: E402

CI_EXAMPLES = 400


def test_fuzz_every_input_path():
    n = int(os.environ.get("FUZZ_EXAMPLES", CI_EXAMPLES))
    counts, examples = fuzz_inputs.fuzz(n, seed=int(os.environ.get("FUZZ_SEED", "0")),
                                        urls=max(3, n // 250), log=None)
    print(fuzz_inputs.table(counts))
    assert set(counts) >= {"cli", "cli subprocess", "scenario file", "trace file", "upload", "expression",
                           "quiz bank", "page URL"}
    bad = {k: v[:5] for k, v in examples.items()}
    assert not bad, bad
    for path, c in counts.items():
        assert c["clean error"] > 0 or path == "page URL", path  # every path is really exercised
    assert sum(c["sane run"] for c in counts.values()) > n // 20
