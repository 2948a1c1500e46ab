"""Errors that the simulator raises for bad input: one message that names the field (and row)."""

from __future__ import annotations


class ConfigError(ValueError):
    """A configuration, trace row or expression that the simulator refuses.

    ``field`` names the offending setting or trace column, ``row`` the 1-based data row of a trace file
    (header not counted) where there is one. ``str(err)`` is the single message shown to the learner.

    ``args`` holds exactly the constructor's arguments, so ``type(e)(*e.args)`` rebuilds the same error:
    SimPy re-creates an exception that way when it leaves a process (and pickling for worker processes
    does the same), and the copy must carry the same field, row and one-line message.
    """

    def __init__(self, field: str, message: str, row: int | None = None):
        super().__init__(field, message, row)
        self.field = field
        self.row = row
        self.reason = message

    def __str__(self) -> str:
        where = f"{self.field} (row {self.row})" if self.row is not None else self.field
        return f"{where}: {self.reason}"


def whole(field: str, value, lo: int, hi: int, row: int | None = None) -> int:
    """``value`` if it is a whole number (not a boolean, not a float) in [lo, hi]; else one ConfigError."""
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ConfigError(field, f"must be a whole number from {lo:,} to {hi:,}, got {show(value)}", row=row)
    return value


def number(field: str, value, lo: float, hi: float, unit: str = "", row: int | None = None) -> float:
    """``value`` if it is a finite number (not a boolean) in [lo, hi]; else one ConfigError."""
    ok = not isinstance(value, bool) and isinstance(value, (int, float))
    if ok:
        try:
            ok = lo <= float(value) <= hi  # NaN compares false; an int too large for a float overflows
        except OverflowError:
            ok = False
    if not ok:
        unit = f" {unit}" if unit else ""
        raise ConfigError(field, f"must be a number from {lo:g} to {hi:g}{unit}, got {show(value)}", row=row)
    return value


def show(value) -> str:
    """A value for a message: its repr cut to 40 characters (a message never formats a whole value)."""
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) > 10**30:
        return "a number of more than 30 digits"
    if isinstance(value, (dict, list, tuple, set)):
        return f"a {type(value).__name__}"
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
