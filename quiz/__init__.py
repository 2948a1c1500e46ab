"""Batch Lab's quiz: a question bank (data files under quiz/bank/), variants, grading, export and CLI.

Pure Python: no streamlit, no plotly. A question is data plus pure functions (``quiz.model``):
``generate(question, seed)``, ``parse(variant, submission)``, ``grade(variant, parsed)``. Parameterized
questions compute their answers by running the simulator (``quiz.generators``).
"""

from quiz.bank import BankError, cached_bank, load_bank
from quiz.model import CONCEPT_NAMES, CONCEPTS, Grade, InvalidSubmission, Question, Variant, generate, grade, parse

__all__ = ["BankError", "cached_bank", "load_bank", "CONCEPTS", "CONCEPT_NAMES", "Grade", "InvalidSubmission",
           "Question", "Variant", "generate", "grade", "parse"]
