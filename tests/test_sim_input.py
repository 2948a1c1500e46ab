"""Bad input of every kind: one message naming the field (and row), a non-zero exit, no hang."""

import json
import subprocess
import sys

import pytest

from sim import ConfigError, scenario, simulate
from sim.cli import main
from sim.queue_order import CustomExpression
from sim.trace_files import parse_trace


def run_cli(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "sim", *args], capture_output=True, text=True, timeout=timeout,
                          cwd=__file__.rsplit("/tests/", 1)[0])


@pytest.mark.parametrize("text, field, row", [
    ("arrival_s,prompt_tokens\n0,10\n", "output_tokens", None),
    ("arrival_s,prompt_tokens,output_tokens\n0,10,5\n1,abc,5\n", "prompt_tokens", 2),
    ("arrival_s,prompt_tokens,output_tokens\n0,10,5\n-1,10,5\n", "arrival_s", 2),
    ("arrival_s,prompt_tokens,output_tokens\n0,0,5\n", "prompt_tokens", 1),
    ("arrival_s,prompt_tokens,output_tokens\n0,10,-3\n", "output_tokens", 1),
    ("arrival_s,prompt_tokens,output_tokens\n0,10.5,3\n", "prompt_tokens", 1),
    ("arrival_s,prompt_tokens,output_tokens\nnan,10,3\n", "arrival_s", 1),
    ("arrival_s,prompt_tokens,output_tokens\n0,10,3\n0,,3\n", "prompt_tokens", 2),
    ("arrival_s,prompt_tokens,output_tokens,deadline_s\n5,10,3,1\n", "deadline_s", 1),
    ("arrival_s,prompt_tokens,output_tokens,id\n0,10,3,a\n1,10,3,a\n", "id", 2),
    ("arrival_s,prompt_tokens,output_tokens\n0,10,3,9\n", "workload", 1),
    ("arrival_s,prompt_tokens,output_tokens\n", "workload", None),
    ("", "workload", None),
])
def test_malformed_csv_rows_name_field_and_row(text, field, row):
    with pytest.raises(ConfigError) as e:
        parse_trace(text, "csv")
    assert e.value.field == field
    assert e.value.row == row
    if row is not None:
        assert f"row {row}" in str(e.value)


@pytest.mark.parametrize("text, field, row", [
    ('{"arrival_s": 0, "prompt_tokens": 5, "output_tokens": 2}\n{"arrival_s": 1, "prompt_tokens": 5}\n',
     "output_tokens", 2),
    ('{"arrival_s": 0, "prompt_tokens": 5, "output_tokens": 2}\nnot json\n', "workload", 2),
    ('[1, 2, 3]\n', "workload", 1),
    ('{"arrival_s": 0, "prompt_tokens": true, "output_tokens": 2}\n', "prompt_tokens", 1),
])
def test_malformed_jsonl_rows(text, field, row):
    with pytest.raises(ConfigError) as e:
        parse_trace(text, "jsonl")
    assert (e.value.field, e.value.row) == (field, row)


def test_good_trace_round_trip(tmp_path):
    p = tmp_path / "t.csv"
    p.write_text("id,arrival_s,prompt_tokens,output_tokens,priority,class\n"
                 "a,0.0,100,10,0,gold\nb,0.01,200,5,1,free\n")
    out = tmp_path / "out.csv"
    proc = run_cli("run", "--workload", str(p), "--json", "--trace-out", str(out))
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    assert data["metrics"]["completed"] == 2
    assert set(data["by_class"]) == {"gold", "free"}
    lines = out.read_text().splitlines()
    assert lines[0] == "id,class,arrival_s,prompt_tokens,output_tokens,first_token_s,finish_s,preemptions,rejected_reason"
    assert len(lines) == 3 and lines[1].startswith("a,gold,0.000000,100,10,")


@pytest.mark.parametrize("expr, fragment", [
    ("__import__('os').system('true')", "not allowed"),
    ("prompt_tokens.real", "attribute"),
    ("priority ** 99999999", "exponent"),
    ("9 ** 9 ** 9", "exponent"),
    ("x" * 500, "characters"),
    ("'a' * 10", "numbers"),
    ("open('f')", "not allowed"),
    ("[priority][0]", "not allowed"),
    ("lambda: 1", "not allowed"),
    ("priority +", "not a valid expression"),
    ("unknown_field * 2", "unknown name"),
    ("(lambda x: x)(1)", "not allowed"),
    ("priority / 0", "division by zero"),
    ("+".join(["p"] * 40).replace("p", "1"), "too complex"),
    ("", "needs an expression"),
])
def test_hostile_or_bad_expressions_refused(expr, fragment):
    with pytest.raises(ConfigError) as e:
        CustomExpression(expr)
    assert e.value.field == "expr"
    assert fragment in str(e.value)


def test_custom_expression_orders_requests():
    # Shortest prompt first, expressed by the learner.
    cfg = scenario("hybrid-service", requests=30, order="custom", expr="prompt_tokens", max_batch=1,
                   kv_capacity_tokens=200_000, policy="continuous")
    r = simulate(cfg)
    assert r.metrics["completed"] == len(r.requests)
    # With one slot, every admission after the first picks the shortest prompt among those waiting.
    order = sorted(r.requests, key=lambda q: q.admitted_s)
    for prev, nxt in zip(order, order[1:]):
        rivals = [q for q in r.requests if q.arrival_s <= nxt.admitted_s and q.admitted_s >= nxt.admitted_s]
        assert nxt.prompt_tokens == min(q.prompt_tokens for q in rivals)


@pytest.mark.parametrize("args, field", [
    (["--policy", "continuous", "--max-batch", "0"], "max_batch"),
    (["--block-size", "-4"], "block_size"),
    (["--kv-capacity", "0"], "kv_capacity"),
    (["--rate", "0"], "rate"),
    (["--rate", "-5"], "rate"),
    (["--requests", "0"], "requests"),
    (["--workload", "nope"], "workload"),
    (["--workload", "/no/such/file.csv"], "workload"),
    (["--order", "custom"], "expr"),
    (["--order", "custom", "--expr", "__import__('os')"], "expr"),
    (["--model", "llama-3-70b", "--hardware", "a100-80gb"], "model"),
    (["--model", "tiny", "--hardware", "a100-80gb"], "hardware"),
    (["--link-gbps", "0", "--policy", "disaggregated"], "link_gb_per_s"),
    (["--kv-capacity", "8", "--block-size", "16"], "kv_capacity"),
])
def test_cli_refuses_bad_flags_naming_the_field(args, field, capsys):
    code = main(["run", *args])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(f"error: {field}")
    assert len(err.strip().splitlines()) == 1


def test_cli_unknown_choice_is_argparse_error():
    proc = run_cli("run", "--policy", "fastest")
    assert proc.returncode == 2
    assert "--policy" in proc.stderr and "invalid choice" in proc.stderr


def test_cli_scenario_file(tmp_path):
    p = tmp_path / "s.yaml"
    p.write_text("workload: book-example\npolicy: static\nmax_batch: 3\n")
    proc = run_cli("run", str(p), "--json")
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["config"]["policy"] == "static"
    bad = tmp_path / "b.yaml"
    bad.write_text("workload: chat\nmax_batchh: 3\n")
    proc = run_cli("run", str(bad))
    assert proc.returncode == 2 and "max_batchh" in proc.stderr


def test_cli_json_contract():
    proc = run_cli("run", "--policy", "continuous", "--requests", "200", "--seed", "7", "--json")
    assert proc.returncode == 0, proc.stderr
    data = json.loads(proc.stdout)
    from sim.metrics import METRIC_KEYS
    assert set(METRIC_KEYS) <= set(data["metrics"])
    assert data["config"]["seed"] == 7 and data["metrics"]["completed"] == 200
    for cls in data["by_class"].values():
        assert set(METRIC_KEYS) <= set(cls)
    again = run_cli("run", "--policy", "continuous", "--requests", "200", "--seed", "7", "--json")
    assert again.stdout == proc.stdout  # deterministic


def test_cli_sweep_csv():
    proc = run_cli("sweep", "--policies", "static,continuous", "--rates", "1,4", "--seeds", "2",
                   "--requests", "40", "--csv")
    assert proc.returncode == 0, proc.stderr
    rows = proc.stdout.strip().splitlines()
    assert rows[0].startswith("policy,rate_per_s,seed,completed")
    assert len(rows) == 1 + 2 * 2 * 2


def test_help_explains_units():
    proc = run_cli("run", "--help")
    assert proc.returncode == 0
    for fragment in ("requests per second", "in tokens", "GB/s", "in ms"):
        assert fragment in proc.stdout


def test_impossible_config_refused_before_running():
    with pytest.raises(ConfigError) as e:
        simulate(scenario("chat", model="llama-3-70b", hardware="h100-80gb"))
    assert e.value.field == "model" and "do not fit" in str(e.value)
    r = simulate(scenario("chat", model="llama-3-70b", hardware="4xh100-80gb", record_iterations=False))
    assert r.metrics["completed"] == 200
