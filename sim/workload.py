"""Workloads: request records, arrival processes, length distributions and presets (trace files: sim.trace_files).

A workload is the arrival stream that every policy is compared on. It is generated once from a seed
(same config + seed -> the same requests) and never depends on the policy, so two policies always see
the identical stream.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, replace

import numpy as np

from sim.errors import ConfigError, number, show, whole
from sim.limits import MAX_RATE_PER_S, MIN_RATE_PER_S, max_requests


@dataclass(frozen=True, slots=True)
class Request:
    """One inference request as the client sent it. Sizes in tokens, times in seconds."""

    id: str
    arrival_s: float
    prompt_tokens: int
    output_tokens: int  # tokens the request will actually generate (the simulator's oracle)
    priority: int = 0  # lower number = more urgent
    cls: str = "default"  # priority class name (user tier)
    deadline_s: float | None = None  # absolute time by which the request should finish (EDF)
    max_new_tokens: int = 0  # the client's generation cap; contiguous memory reserves prompt + this
    predicted_output_tokens: float = 0.0  # what a length predictor guesses (SJF); may be noisy

    def __post_init__(self) -> None:
        # A request built by hand may leave the cap and prediction at 0: they default to the truth.
        if self.max_new_tokens < self.output_tokens:
            object.__setattr__(self, "max_new_tokens", self.output_tokens)
        if self.predicted_output_tokens <= 0:
            object.__setattr__(self, "predicted_output_tokens", float(self.output_tokens))


@dataclass(frozen=True)
class LengthDist:
    """A token-length distribution: ``fixed`` (value), ``uniform`` (low..high) or ``lognormal``
    (median, sigma of the log, clipped to low..high: long-tailed like real chat outputs)."""

    kind: str = "fixed"
    value: int = 128
    low: int = 1
    high: int = 4096
    median: float = 128.0
    sigma: float = 1.0

    def validate(self, name: str) -> None:
        if self.kind not in ("fixed", "uniform", "lognormal"):
            raise ConfigError(name, f"unknown distribution {self.kind!r}; use fixed, uniform or lognormal")
        if self.kind == "fixed" and self.value < 1:
            raise ConfigError(name, f"fixed length must be at least 1 token, got {self.value}")
        if self.kind in ("uniform", "lognormal"):
            if self.low < 1 or self.high < self.low:
                raise ConfigError(name, f"need 1 <= low <= high, got low={self.low}, high={self.high}")
        if self.kind == "lognormal" and (self.median <= 0 or self.sigma < 0):
            raise ConfigError(name, f"lognormal needs median > 0 and sigma >= 0, got {self.median}, {self.sigma}")

    @property
    def cap(self) -> int:
        """The largest length this distribution can draw (a client's max_new_tokens)."""
        return self.value if self.kind == "fixed" else self.high

    def sample(self, rng: np.random.Generator, n: int) -> np.ndarray:
        if self.kind == "fixed":
            return np.full(n, self.value, dtype=np.int64)
        if self.kind == "uniform":
            return rng.integers(self.low, self.high + 1, size=n)
        draws = rng.lognormal(math.log(self.median), self.sigma, size=n)
        return np.clip(np.rint(draws), self.low, self.high).astype(np.int64)

    def describe(self) -> str:
        if self.kind == "fixed":
            return f"{self.value}"
        if self.kind == "uniform":
            return f"uniform {self.low}..{self.high}"
        return f"log-normal, median {self.median:g}, sigma {self.sigma:g}, clipped {self.low}..{self.high}"

    @staticmethod
    def parse(text: str, name: str) -> "LengthDist":
        """Parse ``128``, ``fixed:128``, ``uniform:64:256`` or ``lognormal:MEDIAN:SIGMA:LOW:HIGH``."""
        parts = str(text).strip().split(":")
        try:
            if len(parts) == 1:
                return _checked(LengthDist("fixed", value=int(parts[0])), name)
            kind, nums = parts[0], parts[1:]
            if kind == "fixed" and len(nums) == 1:
                return _checked(LengthDist("fixed", value=int(nums[0])), name)
            if kind == "uniform" and len(nums) == 2:
                return _checked(LengthDist("uniform", low=int(nums[0]), high=int(nums[1])), name)
            if kind == "lognormal" and len(nums) == 4:
                return _checked(LengthDist("lognormal", median=float(nums[0]), sigma=float(nums[1]),
                                           low=int(nums[2]), high=int(nums[3])), name)
        except ValueError:
            pass
        raise ConfigError(name, f"cannot read {text!r}; write N, fixed:N, uniform:LOW:HIGH "
                                "or lognormal:MEDIAN:SIGMA:LOW:HIGH")


def _checked(dist: LengthDist, name: str) -> LengthDist:
    dist.validate(name)
    return dist


@dataclass(frozen=True)
class RequestClass:
    """A priority class (user tier) with its own lengths, share of the traffic and service-level goals."""

    name: str = "default"
    priority: int = 0  # lower = more urgent
    share: float = 1.0  # fraction of arrivals in this class (normalized over classes)
    prompt: LengthDist = LengthDist("lognormal", median=256, sigma=0.8, low=16, high=2048)
    output: LengthDist = LengthDist("lognormal", median=128, sigma=1.0, low=8, high=1024)
    ttft_slo_s: float = 1.0  # time-to-first-token goal for goodput
    tbt_slo_s: float = 0.1  # largest acceptable gap between tokens for goodput
    deadline_after_s: float | None = None  # relative deadline (EDF); None = no deadline


@dataclass(frozen=True)
class WorkloadConfig:
    """How requests arrive and how long they are.

    ``arrival``: ``poisson`` (exponential gaps at ``rate_per_s``), ``gamma`` (bursty: gaps with mean
    1/rate and coefficient of variation ``cv``; cv=1 is Poisson), ``backlog`` (all requests waiting at
    t=0: a standing queue of documents), or ``scripted`` (the explicit ``script`` below).
    """

    name: str = "chat"
    n_requests: int = 200
    arrival: str = "poisson"
    rate_per_s: float = 2.0
    cv: float = 1.0
    classes: tuple[RequestClass, ...] = (RequestClass(),)
    script: tuple[Request, ...] = ()
    predictor_noise: float = 0.0  # sigma of log-normal noise on SJF's predicted output length
    description: str = ""
    look_for: str = ""

    def validate(self) -> None:
        if self.arrival not in ARRIVALS:
            raise ConfigError("arrival", f"unknown arrival process {show(self.arrival)}; use one of {', '.join(ARRIVALS)}")
        number("predictor_noise", self.predictor_noise, 0.0, 5.0, "(sigma of the log)")
        if self.arrival == "scripted":
            if not self.script:
                raise ConfigError("workload", "a scripted workload needs at least one request")
            if len(self.script) > max_requests():
                raise ConfigError("requests", f"{len(self.script):,} requests; at most {max_requests():,} per run")
            return
        whole("requests", self.n_requests, 1, max_requests())
        if self.arrival in ("poisson", "gamma"):
            number("rate", self.rate_per_s, MIN_RATE_PER_S, MAX_RATE_PER_S, "requests per second")
        if self.arrival == "gamma":
            number("cv", self.cv, 0.01, 20, "(coefficient of variation)")
        if not self.classes:
            raise ConfigError("classes", "need at least one request class")
        names = set()
        for c in self.classes:
            if c.name in names:
                raise ConfigError("classes", f"class {c.name!r} appears twice")
            names.add(c.name)
            if c.share <= 0:
                raise ConfigError("classes", f"class {c.name!r} needs a share > 0, got {c.share}")
            c.prompt.validate(f"prompt_tokens ({c.name})")
            c.output.validate(f"output_tokens ({c.name})")


ARRIVALS = ("poisson", "gamma", "backlog", "scripted")


@dataclass(frozen=True)
class Draw:
    """A generated (not scripted) request stream as arrays, in the order drawn (request i is ``r{i + 1}``):
    what ``generate`` turns into Request objects (then sorts by arrival), and what the compiled engine
    (``sim.fastpath``) reads directly."""

    arrivals: np.ndarray  # s, float64
    which: np.ndarray  # index of each request's class in ``cfg.classes``
    prompts: np.ndarray  # int64
    outputs: np.ndarray  # int64
    rng: np.random.Generator  # the stream's generator, after these draws (the predictor noise comes next)


def draw(cfg: WorkloadConfig, seed: int) -> Draw:
    """The random part of ``generate`` for a non-scripted workload: the same draws from the same generator."""
    rng = np.random.default_rng(seed)
    n = cfg.n_requests
    if cfg.arrival == "poisson":
        arrivals = np.cumsum(rng.exponential(1.0 / cfg.rate_per_s, size=n))
    elif cfg.arrival == "gamma":
        shape = 1.0 / (cfg.cv ** 2)  # CV of a gamma variable is 1/sqrt(shape)
        arrivals = np.cumsum(rng.gamma(shape, 1.0 / (cfg.rate_per_s * shape), size=n))
    else:  # backlog: everything already queued at t = 0
        arrivals = np.zeros(n)
    arrivals = arrivals - arrivals[0]  # the first request arrives at t = 0
    shares = np.array([c.share for c in cfg.classes], dtype=float)
    which = rng.choice(len(cfg.classes), size=n, p=shares / shares.sum())
    prompts = np.zeros(n, dtype=np.int64)
    outputs = np.zeros(n, dtype=np.int64)
    for k, c in enumerate(cfg.classes):
        mask = which == k
        m = int(mask.sum())
        prompts[mask] = c.prompt.sample(rng, m)
        outputs[mask] = c.output.sample(rng, m)
    return Draw(arrivals, which, prompts, outputs, rng)


def request_ids(n: int) -> list[str]:
    """Ids of a generated stream's requests, in the order they were drawn: r1..rN, zero-padded."""
    width = len(str(n))
    return [f"r{i + 1:0{width}d}" for i in range(n)]


def generate(cfg: WorkloadConfig, seed: int) -> list[Request]:
    """Draw the request stream of ``cfg``; one generator per call, so runs never share random state."""
    cfg.validate()
    if cfg.arrival == "scripted":
        reqs = list(cfg.script)
        rng = np.random.default_rng(seed)
    else:
        d = draw(cfg, seed)
        rng = d.rng
        n = cfg.n_requests
        reqs = []
        add = reqs.append
        classes = cfg.classes
        # Python numbers in one call each (.tolist() gives the same values as float(a[i]) / int(a[i]),
        # without a numpy scalar per element), and every field given, so __post_init__ changes nothing.
        for rid, k, arr, prompt, out in zip(request_ids(n), d.which.tolist(), d.arrivals.tolist(), d.prompts.tolist(),
                                            d.outputs.tolist()):
            c = classes[k]
            add(Request(rid, arr, prompt, out, c.priority, c.name,
                        None if c.deadline_after_s is None else arr + c.deadline_after_s,
                        max(out, c.output.cap), float(out)))
    if cfg.predictor_noise > 0:
        noise = rng.lognormal(0.0, cfg.predictor_noise, size=len(reqs))
        reqs = [replace(r, predicted_output_tokens=float(r.output_tokens * z)) for r, z in zip(reqs, noise)]
    reqs.sort(key=lambda r: r.arrival_s)  # stable: equal arrivals keep their listed order
    return reqs


# ---------------------------------------------------------------------------------------------------
# Presets. Each documents its numbers and what the learner should look for.

def _book_example() -> tuple[Request, ...]:
    # The book's x1..x5 example (C3), numbered as the course's cards for the book's figure number it:
    # iteration 1 prefills x1, x2; iterations 2 and 3 are their first and second decoding steps; x3 arrives
    # during iteration 3 and is prefilled in iteration 4 while x1, x2 decode; x2 gives its last token in
    # iteration 5, during which x4 and x5 arrive; iteration 6 prefills x4 in x2's slot and x5 waits. Arrival
    # times sit near the middle of an iteration (about 12 ms each with the default 8B model on an A100:
    # iteration 3 runs ~25-36 ms, iteration 5 ~49-61 ms), so a cost-model change of a few percent keeps
    # every request joining at the same iteration; tests/test_sim_strategies.py checks the sequence.
    def r(i, arr, out):
        return Request(id=f"x{i}", arrival_s=arr, prompt_tokens=8, output_tokens=out, max_new_tokens=out)
    return (r(1, 0.0, 9), r(2, 0.0, 5), r(3, 0.030, 5), r(4, 0.055, 4), r(5, 0.055, 3))


def _three_long_one_short() -> tuple[Request, ...]:
    long = [Request(id=f"long{i}", arrival_s=0.0, prompt_tokens=1024, output_tokens=400) for i in (1, 2, 3)]
    # The short one arrives after the long ones have run a few dozen decode steps.
    return tuple(long + [Request(id="short", arrival_s=1.0, prompt_tokens=32, output_tokens=16)])


def _frag_classes() -> tuple[RequestClass, ...]:
    return (
        RequestClass("short", 0, 0.6, LengthDist("uniform", low=32, high=128),
                     LengthDist("uniform", low=16, high=96)),
        RequestClass("long", 0, 0.4, LengthDist("uniform", low=600, high=1400),
                     LengthDist("lognormal", median=200, sigma=0.6, low=50, high=1024)),
    )


PRESETS: dict[str, WorkloadConfig] = {
    "chat": WorkloadConfig(
        name="chat", n_requests=200, arrival="poisson", rate_per_s=2.0,
        classes=(RequestClass("chat", 0, 1.0,
                              LengthDist("lognormal", median=256, sigma=0.8, low=16, high=2048),
                              LengthDist("lognormal", median=128, sigma=1.0, low=8, high=1024),
                              ttft_slo_s=1.0, tbt_slo_s=0.1),),
        description="Poisson arrivals at 2 req/s; prompts log-normal (median 256, 16..2048 tokens); "
                    "outputs long-tailed log-normal (median 128, 8..1024 tokens).",
        look_for="Raise the rate until requests queue: TTFT grows long before throughput stops rising."),
    "summarization": WorkloadConfig(
        name="summarization", n_requests=200, arrival="poisson", rate_per_s=3.0,
        classes=(RequestClass("summarize", 0, 1.0, LengthDist("uniform", low=1500, high=3000),
                              LengthDist("uniform", low=64, high=256), ttft_slo_s=3.0, tbt_slo_s=0.2),),
        description="Poisson at 3 req/s; long prompts uniform 1500..3000 tokens; short outputs 64..256.",
        look_for="Prefill dominates: compare the TBT tail of continuous (whole prompts in one pass) and chunked."),
    "legal-archive": WorkloadConfig(
        name="legal-archive", n_requests=300, arrival="backlog",
        classes=(RequestClass("document", 1, 1.0,
                              LengthDist("lognormal", median=3000, sigma=0.4, low=1000, high=6000),
                              LengthDist("uniform", low=100, high=300), ttft_slo_s=3600.0, tbt_slo_s=10.0),),
        description="A standing backlog of 300 legal documents at t=0 (prompts log-normal, median 3000, "
                    "1000..6000 tokens) each summarized in 100..300 tokens. Nobody waits on a screen.",
        look_for="Only documents per second (throughput, makespan) matter: prefill-prioritized continuous "
                 "batching finishes the archive sooner than standard (static) batching."),
    "hybrid-service": WorkloadConfig(
        name="hybrid-service", n_requests=300, arrival="poisson", rate_per_s=6.0,
        classes=(
            RequestClass("interactive", 0, 0.7, LengthDist("lognormal", median=200, sigma=0.6, low=16, high=1024),
                         LengthDist("lognormal", median=100, sigma=0.6, low=8, high=512),
                         ttft_slo_s=0.5, tbt_slo_s=0.05, deadline_after_s=5.0),
            RequestClass("batch", 1, 0.3, LengthDist("uniform", low=2000, high=4000),
                         LengthDist("lognormal", median=600, sigma=0.4, low=200, high=1500),
                         ttft_slo_s=60.0, tbt_slo_s=1.0, deadline_after_s=120.0),
        ),
        description="6 req/s: 70% 'interactive' (priority 0, TTFT goal 0.5 s, TBT goal 50 ms) and 30% 'batch' "
                    "(priority 1, 2000..4000-token prompts, long outputs, loose goals).",
        look_for="Priority order with preemption keeps the interactive class inside its goals; watch the batch "
                 "class's longest wait for starvation."),
    "three-long-one-short": WorkloadConfig(
        name="three-long-one-short", arrival="scripted", script=_three_long_one_short(),
        description="Three long requests (1024-token prompts, 400 output tokens) start at t=0; a short one "
                    "(32 prompt, 16 output tokens) arrives at 1.0 s, some 55 decode steps later.",
        look_for="Under continuous batching the short request joins at the next iteration and finishes long "
                 "before the long ones; under static batching it waits for the whole batch."),
    "book-example": WorkloadConfig(
        name="book-example", arrival="scripted", script=_book_example(),
        description="The book's x1..x5 example with an engine that holds 3 sequences: x1, x2 at t=0; x3 "
                    "during iteration 3; x4 and x5 during iteration 5. Prompts 8 tokens; outputs 9, 5, 5, 4, 3.",
        look_for="Iteration 1 prefills x1 and x2; iterations 2 and 3 decode them; iteration 4 prefills x3 in "
                 "the same pass in which x1, x2 decode; x2 gives its last token in iteration 5; at iteration 6 "
                 "x4 takes its slot (prefilled while x1, x3 decode) and x5 waits in the queue."),
    "many-tiny": WorkloadConfig(
        name="many-tiny", n_requests=400, arrival="poisson", rate_per_s=400.0,
        classes=(RequestClass("tiny", 0, 1.0, LengthDist("uniform", low=4, high=16),
                              LengthDist("uniform", low=1, high=4), ttft_slo_s=0.2, tbt_slo_s=0.05),),
        description="400 req/s of tiny requests: prompts 4..16 tokens, outputs 1..4 tokens.",
        look_for="Every request joins and leaves after a few iterations; at this scenario's illustrative 2 ms "
                 "per join/leave (ten times the cost model's default of 0.2 ms) the reorganization cost eats "
                 "the gain of continuous batching, and standard batching comes out ahead."),
    "fragmentation": WorkloadConfig(
        name="fragmentation", n_requests=120, arrival="poisson", rate_per_s=8.0, classes=_frag_classes(),
        description="Mixed lengths at 8 req/s: 60% short (32..128 prompt, 16..96 output), 40% long (600..1400 "
                    "prompt, output log-normal median 200, cap 1024) in a small 12,000-token KV cache.",
        look_for="Contiguous memory reserves prompt + 1024 tokens per request and leaves holes: a request is "
                 "refused although total free memory would hold it. Paged memory wastes under one block each."),
}


def preset(name: str) -> WorkloadConfig:
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError("workload", f"unknown preset {name!r}; choose one of {', '.join(PRESETS)} "
                                      "or give a trace file (.csv or .jsonl)") from None


def with_overrides(cfg: WorkloadConfig, n_requests: int | None = None, rate_per_s: float | None = None,
                   **kw) -> WorkloadConfig:
    """Apply command-line style overrides; scripted workloads keep their fixed requests."""
    changes = dict(kw)
    if n_requests is not None:
        if cfg.arrival == "scripted":
            changes["script"] = cfg.script[:max(n_requests, 0)] if n_requests < len(cfg.script) else cfg.script
        changes["n_requests"] = n_requests
    if rate_per_s is not None:
        changes["rate_per_s"] = rate_per_s
    return replace(cfg, **changes) if changes else cfg


__all__ = ["Request", "LengthDist", "RequestClass", "WorkloadConfig", "PRESETS", "preset", "generate",
           "with_overrides"]
