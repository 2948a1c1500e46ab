"""Batch Lab's discrete-event simulator of LLM inference scheduling (pure Python + numpy + SimPy as the event clock).

Import what a caller needs from here: ``SimConfig``, ``scenario`` and ``simulate``.
"""

from sim.config import SCENARIOS, SimConfig, scenario
from sim.engine import simulate
from sim.errors import ConfigError

__all__ = ["SimConfig", "SCENARIOS", "scenario", "simulate", "ConfigError"]
