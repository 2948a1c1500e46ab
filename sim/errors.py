"""Errors that the simulator raises for bad input: one message that names the field (and row)."""

from __future__ import annotations


class ConfigError(ValueError):
    """A configuration, trace row or expression that the simulator refuses.

    ``field`` names the offending setting or trace column, ``row`` the 1-based data row of a trace file
    (header not counted) where there is one. ``str(err)`` is the single message shown to the learner.
    """

    def __init__(self, field: str, message: str, row: int | None = None):
        self.field = field
        self.row = row
        self.reason = message
        where = f"{field} (row {row})" if row is not None else field
        super().__init__(f"{where}: {message}")
