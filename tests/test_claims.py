"""The claims of quiz/claims.py: each holds on every one of CHECK_SEEDS (at least 5), names real pages,
questions and links, and a link shows the configuration the claim was measured on."""

import pytest

from quiz import claims as C
from quiz.bank import load_bank
from quiz import catalog
from quiz.links import check_link, link_configs
from sim import simulate

BANK = {q.id: q for q in load_bank()}


def test_at_least_five_seeds():
    assert len(set(C.CHECK_SEEDS)) >= 5


@pytest.mark.parametrize("claim", C.CLAIMS, ids=lambda c: c.id)
def test_claim_holds_on_every_seed(claim):
    runs = C.check(claim)
    failed = [C.sentence(m) for m in runs if not m.holds]
    assert not failed, failed
    # The seeds must really change the arrivals where the scenario draws them (a backlog or a stream):
    # otherwise five seeds are one check.
    if claim.scenario not in ("book-example", "three-long-one-short"):
        assert len({round(m.b, 9) for m in runs}) > 1 or not claim.vary, claim.id


@pytest.mark.parametrize("claim", C.CLAIMS, ids=lambda c: c.id)
def test_claim_is_well_formed(claim):
    assert claim.direction in C.DIRECTIONS
    assert claim.metric in C.DISPLAY, "every claimed metric has words and a unit for the pages"
    assert claim.statement.endswith(".") and claim.margin >= 0
    for qid in claim.quiz:
        assert qid in BANK, qid
    for page in claim.pages:
        assert page in catalog.BY_URL or page == "home", page
    if claim.link is not None:
        page, params = claim.link
        assert check_link(page, dict(params)) == []


@pytest.mark.parametrize("claim", [c for c in C.CLAIMS if c.link and c.link[0] in ("playground", "prefill-vs-decode")],
                         ids=lambda c: c.id)
def test_link_shows_the_measured_configuration(claim):
    """A link to a simulator view must open one side of the claim exactly as it was measured (seed 0)."""
    page, params = claim.link
    shown = link_configs(page, dict(params))
    a, b = C.configs(claim, 0)
    sides = {round(C.value(claim, simulate(cfg)), 9) for cfg in shown.values()}
    measured = {round(C.value(claim, simulate(cfg)), 9) for cfg in (a, b) if cfg is not None}
    if page == "playground":
        assert sides <= measured, (claim.id, sides, measured)  # one run: one of the two sides
    else:
        assert sides == measured, (claim.id, sides, measured)


def test_conditions_come_with_their_counter_claim():
    """A claim that holds only under a condition is paired with one that shows what happens without it."""
    assert C.BY_ID["sjf-lowers-mean-when-queueing"].condition
    assert C.BY_ID["sjf-no-effect-without-queue"].direction == "same"
    assert "2 ms" in C.BY_ID["tiny-static-wins-at-2ms"].condition
    assert C.BY_ID["tiny-continuous-wins-at-default"].direction == "higher"


def test_a_claim_that_does_not_hold_is_reported(monkeypatch):
    wrong = C.Claim("wrong", "Static batching beats continuous on the archive.", "legal-archive", "policy",
                    "static", "continuous", "requests_per_s", "higher")
    m = C.measure(wrong, 0)
    assert not m.holds and "does not hold" in C.sentence(m)
    monkeypatch.setattr(C, "CLAIMS", (wrong,))
    assert C.problems(seeds=(0,)) and "fails on seed 0" in C.problems(seeds=(0,))[0]


def test_sentence_shows_both_numbers_in_page_units():
    m = C.measure(C.BY_ID["legal-continuous-beats-static"], 0)
    text = C.sentence(m)
    assert "/h under continuous against" in text and "/h under static" in text and "seed 0" in text
