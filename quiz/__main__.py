"""``python -m quiz``: list, check and export the question bank (see quiz.cli)."""

import sys

from quiz.cli import main

sys.exit(main())
