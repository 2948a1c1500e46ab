"""``python -m sim validate --repeat N``: every error cell's median and range over N whole validations."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

pytest.importorskip("torch")

from sim.errors import ConfigError  # noqa: E402
from sim.real.validate import ERROR_KEYS, fmt_spread, repeat_validation, spread  # noqa: E402

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_spread_is_the_median_and_range_of_the_runs_that_had_a_number():
    assert spread([3.0, 1.0, None, 2.0]) == {"median": 2.0, "min": 1.0, "max": 3.0, "runs": 3}
    assert spread([None]) == {"median": None, "min": None, "max": None, "runs": 0}
    assert fmt_spread(spread([4.0, 1.5, 2.25])) == "2.2% (1.5-4.0)"
    assert fmt_spread(spread([4.0])) == "4.0%" and fmt_spread(spread([])) == "-"


@pytest.mark.parametrize("repeat", [0, 21, 2.5, True])
def test_repeat_out_of_range_is_refused_by_name(repeat):
    with pytest.raises(ConfigError) as e:
        repeat_validation("continuous", 8, 0, repeat)
    assert e.value.field == "repeat"


def test_validate_cli_repeat_reports_median_and_range(tmp_path):
    env = dict(os.environ, XDG_CACHE_HOME=str(tmp_path))
    out = subprocess.run([sys.executable, "-m", "sim", "validate", "--requests", "6", "--repeat", "2", "--json",
                          "--pass-repeats", "1"], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["repeat"] == 2 and len(data["runs"]) == 2
    assert set(data["error"]) == set(ERROR_KEYS) == set(data["error_spread"])
    for k in ERROR_KEYS:
        sp, values = data["error_spread"][k], [r[k] for r in data["runs"]]
        assert sp["min"] == min(values) and sp["max"] == max(values) and data["error"][k] == sp["median"]
    bad = subprocess.run([sys.executable, "-m", "sim", "validate", "--repeat", "0"], capture_output=True, text=True,
                         cwd=ROOT, env=env, timeout=120)
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == [bad.stderr.strip()] and "repeat" in bad.stderr


def test_validate_page_shows_median_and_range_over_runs(tmp_path, monkeypatch):
    from streamlit.testing.v1 import AppTest
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.chdir(ROOT)
    at = AppTest.from_file(os.path.join(ROOT, "pages", "validate.py"), default_timeout=900)  # two whole validations; a loaded 2-core CPU took > 300 s
    at.run()
    at.slider(key="w_requests").set_value(8)
    at.slider(key="w_runs").set_value(2)
    at.button[0].click()
    at.run()
    assert not at.exception, at.exception
    text = " ".join(md.value for md in at.markdown)
    assert "**2 runs**" in text and "median over the runs" in text and "The median of these 2 runs is" in text
    ranges = [c.value for c in at.caption if c.value.startswith("range ")]
    assert len(ranges) == 5 and all(r.endswith("over 2 runs") for r in ranges)
