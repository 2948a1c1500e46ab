"""Size limits on every input, in one place: a run, a trace, a sweep, a scenario or quiz bank file.

Batch Lab is served to a whole class from one machine, so no input may cost unbounded time or memory.
Each limit is checked before the work it bounds (a file's size before it is read, a sweep's grid before
its first run), and ``python -m sim run --help`` and the README list them from here.
"""

from __future__ import annotations

MAX_REQUESTS = 100_000  # requests in one run (generated or from a trace): ~10x the `sim bench` workload
# `sim run --large` (command line only, untraced): one point of a research sweep. Pages and trace files
# keep MAX_REQUESTS; a million chat requests take ~1 GB and minutes.
MAX_REQUESTS_LARGE = 1_000_000
MAX_TRACE_ROWS = MAX_REQUESTS  # data rows of a trace file (CSV or JSON lines)
MAX_UPLOAD_ROWS = 2_000  # rows of a trace uploaded to the playground, which records and draws every pass
MAX_TRACE_BYTES = 16 * 1024 * 1024  # a trace file or upload: 100,000 rows of ~60 bytes fit 6 times over
MAX_CSV_CELL_CHARS = 131_072  # one CSV cell (the csv module's own field limit)
MAX_JSON_LINE_CHARS = 65_536  # one JSON-lines row
MAX_SCENARIO_BYTES = 1_000_000  # a YAML/JSON scenario file
MAX_BANK_FILE_BYTES = 1_000_000  # a quiz bank file
MAX_YAML_ALIASES = 100  # '*name' references in one YAML document
MAX_YAML_NODES = 100_000  # values in one YAML document once aliases are expanded (an alias bomb has ~10^9)
MAX_NESTING = 50  # nested mappings / lists in a YAML or JSON document
MAX_SWEEP_POINTS = 500  # policies x rates x seeds of one sweep
MAX_SWEEP_REQUESTS = 2_000_000  # requests simulated over a whole sweep (grid points x requests per run)
MAX_TOKENS_PER_REQUEST = 10_000_000  # prompt or output tokens of one request
# Arrival times and deadlines, s (~116 days). Beyond it a float's spacing (2e-9 s here, 0.125 s at 1e15) is
# no longer small beside a pass of a few ms, and times, gaps and fractions come out wrong.
MAX_TIME_S = 1e7
MIN_RATE_PER_S, MAX_RATE_PER_S = 1e-3, 1e6  # arrival rate, requests/s (one per ~17 minutes .. a million)
MAX_PRIORITY = 1_000_000  # |priority| of a request class
# Keys computed to re-sort a waiting queue whose order changes with waiting time (aging, custom expressions
# over waiting_s), in aging-key units (~0.3-0.5 us each here): a run over it stops with one message after
# seconds, not hours. The 10,000-request chat benchmark at 12 requests/s under aging needs ~6.8 million.
MAX_SORT_WORK = 10_000_000

_requests_limit = [MAX_REQUESTS]


def max_requests() -> int:
    """Requests one run may have now: MAX_REQUESTS, or MAX_REQUESTS_LARGE inside ``large_runs()``."""
    return _requests_limit[-1]


class large_runs:
    """``with large_runs():`` lifts the requests-per-run limit to MAX_REQUESTS_LARGE (``sim run --large``)."""

    def __enter__(self):
        _requests_limit.append(MAX_REQUESTS_LARGE)

    def __exit__(self, *exc):
        _requests_limit.pop()


LIMITS_HELP = (f"limits: at most {MAX_REQUESTS:,} requests per run ({MAX_REQUESTS_LARGE:,} with sim run --large); traces at most {MAX_TRACE_ROWS:,} rows and "
               f"{MAX_TRACE_BYTES // (1024 * 1024)} MiB, CSV cells {MAX_CSV_CELL_CHARS:,} characters, JSON lines "
               f"{MAX_JSON_LINE_CHARS:,} characters; scenario files {MAX_SCENARIO_BYTES // 1_000_000} MB, "
               f"{MAX_YAML_ALIASES} YAML aliases, {MAX_YAML_NODES:,} values once aliases are expanded, "
               f"{MAX_NESTING} levels of nesting; sweeps {MAX_SWEEP_POINTS} grid points and "
               f"{MAX_SWEEP_REQUESTS:,} requests in all; orders that re-sort as requests wait (aging, custom "
               f"over waiting_s) {MAX_SORT_WORK:,} key evaluations per run")
