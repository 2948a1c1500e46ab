"""Files in and out: untrusted files and uploads read with bounded cost (bytes -> text -> YAML / JSON
values), and outputs written atomically without overwriting an input.

Every file a learner or instructor hands Batch Lab (a scenario, a trace, an uploaded trace, a quiz bank)
comes through here, so each check is written once:

- the size is checked before the file is read (``os.stat``, then a read of at most the limit + 1 bytes);
- the bytes must be UTF-8 text: a UTF-16 / UTF-32 file or a binary one gets a message saying so, not a
  decoding traceback;
- YAML is first scanned as a stream of parser events, counting aliases, nesting depth and the number of
  values once every alias is expanded, before anything is constructed: an alias bomb (9 levels of 9
  references each, ~10^9 values from a few hundred bytes) is refused in milliseconds and kilobytes, where
  constructing it took seconds and a gigabyte;
- JSON and YAML values may nest at most ``MAX_NESTING`` deep and may not hold integers of thousands of
  digits (Python refuses to convert those, with a ValueError that used to escape as a traceback).

Problems raise ``ConfigError`` naming the field the caller gives (``scenario``, ``workload``, ...).
"""

from __future__ import annotations

import json
import os

from sim.errors import ConfigError, show  # noqa: F401 (show: re-exported for the loaders)
from sim.limits import MAX_NESTING, MAX_YAML_ALIASES, MAX_YAML_NODES


def read_bytes(path: str, field: str, max_bytes: int, what: str = "file") -> bytes:
    """At most ``max_bytes`` of a file, refusing a larger one before reading it."""
    name = os.path.basename(path) or path
    try:
        size = os.stat(path).st_size
        if size > max_bytes:
            raise ConfigError(field, f"{what} {name!r} is {size:,} bytes; the limit is {max_bytes:,}")
        with open(path, "rb") as f:
            data = f.read(max_bytes + 1)
    except OSError as e:
        raise ConfigError(field, f"cannot read {what} {name!r}: {e.strerror or e}") from None
    if len(data) > max_bytes:  # a file that grew, or a pipe / device without a size
        raise ConfigError(field, f"{what} {name!r} is larger than the limit of {max_bytes:,} bytes")
    return data


def decode(data: bytes, field: str, name: str) -> str:
    """UTF-8 text from bytes (a UTF-8 byte-order mark is dropped), or one message on what the bytes are."""
    if data[:4] in (b"\xff\xfe\x00\x00", b"\x00\x00\xfe\xff"):
        raise ConfigError(field, f"{name} is UTF-32 text; save it as UTF-8")
    if data[:2] in (b"\xff\xfe", b"\xfe\xff"):
        raise ConfigError(field, f"{name} is UTF-16 text; save it as UTF-8")
    if data[:3] == b"\xef\xbb\xbf":
        data = data[3:]
    nul = data.find(b"\x00", 0, 65536)
    if nul >= 0:
        raise ConfigError(field, f"{name} is a binary file, not text (a NUL byte at offset {nul:,})")
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise ConfigError(field, f"{name} is not UTF-8 text (byte {e.start:,}, line {line:,}); "
                                 "save it as UTF-8") from None


def read_text(path: str, field: str, max_bytes: int, what: str = "file") -> str:
    return decode(read_bytes(path, field, max_bytes, what), field, f"{what} {os.path.basename(path)!r}")


def _is(what: str) -> str:
    """'the scenario file: ' before a problem, or nothing when the caller names the file itself."""
    return f"{what}: " if what else ""


def check_nesting(value, field: str, limit: int = MAX_NESTING) -> None:
    """Refuse values nested deeper than ``limit`` (iteratively: a deep value cannot exhaust the stack)."""
    stack = [(value, 1)]
    while stack:
        v, depth = stack.pop()
        if isinstance(v, dict):
            children = v.values()
        elif isinstance(v, (list, tuple)):
            children = v
        else:
            continue
        if depth > limit:
            raise ConfigError(field, f"values are nested more than {limit} levels deep")
        stack.extend((c, depth + 1) for c in children)


def load_json(text: str, field: str, what: str = "file"):
    """One JSON value; deep nesting and integers of thousands of digits are one message each."""
    try:
        value = json.loads(text)
    except ConfigError:
        raise
    except json.JSONDecodeError as e:
        raise ConfigError(field, f"{_is(what)}not valid JSON (line {e.lineno}, column {e.colno}): {e.msg}") from None
    except RecursionError:
        raise ConfigError(field, f"{_is(what)}values nested more than {MAX_NESTING} levels deep") from None
    except ValueError as e:  # "Exceeds the limit (4300 digits) for integer string conversion"
        raise ConfigError(field, f"{_is(what)}a number with too many digits ({str(e)[:60]})") from None
    check_nesting(value, field)
    return value


def load_yaml(text: str, field: str, what: str = "file"):
    """One YAML document with the safe loader, after the alias / depth / size scan described above."""
    import yaml  # only YAML files need it
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        _scan_yaml(yaml, yaml.parse(text, Loader=loader), field, what)
        value = yaml.load(text, Loader=loader)
    except ConfigError:
        raise
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise ConfigError(field, f"{_is(what)}not valid YAML{where}: {str(problem)[:120]}") from None
    except RecursionError:
        raise ConfigError(field, f"{_is(what)}values nested more than {MAX_NESTING} levels deep") from None
    except (ValueError, OverflowError) as e:  # an integer of thousands of digits, a date out of range
        raise ConfigError(field, f"{_is(what)}a value that cannot be read ({str(e)[:60]})") from None
    check_nesting(value, field)
    return value


def _scan_yaml(yaml, events, field: str, what: str) -> None:
    """Count aliases, depth and expanded values from parser events, before any value is built."""
    scalar, alias = yaml.ScalarEvent, yaml.AliasEvent
    opening = (yaml.MappingStartEvent, yaml.SequenceStartEvent)
    closing = (yaml.MappingEndEvent, yaml.SequenceEndEvent)
    sizes: dict[str, int] = {}  # anchor -> values it stands for once expanded
    stack: list[list] = []  # open collections: [values so far, anchor]
    aliases = total = 0
    for ev in events:
        if isinstance(ev, scalar):
            size, anchor = 1, ev.anchor
        elif isinstance(ev, alias):
            aliases += 1
            if aliases > MAX_YAML_ALIASES:
                raise ConfigError(field, f"{_is(what)}more than {MAX_YAML_ALIASES} YAML aliases ('*name')")
            size, anchor = sizes.get(ev.anchor, 1), None
        elif isinstance(ev, opening):
            stack.append([1, ev.anchor])
            if len(stack) > MAX_NESTING:
                raise ConfigError(field, f"{_is(what)}values nested more than {MAX_NESTING} levels deep")
            continue
        elif isinstance(ev, closing):
            size, anchor = stack.pop()
        else:
            continue
        if anchor:
            sizes[anchor] = size
        if stack:
            stack[-1][0] += size
            grown = stack[-1][0]
        else:
            total += size
            grown = total
        if grown > MAX_YAML_NODES:
            raise ConfigError(field, f"{_is(what)}values expand to more than {MAX_YAML_NODES:,} values (YAML aliases "
                                     "repeat what they name); write the values out or use fewer aliases")


def same_file(a: str, b: str) -> bool:
    """Whether two paths name one file (also through links or another spelling of the path)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return os.path.abspath(a) == os.path.abspath(b)


def check_output(path: str, field: str, inputs: tuple[str, ...] = ()) -> str:
    """Refuse an output path that is empty, a folder, in a missing folder or one of ``inputs``; returns
    the folder the file goes in. Called before a run, so a bad path costs no simulation."""
    if not isinstance(path, str) or not path.strip():
        raise ConfigError(field, "needs a file name")
    name = os.path.basename(path)
    for src in inputs:
        if src and same_file(path, src):
            raise ConfigError(field, f"{name!r} is an input of this run; writing it would destroy that input: "
                                     "choose another file")
    if os.path.isdir(path):
        raise ConfigError(field, f"{path!r} is a folder; give a file name")
    folder = os.path.dirname(os.path.abspath(path))
    if not os.path.isdir(folder):
        raise ConfigError(field, f"the folder {folder!r} does not exist")
    return folder


def write_atomic(path: str, text: str, field: str, inputs: tuple[str, ...] = ()) -> None:
    """Write ``text`` to ``path`` through a temporary file in the same folder renamed over it, so an
    interrupted run leaves the old file whole; refuse a path that is empty or names one of ``inputs``."""
    import tempfile
    folder = check_output(path, field, inputs)
    tmp = None
    try:
        fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix="-" + os.path.basename(path)[:40], dir=folder)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(text)
        os.chmod(tmp, _mode_for(path))  # mkstemp makes it private; give it the mode a plain open would
        os.replace(tmp, path)
        tmp = None
    except OSError as e:
        raise ConfigError(field, f"cannot write {os.path.basename(path)!r}: {e.strerror or e}") from None
    finally:
        if tmp is not None:
            try:
                os.unlink(tmp)
            except OSError:
                pass


def _mode_for(path: str) -> int:
    try:
        return os.stat(path).st_mode & 0o777
    except OSError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask
