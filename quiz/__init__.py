"""Batch Lab's quiz: a question bank (data files under quiz/bank/), variants, grading, export and CLI.

Pure Python: no streamlit, no plotly. A question is data (``quiz.model``) plus pure functions:
``generate(question, seed)`` (``quiz.variants``), ``parse(variant, submission)`` and ``grade(variant, parsed)``
(``quiz.model``). Parameterized questions compute their answers by running the simulator (``quiz.generators``).
"""

from quiz.bank import BankError, cached_bank, load_bank
from quiz.model import CONCEPT_NAMES, CONCEPTS, Grade, InvalidSubmission, Question, Variant, grade, parse
from quiz.variants import generate

__all__ = ["BankError", "cached_bank", "load_bank", "CONCEPTS", "CONCEPT_NAMES", "Grade", "InvalidSubmission",
           "Question", "Variant", "generate", "grade", "parse"]
