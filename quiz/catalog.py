"""The page catalog: every page of Batch Lab described once (file, title, URL path, navigation section, icon,
the concepts it teaches, its place on the learning path, the scenario it shows and the URL query parameters
it reads, with the ranges of their widgets).

Readers: app.py's router builds the navigation from it, pages/home.py the learning path, pages/common.py
the page links, and quiz/links.py checks the quiz's "open in the simulator" links against it (a link must
name a page of the catalog, only parameters that page reads, and values inside its widgets' ranges, or the
page would silently show its defaults instead of what the question claims).

Why in quiz/ and not pages/catalog.py: quiz/ is pure Python and must not import pages/ (the UI layer above
it); the catalog is plain data that the UI (app.py, pages/) and the quiz both read, so it sits in the lower
of the two layers and imports nothing but the standard library (not even the rest of quiz/). Adding a page is one script in pages/ plus one
``Page`` entry in ``PAGES`` below; tests/test_catalog.py checks that the two agree.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ParamKind = Literal["choice", "int", "float", "text", "flag"]
CONCEPTS = tuple(f"C{i}" for i in range(1, 13))  # DESIGN.md section 1 (quiz.model names them)
SECTIONS = ("Learn", "Explore", "Check yourself", "Class")  # navigation groups, in menu order


@dataclass(frozen=True)
class Param:
    """One URL query parameter a page reads: the key of ``st.query_params`` that holds a widget's value.

    ``lo``/``hi`` are the widget's range for numbers (``None`` where the page sets it from the run, e.g.
    the last iteration); a URL value outside it is replaced by the page's default. A ``choice`` lists its
    options in the page (they come from the simulator's registries or the page's own lesson).
    """
    kind: ParamKind
    lo: float | None = None
    hi: float | None = None


CHOICE, TEXT, FLAG = Param("choice"), Param("text"), Param("flag")


def Int(lo: int | None = None, hi: int | None = None) -> Param:  # noqa: N802  (reads like a type)
    return Param("int", lo, hi)


def Float(lo: float, hi: float) -> Param:  # noqa: N802
    return Param("float", lo, hi)


@dataclass(frozen=True)
class Page:
    url_path: str  # the URL is /<url_path>; "" for the default page (Home)
    file: str  # the script, relative to the repository root
    title: str
    icon: str  # a Material Symbols name as Streamlit writes it (":material/...:")
    section: str  # navigation group, one of SECTIONS
    blurb: str  # one line under the page's link on Home's learning path
    concepts: tuple[str, ...] = ()  # DESIGN.md concept ids the page teaches; all twelve for playground and quiz
    on_path: bool = True  # on Home's learning path, which follows the order of PAGES
    path_label: str = ""  # the learning path's line for a page that teaches no concept of its own
    scenario: str | None = None  # the one scenario preset the page always shows; None if it reads ?scenario=
    params: dict[str, Param] = field(default_factory=dict)  # the URL query parameters the page reads

    @property
    def concept_label(self) -> str:
        """'C1, C2, C3, C7', or 'C1-C12' for a page on every concept; '' for none."""
        if self.concepts == CONCEPTS:
            return f"{CONCEPTS[0]}-{CONCEPTS[-1]}"
        return ", ".join(self.concepts)

    @property
    def shows_scenario(self) -> bool:
        """Whether a link to the page can name a scenario: its fixed one, or any when it reads ?scenario=."""
        return self.scenario is not None or "scenario" in self.params


SEED = Int(0, 10_000)  # the lesson pages' seed box

# In learning-path order; the menu groups them by section and keeps this order within a section.
PAGES: tuple[Page, ...] = (
    Page("", "pages/home.py", "Home", ":material/home:", "Learn",
         "What the app teaches and how to use it.", on_path=False),
    Page("iteration-cost", "pages/iteration-cost.py", "What one iteration costs", ":material/speed:", "Learn",
         "One forward pass: prefill is compute-bound, decode memory-bound; the ridge point between them.",
         concepts=("C1",), params={"preset": CHOICE, "ctx": Int(128, 8192)}),
    Page("step-by-step", "pages/step-by-step.py", "Continuous batching, step by step", ":material/footprint:",
         "Learn", "The book's x1..x5 example, one iteration (forward pass) at a time: predict, then step.",
         concepts=("C1", "C2", "C3", "C7"), scenario="book-example",
         params={"standard": FLAG, "it": Int(0), "follow": CHOICE}),
    Page("reorganization", "pages/reorganization.py", "Batch reorganization overhead", ":material/swap_horiz:",
         "Learn", "Every join and leave costs time: where continuous batching stops paying off.",
         concepts=("C4",), scenario="many-tiny",
         params={"reorg": Float(0.0, 10.0), "metric": CHOICE, "requests": CHOICE, "seed": SEED, "size": CHOICE}),
    Page("memory", "pages/memory.py", "Memory and fragmentation", ":material/memory:", "Learn",
         "Paged vs contiguous KV memory: reserved, internal and external waste.",
         concepts=("C5",), scenario="fragmentation",
         params={"requests": Int(20, 120), "kv": CHOICE, "block": CHOICE, "seed": SEED, "it": Int(1),
                 "follow": CHOICE}),
    Page("prefill-vs-decode", "pages/prefill-vs-decode.py", "Prefill vs decode priority",
         ":material/compare_arrows:", "Learn", "The same arrivals under two policies: throughput against token "
         "latency.", concepts=("C6", "C8", "C11"),
         params={"scenario": CHOICE, "rate": Float(0.5, 32.0), "requests": Int(10, 200), "seed": SEED,
                 "budget": CHOICE, "a": CHOICE, "b": CHOICE, "hw": CHOICE, "follow": CHOICE}),
    Page("priorities", "pages/priorities.py", "Priorities and custom policies", ":material/low_priority:",
         "Learn", "FCFS, priority, SJF, EDF, aging and your own expression; starvation made visible.",
         concepts=("C8", "C9"), scenario="hybrid-service",
         params={"rate": CHOICE, "share": Float(0.5, 0.95), "requests": CHOICE, "preempt": CHOICE,
                 "aging": Float(1.0, 60.0), "seed": SEED, "expr": TEXT}),
    Page("disaggregation", "pages/disaggregation.py", "Disaggregation", ":material/call_split:", "Learn",
         "A prefill engine hands KV caches to a decode engine over a link.", concepts=("C10",),
         params={"scenario": CHOICE, "rate": Float(0.5, 16.0), "requests": Int(10, 120), "seed": SEED,
                 "colo": CHOICE, "link": CHOICE, "prefill": Int(1, 4), "decode": Int(1, 4), "follow": CHOICE}),
    Page("choosing", "pages/choosing.py", "Choosing a strategy", ":material/flag:", "Check yourself",
         "Legal archive and hybrid service: state your conclusion, then see the numbers.",
         concepts=("C12",), params={"exp": CHOICE}),
    Page("playground", "pages/playground.py", "Scheduling playground", ":material/tune:", "Explore",
         "Any workload, any policy: animated timeline, metrics, iteration log, downloads.",
         concepts=CONCEPTS, path_label="Any workload, any policy: the free playground",
         params={"scenario": CHOICE, "rate": Float(0.1, 1000.0), "requests": Int(1, 500), "policy": CHOICE,
                 "order": CHOICE, "expr": TEXT, "preempt": CHOICE, "memory": CHOICE, "budget": Int(16, 16384),
                 "max_batch": Int(1, 1024), "mbt": Int(16, 65536), "hw": CHOICE, "kv": Int(0, 5_000_000),
                 "seed": Int(0, 1_000_000),
                 "inspect": Int(1), "log": FLAG, "follow": CHOICE}),
    Page("validate", "pages/validate.py", "Validate against a real model", ":material/fact_check:", "Explore",
         "The same scheduler runs a tiny real model; compare measured and simulated times.",
         path_label="Compare the simulator with a small real model",
         params={"policy": CHOICE, "requests": Int(8, 200), "seed": SEED, "arrivals": CHOICE, "clock": CHOICE,
                 "recal": FLAG, "runs": Int(1, 5)}),
    Page("quiz", "pages/_quiz.py", "Quiz", ":material/quiz:", "Check yourself",
         "Scenario questions whose answers the simulator can demonstrate.", concepts=CONCEPTS,
         path_label="Quiz: scenario questions the simulator can demonstrate", params={"class": TEXT}),
    Page("join", "pages/join.py", "Join a class", ":material/login:", "Class",
         "Predict live with your class on your own device: type the instructor's join code.", on_path=False,
         params={"code": TEXT}),
    Page("presenter", "pages/presenter.py", "Class presenter", ":material/co_present:", "Class",
         "For instructors: the room's live predictions, the reveal, and the class's quiz results.", on_path=False,
         params={"code": TEXT, "key": TEXT}),
)

BY_URL: dict[str, Page] = {p.url_path: p for p in PAGES}


def page(url_path: str) -> Page:
    """The catalog entry for a URL path; KeyError names the known paths."""
    try:
        return BY_URL[url_path]
    except KeyError:
        raise KeyError(f"unknown page {url_path!r}; pages are {', '.join(BY_URL)}") from None


def learning_path() -> list[Page]:
    """The pages on Home's learning path, in the course card's order (learn before, then learn after)."""
    return [p for p in PAGES if p.on_path]


def by_section() -> dict[str, list[Page]]:
    """The navigation: section -> its pages in catalog order, sections in SECTIONS order."""
    out: dict[str, list[Page]] = {s: [] for s in SECTIONS}
    for p in PAGES:
        out[p.section].append(p)
    return {s: ps for s, ps in out.items() if ps}
