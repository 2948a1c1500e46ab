"""Hostile and careless files and flags (issue 13): each refused with one line naming the field, fast and
small, before the work it would cost; outputs never overwrite an input and are written atomically."""

import json
import os
import subprocess
import sys
import time
import tracemalloc

import pytest

from sim import ConfigError, scenario
from sim.cli import main
from sim.files import load_json, load_yaml, write_atomic
from sim.limits import MAX_REQUESTS, MAX_TRACE_BYTES, MAX_YAML_NODES
from sim.trace_files import parse_trace, parse_trace_upload

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


@pytest.fixture(scope="module")
def cpu_y():
    """CPU seconds of the issues' yardstick, ``sum(i*i for i in range(10**7))``, measured in this process: the
    refusals' time bounds are in these units, so a slow or shared machine moves bound and time together (each
    refusal takes milliseconds; the work it refuses takes seconds to minutes)."""
    t0 = time.process_time()
    sum(i * i for i in range(10**7))
    return time.process_time() - t0


def alias_bomb(levels=9, width=9, key="policy"):
    lines = [f"a0: &a0 [{', '.join(['x'] * width)}]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [{', '.join([f'*a{i - 1}'] * width)}]")
    lines.append(f"{key}: [{', '.join([f'*a{levels - 1}'] * width)}]")
    return "\n".join(lines) + "\n"


def one_line_error(args, capsys):
    code = main(args)
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("error: ") and len(err.strip().splitlines()) == 1, err
    return err


def test_yaml_alias_bomb_refused_fast_and_small(cpu_y):
    text = alias_bomb()
    import yaml  # noqa: F401 (imported once per process anyway; the time below is the refusal's own)
    tracemalloc.start()
    t0 = time.process_time()
    with pytest.raises(ConfigError) as e:
        load_yaml(text, "scenario", "the scenario file")
    elapsed = time.process_time() - t0
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert "expand to more than" in str(e.value)
    assert elapsed < cpu_y and peak < 100e6, (elapsed, cpu_y, peak)


def test_alias_bomb_in_a_scenario_file_and_a_bank_file(tmp_path, capsys, cpu_y):
    p = tmp_path / "bomb.yaml"
    p.write_text(alias_bomb(key="policy"))
    t0 = time.process_time()
    err = one_line_error(["run", str(p)], capsys)
    assert time.process_time() - t0 < cpu_y and "scenario" in err
    from quiz.bank import BankError, load_bank
    d = tmp_path / "bank"
    d.mkdir()
    (d / "c99.yaml").write_text(alias_bomb(key="questions"))
    with pytest.raises(BankError, match="expand to more than"):
        load_bank(str(d))


def test_yaml_aliases_within_limits_still_work():
    assert load_yaml("a: &x [1, 2]\nb: *x\n", "scenario") == {"a": [1, 2], "b": [1, 2]}
    with pytest.raises(ConfigError, match="expand to more than"):
        load_yaml("a: &x [" + ", ".join(["1"] * 2000) + "]\nb: [" + ", ".join(["*x"] * 60) + "]\n", "s")
    assert MAX_YAML_NODES >= 1000


@pytest.mark.parametrize("name, data, fragment", [
    ("deep.yaml", b"policy: " + b"[" * 5000 + b"]" * 5000 + b"\n", "nested more than"),
    ("deep.json", b'{"policy": ' + b"[" * 5000 + b"]" * 5000 + b"}", "nested more than"),
    ("big.yaml", b"max_batch: " + b"9" * 5000 + b"\n", "cannot be read"),
    ("big.json", b'{"max_batch": ' + b"9" * 5000 + b"}", "too many digits"),
    ("u16.yaml", "policy: static\n".encode("utf-16"), "UTF-16"),
    ("latin.yaml", "policy: st\xe4tic\n".encode("latin-1"), "not UTF-8"),
    ("nul.yaml", b"policy: static\x00\n", "binary"),
    ("bin.yaml", b"policy: !!binary aGVsbG8=\n", "policy"),
    ("bool.yaml", b"reorg_s: true\n", "reorg_s"),
    ("bool2.yaml", b"max_batch: true\n", "max_batch"),
    ("list.yaml", b"aging_step_s: [1]\n", "aging_step_s"),
    ("link.yaml", b"link_gb_per_s: {a: 1}\n", "link_gb_per_s"),
    ("over.yaml", b"overhead_s: .nan\n", "overhead_s"),
    ("lc.yaml", b"linear_cost: {a: 1}\n", "linear_cost"),
    ("expr.yaml", b"order: custom\nexpr: [1, 2]\n", "expr"),
    ("date.yaml", b"seed: 2001-12-14\n", "seed"),
    ("key.yaml", b"? [1, 2]\n: 3\n", "scenario"),
    ("wl.yaml", b"workload: 5\n", "workload"),
    ("req.yaml", b"workload: book-example\nrequests: 1000\n", "requests"),
    ("rate.yaml", b"workload: legal-archive\nrate_per_s: 5\n", "rate"),
    ("bad.json", b'{"policy": ', "not valid JSON"),
])
def test_bad_scenario_files_are_one_line(tmp_path, capsys, cpu_y, name, data, fragment):
    p = tmp_path / name
    p.write_bytes(data)
    t0 = time.process_time()
    err = one_line_error(["run", str(p)], capsys)
    assert fragment in err
    assert time.process_time() - t0 < 2 * cpu_y


def test_big_scenario_file_refused_before_reading(tmp_path, capsys, cpu_y):
    p = tmp_path / "huge.yaml"
    with open(p, "wb") as f:
        f.truncate(2_000_000_000)  # a sparse 2 GB file: reading it would take seconds and the memory
    t0 = time.process_time()
    err = one_line_error(["run", str(p)], capsys)
    assert "limit" in err and time.process_time() - t0 < cpu_y


@pytest.mark.parametrize("text, fmt, field, row", [
    ("arrival_s,prompt_tokens,output_tokens\n0,10," + "5" * 140_000 + "\n", "csv", "workload", 1),
    ('{"arrival_s": 0, "prompt_tokens": ' + "9" * 400 + ', "output_tokens": 3}\n', "jsonl", "prompt_tokens", 1),
    ('{"arrival_s": 0, "prompt_tokens": ' + "9" * 5000 + ', "output_tokens": 3}\n', "jsonl", "workload", 1),
    ('{"arrival_s": 0, "prompt_tokens": 5, "output_tokens": 3, "x": ' + "[" * 5000 + "]" * 5000 + "}\n", "jsonl",
     "workload", 1),
    ("arrival_s,prompt_tokens,output_tokens\n" + "9" * 400 + ",10,5\n", "csv", "arrival_s", 1),
    ("arrival_s,prompt_tokens,output_tokens\n1e15,10,5\n", "csv", "arrival_s", 1),
    ("arrival_s,prompt_tokens,output_tokens,priority\n0,10,5,1e300\n", "csv", "priority", 1),
    ('{"arrival_s": 0, "prompt_tokens": 5, "output_tokens": 3, "id": {"a": 1}}\n', "jsonl", "id", 1),
    ('{"arrival_s": 0, "prompt_tokens": 5, "output_tokens": 3, "class": [1]}\n', "jsonl", "class", 1),
    ('{"arrival_s": 0, "prompt_tokens": "\u00b2", "output_tokens": 3}\n', "jsonl", "prompt_tokens", 1),
])
def test_hostile_trace_rows(text, fmt, field, row):
    with pytest.raises(ConfigError) as e:
        parse_trace(text, fmt)
    assert (e.value.field, e.value.row) == (field, row), str(e.value)


def test_trace_row_limit_refused_at_the_first_row_beyond_it(monkeypatch):
    import sim.trace_files as wl
    monkeypatch.setattr(wl, "MAX_TRACE_ROWS", 10)
    text = "arrival_s,prompt_tokens,output_tokens\n" + "0,10,5\n" * 1000
    with pytest.raises(ConfigError, match="more than 10 rows"):
        parse_trace(text, "csv")
    assert MAX_REQUESTS == 100_000


def test_a_backlog_under_a_waiting_time_order_stops_with_one_message(capsys, cpu_y):
    # 5,000 requests at once under aging: re-sorting thousands of waiting requests at every step took
    # minutes (hours at 100,000); the work budget stops it in seconds, naming the order.
    # The bound is in CPU yardsticks (cpu_y): the budget's 10 million evaluations took 4.3 Y (5.2 CPU-s) on
    # an idle 2-core machine and 10.7 CPU-s while a CI run shared it, over a 10 CPU-s bound; the backlog
    # without the budget ran for minutes.
    t0 = time.process_time()
    err = one_line_error(["run", "--requests", "5000", "--rate", "1000000", "--order", "aging"], capsys)
    assert err.startswith("error: order: the aging order re-sorts")
    assert time.process_time() - t0 < 20 * cpu_y


def test_upload_row_limit():
    from sim.limits import MAX_UPLOAD_ROWS
    text = "arrival_s,prompt_tokens,output_tokens\n" + "0,10,5\n" * (MAX_UPLOAD_ROWS + 1)
    with pytest.raises(ConfigError, match="limit for an upload"):
        parse_trace_upload("t.csv", text.encode())
    assert len(parse_trace(text, "csv")) == MAX_UPLOAD_ROWS + 1  # a trace file may hold more


def test_upload_checks_bytes_like_a_file():
    with pytest.raises(ConfigError, match="UTF-16"):
        parse_trace_upload("t.csv", "arrival_s,prompt_tokens,output_tokens\n0,1,1\n".encode("utf-16"))
    with pytest.raises(ConfigError, match="limit"):
        parse_trace_upload("t.csv", b" " * (MAX_TRACE_BYTES + 1))
    assert len(parse_trace_upload("t.csv", b"\xef\xbb\xbfarrival_s,prompt_tokens,output_tokens\n0,1,1\n")) == 1


@pytest.mark.parametrize("args, field", [
    (["--rate", "5e-324"], "rate"),
    (["--rate", "1e-300"], "rate"),
    (["--rate", "nan"], "rate"),
    (["--rate", "inf"], "rate"),
    (["--link-gbps", "5e-324", "--policy", "disaggregated"], "link_gb_per_s"),
    (["--model", "llama-3-70b", "--hardware", "a100-80gb", "--kv-capacity", "1000"], "model"),
    (["--kv-capacity", "100000000"], "kv_capacity"),
    (["--kv-capacity", "500000"], "kv_capacity"),
    (["--predictor-noise", "nan"], "predictor_noise"),
    (["--predictor-noise", "inf"], "predictor_noise"),
    (["--predictor-noise", "-1"], "predictor_noise"),
    (["--requests", "1000000"], "requests"),
    (["--requests", "9" * 50], "requests"),
    (["book-example", "--rate", "5"], "rate"),
    (["book-example", "--requests", "1000"], "requests"),
    (["legal-archive", "--rate", "3"], "rate"),
    (["--reorg-ms", "nan"], "reorg_s"),
    (["--aging-step", "inf", "--order", "aging"], "aging_step_s"),
    (["--trace-out", ""], "trace-out"),
    (["--order", "custom", "--expr", "9 ** 3999999 - 9 ** 3999999 + priority"], "expr"),
])
def test_nonsense_flags_refused(args, field, capsys):
    err = one_line_error(["run", *args], capsys)
    assert err.startswith(f"error: {field}"), err


def test_kv_capacity_that_fits_still_runs():
    cfg = scenario("chat", requests=5, kv_capacity_tokens=400_000)
    assert cfg.kv_capacity_tokens == 400_000
    scenario("book-example", requests=3)  # a scripted workload keeps its first N requests


@pytest.mark.parametrize("args, field", [
    (["--seeds", "1000000"], "seeds"),
    (["--rates", ",".join(["1"] * 100_000)], "rates"),
    (["--rates", ",".join(["1"] * 600)], "sweep"),
    (["--rates", "1,nan"], "rates"),
    (["--rates", "1e-300"], "rates"),
    (["--requests", "100000", "--rates", "1,2,3,4", "--seeds", "10"], "sweep"),
    (["--policies", "static,fastest"], "policies"),
    (["legal-archive", "--rates", "1,2"], "rate"),
])
def test_sweep_grid_limits(args, field, capsys, cpu_y):
    t0 = time.process_time()
    err = one_line_error(["sweep", *args], capsys)
    assert err.startswith(f"error: {field}"), err
    assert time.process_time() - t0 < 2 * cpu_y


def test_output_never_overwrites_an_input(tmp_path, capsys):
    trace = tmp_path / "t.csv"
    trace.write_text("arrival_s,prompt_tokens,output_tokens\n0,10,5\n")
    before = trace.read_bytes()
    for target in (str(trace), str(tmp_path / "." / "t.csv")):
        err = one_line_error(["run", "--workload", str(trace), "--trace-out", target], capsys)
        assert "input" in err
    os.symlink(trace, tmp_path / "link.csv")
    one_line_error(["run", "--workload", str(trace), "--trace-out", str(tmp_path / "link.csv")], capsys)
    assert trace.read_bytes() == before
    scen = tmp_path / "s.yaml"
    scen.write_text("workload: book-example\n")
    one_line_error(["run", str(scen), "--trace-out", str(scen)], capsys)


def test_atomic_write_leaves_the_old_file_whole_on_failure(tmp_path, monkeypatch):
    out = tmp_path / "out.csv"
    out.write_text("old\n")
    os.chmod(out, 0o640)
    write_atomic(str(out), "new\n", "trace-out")
    assert out.read_text() == "new\n" and (os.stat(out).st_mode & 0o777) == 0o640

    def broken(src, dst):
        raise OSError(28, "No space left on device")
    monkeypatch.setattr(os, "replace", broken)
    with pytest.raises(ConfigError, match="No space left"):
        write_atomic(str(out), "newer\n", "trace-out")
    assert out.read_text() == "new\n"
    assert sorted(os.listdir(tmp_path)) == ["out.csv"]  # no temporary file left behind


def test_sweep_csv_into_a_closed_pipe_is_quiet():
    cmd = f"{sys.executable} -m sim sweep --csv --requests 20 --rates 1,2 --seeds 2 | head -c 10"
    proc = subprocess.run(["bash", "-c", "set -o pipefail; " + cmd], capture_output=True, text=True, cwd=ROOT,
                          timeout=120)
    assert proc.stdout == "policy,rat"
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr
    assert proc.returncode == 0


def test_help_lists_the_limits():
    proc = subprocess.run([sys.executable, "-m", "sim", "run", "--help"], capture_output=True, text=True, cwd=ROOT,
                          timeout=60)
    text = " ".join(proc.stdout.split())
    for words in ("100,000 requests per run", "16 MiB", "YAML aliases", "levels of nesting", "grid points",
                  "CSV cells"):
        assert words in text, words


def test_json_loader_keeps_valid_values():
    assert load_json('{"a": [1, 2.5, "x", null, true]}', "scenario") == {"a": [1, 2.5, "x", None, True]}
    assert json.dumps(load_yaml("a: 1\nb: [x, y]\n", "scenario")) == '{"a": 1, "b": ["x", "y"]}'


def test_quiz_export_never_overwrites_a_bank_file(tmp_path, capsys):
    import shutil

    from quiz.bank import BANK_DIR
    from quiz.cli import main as quiz_main
    bank = tmp_path / "bank"
    shutil.copytree(BANK_DIR, bank)
    target = sorted(p for p in bank.iterdir() if p.suffix == ".yaml")[0]
    before = target.read_bytes()
    assert quiz_main(["--bank", str(bank), "export", "--format", "gift", "-o", str(target)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: output:") and "input" in err and len(err.strip().splitlines()) == 1
    assert target.read_bytes() == before
    assert quiz_main(["--bank", str(bank), "export", "--format", "gift", "-o", ""]) == 2
    assert "needs a file name" in capsys.readouterr().err
