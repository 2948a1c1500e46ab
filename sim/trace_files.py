"""Trace files: CSV or JSON lines with arrival_s, prompt_tokens, output_tokens (+ id, priority, class,
deadline_s, max_new_tokens), read into the requests of a scripted workload.

Every bad row gets one message naming the column and the row; sizes are checked against ``sim.limits``
before and while reading, so no file can make a run hang or take unbounded memory.
"""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Iterable

from sim.errors import ConfigError, number, show, whole
from sim.limits import (MAX_CSV_CELL_CHARS, MAX_JSON_LINE_CHARS, MAX_PRIORITY, MAX_TIME_S, MAX_TOKENS_PER_REQUEST,
                        MAX_TRACE_BYTES, MAX_TRACE_ROWS, MAX_UPLOAD_ROWS)
from sim.workload import Request, RequestClass, WorkloadConfig


TRACE_REQUIRED = ("arrival_s", "prompt_tokens", "output_tokens")


def parse_trace(text: str, fmt: str, max_rows: int | None = None) -> list[Request]:
    """Parse trace text (``fmt`` = ``csv`` or ``jsonl``) into requests sorted by arrival. Every row is checked
    as it is read; a trace over the row limit is refused at the first row beyond it."""
    if len(text) > MAX_TRACE_BYTES:
        raise ConfigError("workload", f"trace is {len(text):,} characters; the limit is {MAX_TRACE_BYTES:,}")
    if fmt == "csv":
        rows = _csv_rows(text)
    elif fmt == "jsonl":
        rows = _jsonl_rows(text)
    else:
        raise ConfigError("workload", f"unknown trace format {show(fmt)}; use a .csv or .jsonl file")
    reqs = []
    seen: set[str] = set()
    for i, row in enumerate(rows, start=1):
        if i > (max_rows or MAX_TRACE_ROWS):
            limit = max_rows or MAX_TRACE_ROWS
            raise ConfigError("workload", f"trace has more than {limit:,} rows (the limit "
                                          f"{'for an upload: the page draws every request' if max_rows else 'per run'})")
        req = _row_to_request(row, i)
        if req.id in seen:
            raise ConfigError("id", f"duplicate request id {req.id!r}", row=i)
        seen.add(req.id)
        reqs.append(req)
    if not reqs:
        raise ConfigError("workload", "trace has no requests")
    reqs.sort(key=lambda r: r.arrival_s)
    return reqs


def _trace_format(name: str) -> str:
    lower = name.lower()
    fmt = "csv" if lower.endswith(".csv") else "jsonl" if lower.endswith((".jsonl", ".ndjson", ".json")) else ""
    if not fmt:
        raise ConfigError("workload", f"{show(name)} is neither a preset nor a .csv/.jsonl trace file")
    return fmt


def load_trace(path: str) -> list[Request]:
    """A trace file: its size is checked before it is read, then it must be UTF-8 text (sim.files)."""
    from sim.files import read_text
    fmt = _trace_format(path)
    return parse_trace(read_text(path, "workload", MAX_TRACE_BYTES, "trace file"), fmt)


def parse_trace_upload(file_name: str, data: bytes) -> list[Request]:
    """An uploaded trace (the playground): the same checks as a trace file, and at most MAX_UPLOAD_ROWS rows
    (a page records and draws every pass of the run on a server the class shares)."""
    from sim.files import decode
    name = str(file_name)[:100]
    if len(data) > MAX_TRACE_BYTES:
        raise ConfigError("workload", f"{name} is {len(data):,} bytes; the limit is {MAX_TRACE_BYTES:,}")
    fmt = "csv" if name.lower().endswith(".csv") else "jsonl"
    return parse_trace(decode(data, "workload", name), fmt, max_rows=MAX_UPLOAD_ROWS)


def _csv_rows(text: str) -> Iterable[dict]:
    reader = csv.DictReader(io.StringIO(text.lstrip("\ufeff")))
    try:
        fieldnames = reader.fieldnames
    except csv.Error as e:
        raise ConfigError("workload", f"the header is not valid CSV: {_csv_problem(e)}") from None
    if fieldnames is None:
        raise ConfigError("workload", "trace file is empty")
    names = [(n or "").strip() for n in fieldnames]
    for col in TRACE_REQUIRED:
        if col not in names:
            raise ConfigError(col, f"required column is missing (columns found: {show(', '.join(names))})")
    while True:
        try:
            row = next(reader)
        except StopIteration:
            return
        except csv.Error as e:
            raise ConfigError("workload", f"not valid CSV: {_csv_problem(e)}", row=max(reader.line_num - 1, 1)) from None
        if None in row:  # more cells than header names
            raise ConfigError("workload", "row has more cells than the header", row=reader.line_num - 1)
        yield {(k or "").strip(): (v.strip() if isinstance(v, str) else v) for k, v in row.items()}


def _csv_problem(e: Exception) -> str:
    text = str(e)
    if "field larger than field limit" in text:
        return f"a cell is longer than {MAX_CSV_CELL_CHARS:,} characters"
    return text[:80]


def _jsonl_rows(text: str) -> Iterable[dict]:
    n = 0
    for line in text.splitlines():
        if not line.strip():
            continue
        n += 1
        if len(line) > MAX_JSON_LINE_CHARS:
            raise ConfigError("workload", f"line is {len(line):,} characters; at most {MAX_JSON_LINE_CHARS:,}", row=n)
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as e:
            raise ConfigError("workload", f"not valid JSON ({e.msg})", row=n) from None
        except RecursionError:
            raise ConfigError("workload", "values are nested too deeply", row=n) from None
        except ValueError:  # an integer of thousands of digits
            raise ConfigError("workload", "a number has too many digits", row=n) from None
        if not isinstance(obj, dict):
            raise ConfigError("workload", "each line must be a JSON object", row=n)
        for col in TRACE_REQUIRED:
            if col not in obj:
                raise ConfigError(col, "required field is missing", row=n)
        yield obj


def _num(row: dict, key: str, i: int, integer: bool, lo: float, hi: float, required: bool = True, hint: str = ""):
    """The number in ``row[key]`` (CSV text or a JSON number), finite and in [lo, hi], or one message."""
    v = row.get(key)
    if v is None or v == "":
        if required:
            raise ConfigError(key, "value is missing", row=i)
        return None
    if isinstance(v, bool) or not isinstance(v, (int, float, str)):
        raise ConfigError(key, f"expected a number, got {show(v)}", row=i)
    if isinstance(v, str) and len(v) > 40:
        raise ConfigError(key, f"expected a number, got {len(v):,} characters", row=i)
    try:
        x = float(v)
    except (TypeError, ValueError):
        raise ConfigError(key, f"expected a number, got {show(v)}", row=i) from None
    except OverflowError:  # a JSON integer beyond 1.8e308
        x = math.inf
    if not math.isfinite(x):
        raise ConfigError(key, f"expected a finite number, got {show(v)}", row=i)
    if not lo <= x <= hi:
        raise ConfigError(key, f"must be between {lo:,g} and {hi:,g}{hint}, got {show(v)}", row=i)
    if integer:
        if x != int(x):
            raise ConfigError(key, f"expected a whole number, got {show(v)}", row=i)
        return int(x)
    return x


def _text(row: dict, key: str, i: int, default: str) -> str:
    v = row.get(key)
    if v is None or v == "":
        return default
    if isinstance(v, bool) or not isinstance(v, (str, int, float)):
        raise ConfigError(key, f"expected text, got {show(v)}", row=i)
    if isinstance(v, int) and abs(v) > 10**30:
        raise ConfigError(key, f"expected text, got {show(v)}", row=i)
    return str(v)[:64]


def _row_to_request(row: dict, i: int) -> Request:
    arrival = _num(row, "arrival_s", i, False, 0, MAX_TIME_S, hint=" s; give times from the trace's start")
    prompt = _num(row, "prompt_tokens", i, True, 1, MAX_TOKENS_PER_REQUEST)
    output = _num(row, "output_tokens", i, True, 1, MAX_TOKENS_PER_REQUEST)
    prio = _num(row, "priority", i, True, -MAX_PRIORITY, MAX_PRIORITY, required=False)
    deadline = _num(row, "deadline_s", i, False, 0, MAX_TIME_S, required=False, hint=" s")
    if deadline is not None and deadline < arrival:
        raise ConfigError("deadline_s", f"deadline {deadline} is before the arrival {arrival}", row=i)
    cap = _num(row, "max_new_tokens", i, True, 1, MAX_TOKENS_PER_REQUEST, required=False)
    if cap is not None and cap < output:
        raise ConfigError("max_new_tokens", f"cap {cap} is below output_tokens {output}", row=i)
    rid = _text(row, "id", i, f"t{i}")
    cls = _text(row, "class", i, "default")
    return Request(id=rid, arrival_s=arrival, prompt_tokens=prompt, output_tokens=output,
                   priority=prio or 0, cls=cls, deadline_s=deadline, max_new_tokens=cap or output)


def trace_workload(reqs: list[Request], name: str = "trace") -> WorkloadConfig:
    """Wrap imported requests as a scripted workload, so the rest of the pipeline treats them alike."""
    classes = tuple(RequestClass(name=c, priority=p) for c, p in
                    sorted({(r.cls, r.priority) for r in reqs}, key=lambda cp: (cp[1], cp[0])))
    # Class names must be unique for the per-class breakdown; keep the most urgent priority per name.
    uniq: dict[str, RequestClass] = {}
    for c in classes:
        uniq.setdefault(c.name, c)
    return WorkloadConfig(name=name, arrival="scripted", script=tuple(reqs), classes=tuple(uniq.values()),
                          description=f"{len(reqs)} requests from a trace file.")
