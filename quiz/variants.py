"""``generate(question, seed) -> Variant``: one instance of a question, the first of the quiz's three pure
functions (``quiz.model`` holds the types, ``parse`` and ``grade``).

A fixed question ignores the seed, except that an ordering question shuffles its items; a parameterized one
asks its generator (``quiz.generators``), which runs the simulator to compute the answer. This module sits
above both: the generators build on the model's types, and the model knows no generator (no import circle).
"""

from __future__ import annotations

from quiz.model import Question, Variant, shuffle_items


def generate(q: Question, seed: int) -> Variant:
    """The variant of ``q`` for ``seed``; same question + seed -> the same variant."""
    if q.generator:
        from quiz.generators import run_generator  # imports the simulator; fixed questions never need it
        return run_generator(q, seed)
    base = dict(question_id=q.id, concept=q.concept, kind=q.kind, seed=seed, stem=q.stem, hint=q.hint)
    if q.kind in ("single", "multiple"):
        return Variant(**base, options=q.options)
    if q.kind == "numeric":
        return Variant(**base, answer=q.answer, tolerance=q.tolerance, unit=q.unit, feedback=q.feedback,
                       mistakes=q.mistakes)
    presented, order = shuffle_items(q.options, seed)
    return Variant(**base, options=presented, order=order, feedback=q.feedback)
