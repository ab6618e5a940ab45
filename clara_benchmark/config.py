"""Typed configs for every command, loaded from the seed's JSON files and overridable on the command line.

Each config is a dataclass whose fields carry their help text, default and checks in ``metadata``.
``load_config`` turns JSON (+ command-line overrides) into an instance or raises ``ConfigError`` with a
message that names the file, the key and what is wrong; the CLI prints it as one line and exits 2.

Commands outside the seed (train, reference, ...) declare their config dataclass in their own module with
the same ``key()`` helper and the same loader.

Limits. A config comes from a user, often edited by hand or written by a script, so the loader bounds what it
accepts (each limit is a constant below and is named in its error):

* the file: a regular file (a FIFO, a device such as ``/dev/zero`` or a directory is refused without
  reading it, and it is opened non-blocking), at most ``MAX_CONFIG_BYTES`` (1 MiB; configs are ~1 KB),
  nested at most ``MAX_JSON_DEPTH`` levels, no key twice in one object (JSON would keep the last silently);
* numbers: a number of more than ``MAX_NUMBER_DIGITS`` digits (or a float beyond float64) is no value any
  key can mean and is refused naming its key; an int key without a maximum of its own is at most
  ``INT_MAX`` (int64, what numpy and the OS take);
* counts that fork or allocate: ``max_workers`` <= ``MAX_WORKERS`` (4 per usable CPU, at least 16: worker
  processes are CPU-bound, each holds its own copy of the models, and more than a few per core only costs
  memory; 16 keeps small machines usable for I/O-heavy runs), ``num_threads`` <= ``MAX_DOWNLOAD_THREADS``
  (128 concurrent HTTPS connections; MAST throttles one client long before that), ``batch_size`` <=
  ``MAX_BATCH_SIZE`` (10,000 light curves per task: a task's 4000-feature block is then 320 MB);
* seeds: 0 .. ``SEED_MAX`` (2**32 - 1), what numpy's legacy generators and scikit-learn's random_state take;
* strings: no NUL character; a path has no component longer than ``NAME_MAX_BYTES`` (255 bytes, the file
  name limit of ext4, XFS, btrfs, APFS and NTFS) and is at most ``PATH_MAX_BYTES`` long.
"""

from __future__ import annotations

import dataclasses
import difflib
import glob
import hashlib
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clara_benchmark import products
from clara_benchmark.exceptions import ClaraError, ConfigError  # noqa: F401 (re-exported)
from clara_benchmark.products import LABEL_GROUPS

# ---------------------------------------------------------------------------------------------------------
# machinery


KINDS = ("str", "int", "float", "bool", "path", "list[path]", "list[str]", "str|list[str]", "dict")
#: features and clustering (issue 14): "clara_bool" is a JSON boolean, or CLARA's strings "true"/"false"
KINDS += ("clara_bool",)
CLARA_BOOL_STRINGS = {"true": True, "false": False}


def usable_cpus() -> int:
    """CPUs this process may run on (its affinity mask, e.g. a container's share), else all of them."""
    try:
        return len(os.sched_getaffinity(0)) or 1
    except (AttributeError, OSError):
        return os.cpu_count() or 1


#: limits of the loader (see the module docstring for why each is what it is)
MAX_CONFIG_BYTES = 1 << 20
MAX_JSON_DEPTH = 32
MAX_NUMBER_DIGITS = 300
INT_MAX = 2**63 - 1
SEED_MAX = 2**32 - 1
MAX_WORKERS = max(16, 4 * usable_cpus())
MAX_DOWNLOAD_THREADS = 128
MAX_BATCH_SIZE = 10_000
NAME_MAX_BYTES = 255
PATH_MAX_BYTES = 4095

MAX_WORKERS_WHY = (
    f"clara's limit: 4 worker processes per CPU, at least 16; this machine has {usable_cpus()} CPU(s)"
)
SEED_WHY = "seeds are 32-bit, as numpy and scikit-learn take them"


def key(
    help: str,
    kind: str,
    default: Any = dataclasses.MISSING,
    *,
    required: bool = False,
    exists: str | None = None,
    choices: tuple | None = None,
    minimum: float | None = None,
    maximum: float | None = None,
    maximum_why: str | None = None,
    nullable: bool = False,
):
    """Declare a config key. ``exists`` is "file" or "dir" when the path must already exist, "input" for
    light-curve inputs (a folder, a file or a glob pattern that matches something; ``~`` expanded).

    ``exists="path"``: a file or a directory that exists (features, clustering, sim's ``features_path``).

    ``maximum`` bounds a number (an int key without one is bounded by ``INT_MAX``); ``maximum_why`` says
    in the error what the limit is, e.g. "clara's limit on concurrent downloads".
    """
    assert kind in KINDS, kind
    meta = dict(
        help=help,
        kind=kind,
        required=required,
        exists=exists,
        choices=choices,
        minimum=minimum,
        maximum=maximum,
        maximum_why=maximum_why,
        nullable=nullable or (default is None),
    )
    if required:
        return field(default=None, metadata=meta)
    if isinstance(default, (list, dict)):
        return field(default_factory=lambda d=default: type(d)(d), metadata=meta)
    return field(default=default, metadata=meta)


def describe_default(f: dataclasses.Field) -> str:
    if f.metadata["required"]:
        return "required"
    if f.default_factory is not dataclasses.MISSING:  # type: ignore[misc]
        return json.dumps(f.default_factory())  # type: ignore[misc]
    return json.dumps(f.default)


class LongNumber:
    """A JSON number no key can mean (more than ``MAX_NUMBER_DIGITS`` digits, or beyond float64's range).

    The JSON reader keeps it as text instead of converting it (Python refuses ints of over 4,300 digits,
    and a 401-digit int overflows a float), so that the key it was given for is named in the error.
    """

    __slots__ = ("text",)

    def __init__(self, text: str):
        self.text = text

    def __repr__(self) -> str:
        if len(self.text) <= 40:
            return self.text
        return f"a {sum(c.isdigit() for c in self.text)}-digit number"

    __str__ = __repr__


def _show(value: Any) -> str:
    """A value as JSON for an error message, shortened to stay one readable line."""
    if isinstance(value, LongNumber):
        return str(value)
    try:
        text = json.dumps(value, default=str)
    except (TypeError, ValueError, RecursionError):
        text = repr(value)
    if len(text) <= 100:
        return text
    if isinstance(value, int) and not isinstance(value, bool):
        return f"a {len(str(abs(value)))}-digit number"
    return text[:80] + f"... ({len(text)} characters)"


def _path_problem(text: str) -> str | None:
    """Why ``text`` cannot be a path on any common file system (the message's tail), or None."""
    try:
        encoded = os.fsencode(text)
    except UnicodeError:
        return f": {_show(text)} cannot be encoded as a file name"
    if len(encoded) > PATH_MAX_BYTES:
        return f": path of {len(encoded)} bytes is too long (at most {PATH_MAX_BYTES})"
    for part in re.split(rb"[/\\]" if os.name == "nt" else rb"/", encoded):
        if len(part) > NAME_MAX_BYTES:
            shown = os.fsdecode(part[:40])
            return (
                f': path component "{shown}..." is {len(part)} bytes long; file names are at most '
                f"{NAME_MAX_BYTES} bytes"
            )
    return None


def _text_problem(kind: str, value: Any) -> str | None:
    """NUL characters in any string value, and impossible paths in path values (the message's tail)."""
    texts = value if isinstance(value, list) else [value]
    for text in texts:
        if not isinstance(text, str):
            continue
        if "\x00" in text:
            return " must not contain a NUL character"
        if kind in ("path", "list[path]"):
            problem = _path_problem(text)
            if problem:
                return problem
    return None


def _type_ok(kind: str, value: Any) -> bool:
    if kind == "bool":
        return isinstance(value, bool)
    if kind == "clara_bool":
        return isinstance(value, bool) or (
            isinstance(value, str) and value.strip().lower() in CLARA_BOOL_STRINGS
        )
    if kind == "int":
        return isinstance(value, int) and not isinstance(value, bool)
    if kind == "float":  # JSON's NaN/Infinity are no number a key can mean
        return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    if kind in ("str", "path"):
        return isinstance(value, str) and value != ""
    if kind in ("list[path]", "list[str]"):
        return isinstance(value, list) and bool(value) and all(isinstance(v, str) and v for v in value)
    if kind == "str|list[str]":
        return isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))
    if kind == "dict":
        return isinstance(value, dict)
    raise AssertionError(kind)


_KIND_WORDS = {
    "bool": "true or false",
    "clara_bool": 'true or false (a JSON boolean, or CLARA\'s strings "true"/"false")',
    "int": "an integer",
    "float": "a finite number",
    "str": "a non-empty string",
    "path": "a path (string)",
    "list[path]": "a non-empty list of paths",
    "list[str]": "a non-empty list of strings",
    "str|list[str]": "a string or a list of strings",
    "dict": "a JSON object",
}


def _convert(kind: str, value: Any) -> Any:
    if kind == "clara_bool":
        return value if isinstance(value, bool) else CLARA_BOOL_STRINGS[value.strip().lower()]
    if kind == "path":
        return Path(value)
    if kind == "list[path]":
        return [Path(v) for v in value]
    if kind == "float":
        return float(value)
    return value


def config_keys(cls) -> dict[str, dataclasses.Field]:
    return {f.name: f for f in dataclasses.fields(cls)}


def build_config(cls, raw: dict, source: str, cli_keys=()):
    """Validate ``raw`` (a dict from JSON and/or the command line) against ``cls`` and build it.

    Relative paths are taken relative to the current directory, as the seed's users expect.
    """
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a JSON object of keys, got {type(raw).__name__}")
    fields = config_keys(cls)
    for name in raw:
        if name not in fields:
            close = difflib.get_close_matches(name, list(fields), n=1, cutoff=0.6)
            hint = f' (did you mean "{close[0]}"?)' if close else f" (valid keys: {', '.join(fields)})"
            raise ConfigError(f'{source}: unknown key "{name}"{hint}')
    values = {}
    for name, f in fields.items():
        meta = f.metadata
        where = "command line" if name in cli_keys else source  # a bad value is blamed where it was given
        if name not in raw or (raw[name] is None and meta["required"]):
            if meta["required"]:
                raise ConfigError(f'{source}: missing required key "{name}" ({meta["help"]})')
            if f.default is not dataclasses.MISSING and f.default is not None:
                values[name] = _convert(meta["kind"], f.default)  # "./logs/" default → Path like given ones
            continue
        value = raw[name]
        if value is None:
            if not meta["nullable"]:
                raise ConfigError(f'{where}: key "{name}" must be {_KIND_WORDS[meta["kind"]]}, got null')
            values[name] = None
            continue
        if not _type_ok(meta["kind"], value):
            raise ConfigError(
                f'{where}: key "{name}" must be {_KIND_WORDS[meta["kind"]]}, got {_show(value)}'
            )
        problem = _text_problem(meta["kind"], value)
        if problem:
            raise ConfigError(f'{where}: key "{name}"{problem}')
        if meta["choices"] is not None and value not in meta["choices"]:
            raise ConfigError(
                f'{where}: key "{name}" must be one of {list(meta["choices"])}, got {_show(value)}'
            )
        if meta["minimum"] is not None and value < meta["minimum"]:
            raise ConfigError(f'{where}: key "{name}" must be >= {meta["minimum"]}, got {_show(value)}')
        maximum = meta.get("maximum")
        if maximum is None and meta["kind"] == "int":
            maximum, why = INT_MAX, "the largest 64-bit integer"
        else:
            why = meta.get("maximum_why")
        if maximum is not None and value > maximum:
            because = f" ({why})" if why else ""
            raise ConfigError(f'{where}: key "{name}" must be <= {maximum}{because}, got {_show(value)}')
        if meta["exists"]:
            for p in value if isinstance(value, list) else [value]:
                _check_exists(where, name, p, meta["exists"])
        values[name] = _convert(meta["kind"], value)
    config = cls(**values)
    check = getattr(config, "check", None)
    if check is not None:
        problem = check()
        if problem:
            raise ConfigError(f"{source}: {problem}")
    return config


def _check_exists(source: str, name: str, text: str, what: str) -> None:
    """``text`` is the path as the user wrote it, so the message shows it unchanged.

    ``what`` "outdir": an output directory, created later, must not be an existing file (found now,
    not after hours of work).
    """
    path = Path(text)
    if what == "input":
        full = os.path.expanduser(text)
        if not os.path.lexists(full) and not (set("*?[") & set(full) and glob.glob(full, recursive=True)):
            raise ConfigError(
                f'{source}: key "{name}": "{text}" does not exist (no such file or folder, and no file '
                "matches it as a pattern)"
            )
        return
    if what == "outdir":
        if path.exists() and not path.is_dir():
            raise ConfigError(f'{source}: key "{name}": "{text}" is a file, not a directory')
        return
    noun = {"dir": "directory", "file": "file", "path": "path"}[what]
    if not path.exists():
        raise ConfigError(f'{source}: key "{name}": {noun} "{text}" does not exist')
    if what == "dir" and not path.is_dir():
        raise ConfigError(f'{source}: key "{name}": "{text}" is not a directory')
    if what == "file" and not path.is_file():
        raise ConfigError(f'{source}: key "{name}": "{text}" is not a file')
    if what == "path" and not (path.is_file() or path.is_dir()):
        raise ConfigError(f'{source}: key "{name}": "{text}" is neither a file nor a directory')


def read_config_bytes(path: Path) -> bytes:
    """The bytes of a config file: a regular file of at most ``MAX_CONFIG_BYTES``, else ``ConfigError``.

    Opened with ``fitsfile.open_regular`` (non-blocking, checked on the descriptor before anything is read),
    so a FIFO (which would block until a writer comes) or a device such as ``/dev/zero`` (endless) is
    refused at once.
    """
    from clara_benchmark.fitsfile import NotRegularFile, not_regular_reason, open_regular

    path = Path(path)
    try:
        fd = open_regular(path)
    except FileNotFoundError:
        raise ConfigError(f"{path}: config file does not exist") from None
    except IsADirectoryError:
        raise ConfigError(f"{path}: config path is a directory, not a JSON file") from None
    except NotRegularFile as exc:
        raise ConfigError(f"{path}: config path {not_regular_reason(exc.mode, 'JSON file')}") from None
    except (OSError, ValueError) as exc:  # ValueError: a NUL in the name
        raise ConfigError(
            f"{path}: cannot read config file: {getattr(exc, 'strerror', None) or exc}"
        ) from None
    with os.fdopen(fd, "rb") as fh:
        too_big = ConfigError(
            f"{path}: config file is larger than {MAX_CONFIG_BYTES} bytes (1 MiB), clara's limit for a config"
        )
        if os.fstat(fd).st_size > MAX_CONFIG_BYTES:
            raise too_big
        try:
            data = fh.read(MAX_CONFIG_BYTES + 1)
        except OSError as exc:
            raise ConfigError(f"{path}: cannot read config file: {exc.strerror or exc}") from None
        if len(data) > MAX_CONFIG_BYTES:  # it grew since fstat
            raise too_big
    return data


def config_sha256(path: Path) -> str:
    """sha256 of a config file, read with the same checks as the loader."""
    return hashlib.sha256(read_config_bytes(path)).hexdigest()


class JSONRefused(Exception):
    """Valid JSON that clara refuses as a config (a duplicated key, too deep); the message says why."""


class _DuplicateKey(Exception):
    def __init__(self, key: str):
        super().__init__(key)
        self.key = key


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict:
    out: dict = {}
    for k, v in pairs:
        if k in out:
            raise _DuplicateKey(k)
        out[k] = v
    return out


def _parse_int(text: str) -> Any:
    if len(text) - text.startswith("-") > MAX_NUMBER_DIGITS:
        return LongNumber(text)  # int() of over 4,300 digits raises, and is quadratic below that
    return int(text)


def _parse_float(text: str) -> Any:
    value = float(text)
    return value if math.isfinite(value) else LongNumber(text)  # 1e999 → named in the error, not "Infinity"


def _line_col(text: str, pos: int) -> tuple[int, int]:
    line = text.count("\n", 0, pos) + 1
    return line, pos - (text.rfind("\n", 0, pos) + 1) + 1


def _duplicate_at(text: str) -> tuple[str, int, int] | None:
    """(key, offset of its first, offset of its second occurrence) of the first key given twice in one
    object, in document order: a slow second pass run only once the fast parse has found a duplicate."""
    from json import decoder, scanner

    ws = decoder.WHITESPACE.match

    class Found(Exception):
        pass

    def parse_object(s_and_end, strict, scan_once, *_):
        s, pos = s_and_end
        seen: dict[str, int] = {}
        pos = ws(s, pos).end()
        if s[pos : pos + 1] == "}":
            return {}, pos + 1
        while True:
            name, after = decoder.scanstring(s, pos + 1, strict)
            if name in seen:
                raise Found(name, seen[name], pos)
            seen[name] = pos
            pos = ws(s, ws(s, after).end() + 1).end()  # past ":"
            _, pos = scan_once(s, pos)
            pos = ws(s, pos).end()
            if s[pos] == "}":
                return {}, pos + 1
            pos = ws(s, pos + 1).end()  # past ","

    walker = json.JSONDecoder()
    walker.parse_object = parse_object
    walker.scan_once = scanner.py_make_scanner(walker)
    try:
        walker.decode(text)
    except Found as found:
        return found.args
    except (RecursionError, ValueError, IndexError):
        return None
    return None


_TOKEN = re.compile(r'("(?:[^"\\]|\\.)*")(\s*:)?|[\[\]{}]')


def _too_deep(text: str) -> str:
    """Where ``text`` first nests deeper than ``MAX_JSON_DEPTH`` (found by bracket counting)."""
    depth, top_key = 0, None
    for m in _TOKEN.finditer(text):
        if m.group(1) is not None:
            if m.group(2) and depth == 1:
                try:
                    top_key = json.loads(m.group(1))
                except ValueError:
                    top_key = m.group(1).strip('"')
            continue
        depth += 1 if m.group(0) in "[{" else -1
        if depth > MAX_JSON_DEPTH:
            line, col = _line_col(text, m.start())
            what = f'key "{top_key}"' if top_key is not None else "JSON"
            return (
                f"{what} is nested more than {MAX_JSON_DEPTH} levels deep (line {line}, column {col}); "
                "a config is a few levels deep"
            )
    return f"JSON is nested more than {MAX_JSON_DEPTH} levels deep; a config is a few levels deep"


def _deeper_than(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if depth > limit:
            return True
        children = item.values() if isinstance(item, dict) else item
        stack.extend((c, depth + 1) for c in children if isinstance(c, (dict, list)))
    return False


def decode_json(text: str) -> Any:
    """Parse config JSON: ``json.JSONDecodeError`` for bad syntax, ``JSONRefused`` for JSON clara refuses.

    Refused: a key given twice in one object (plain ``json.loads`` keeps the last one silently), nesting
    deeper than ``MAX_JSON_DEPTH``. Numbers of more than ``MAX_NUMBER_DIGITS`` digits, or beyond a float's
    range, become ``LongNumber`` for the key's check to refuse by name.

    >>> decode_json('{"a": 1, "b": [2.5]}')
    {'a': 1, 'b': [2.5]}
    """
    try:
        value = json.loads(
            text, object_pairs_hook=_refuse_duplicates, parse_int=_parse_int, parse_float=_parse_float
        )
    except _DuplicateKey as dup:
        where = _duplicate_at(text)
        if where is None:
            raise JSONRefused(
                f'key "{dup.key}" is given twice in one object; JSON would silently keep the last: remove one'
            ) from None
        name, first, second = where
        raise JSONRefused(
            f'key "{name}" is given twice in one object (lines {_line_col(text, first)[0]} and '
            f"{_line_col(text, second)[0]}); JSON would silently keep the last: remove one"
        ) from None
    except RecursionError:
        raise JSONRefused(_too_deep(text)) from None
    if isinstance(value, (dict, list)) and _deeper_than(value, MAX_JSON_DEPTH):
        raise JSONRefused(_too_deep(text))
    return value


def loads_json(text: str, source: str) -> Any:
    """``decode_json`` with errors as ``ConfigError`` naming ``source`` (and the line for bad JSON)."""
    try:
        return decode_json(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(
            f"{source}: invalid JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}"
        ) from None
    except JSONRefused as exc:
        raise ConfigError(f"{source}: {exc}") from None


def read_json(path: Path) -> Any:
    """Read a JSON config; errors name the file and, for bad JSON, the line and column."""
    path = Path(path)
    data = read_config_bytes(path)
    try:
        text = data.decode("utf-8-sig")  # Windows editors may add a byte-order mark
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: config file is not UTF-8 text") from None
    return loads_json(text, str(path))


def memory_bytes() -> int:
    """This machine's physical memory (the ceiling for a run's memory estimate); 64 GiB when unknown."""
    try:
        import psutil

        return int(psutil.virtual_memory().total)
    except Exception:  # pragma: no cover - psutil is a dependency; an exotic platform may still fail
        return 64 << 30


def memory_problem(estimate: float, what: str, hint: str) -> str | None:
    """A config-check message when ``estimate`` bytes exceed this machine's memory, else None."""
    total = memory_bytes()
    if estimate <= total:
        return None
    return (
        f"{what} would need at least {estimate / 1e9:,.0f} GB of memory, more than this machine's "
        f"{total / 1e9:,.0f} GB; {hint}"
    )


def check_model_path(enabled: bool, path: Path | None, name: str, flag: str) -> str | None:
    """A model path is required only when its model is switched on; then it must exist."""
    if not enabled:
        return None
    if path is None:
        return f'key "{name}" is required when "{flag}" is true'
    if not Path(path).is_file():
        return f'key "{name}": file "{path}" does not exist'
    return None


# ---------------------------------------------------------------------------------------------------------
# the seed's three commands

EXECUTOR_KEYS_HELP = 'Where work runs: "local" (processes on this machine) or "dask"'


# Keys that several commands take, declared once so that every command gives them the same help, kind,
# default and checks. Where a command's default or wording differs (batch_size, train's max_workers) the
# caller says so where it adds the key.


def max_workers_key(help: str = "Number of worker processes", default: int = 4):
    return key(help, "int", default, minimum=1, maximum=MAX_WORKERS, maximum_why=MAX_WORKERS_WHY)


def batch_size_key(default: int, help: str = "Light curves per task sent to a worker"):
    return key(
        help,
        "int",
        default,
        minimum=1,
        maximum=MAX_BATCH_SIZE,
        maximum_why="clara's limit on light curves per task",
    )


def num_threads_key(help: str = "Number of concurrent download threads", default: int = 4):
    return key(
        help,
        "int",
        default,
        minimum=1,
        maximum=MAX_DOWNLOAD_THREADS,
        maximum_why="clara's limit on concurrent downloads",
    )


def seed_key(help: str, default: int = 42):
    """A seed: 0 .. ``SEED_MAX``, checked when the config is read rather than after hours of features."""
    return key(help, "int", default, minimum=0, maximum=SEED_MAX, maximum_why=SEED_WHY)


def key_like(f: dataclasses.Field, help: str | None = None, default: Any = dataclasses.MISSING):
    """A key declared like the key ``f`` (kind, default, checks; never required), with ``help`` and
    ``default`` in place of its own where given: e.g. score's stream-mode keys, declared like download's."""
    m = f.metadata
    checks = {k: v for k, v in m.items() if k not in ("help", "kind", "required")}
    return key(
        help or m["help"], m["kind"], f.default if default is dataclasses.MISSING else default, **checks
    )


#: a group of keys that several configs take, by name, in the order they are added (``with_keys``)
KeyGroup = dict[str, dataclasses.Field]

#: the type annotation of a key of each kind (a nullable key's adds "| None")
_ANNOTATIONS = {
    "path": "Path",
    "list[path]": "list[Path]",
    "clara_bool": "bool",
    "str|list[str]": "str | list[str]",
}


def with_keys(*groups: KeyGroup):
    """Class decorator, applied before ``@dataclass`` (written below it): add each group's keys to the class,
    after the class's own keys and in the order given, as if they had been written there.

    A group is made by a function call for each config (``execution_keys(64)``), so that every config gets
    fields of its own and a command can pass its own defaults. (A dataclass base class would put its keys
    before the class's own and could not take a command's batch_size default.) A key both in the class and
    in a group, or in two groups, is a programming error (``TypeError`` at import).

    >>> @dataclass
    ... @with_keys(read_option_keys())
    ... class Toy:
    ...     name: str = key("A name", "str", "toy")
    >>> list(config_keys(Toy))
    ['name', 'flux_column', 'quality_bitmask', 'bin_20s_to_2min']
    """

    def add(cls):
        annotations = dict(cls.__dict__.get("__annotations__", {}))
        for group in groups:
            for name, f in group.items():
                if name in annotations:
                    raise TypeError(f"{cls.__name__}: key {name!r} is declared twice")
                kind = f.metadata["kind"]
                annotations[name] = _ANNOTATIONS.get(kind, kind) + (
                    " | None" if f.metadata["nullable"] else ""
                )
                setattr(cls, name, f)
        cls.__annotations__ = annotations
        return cls

    return add


def execution_keys(
    batch_size: int,
    *,
    workers_help: str = "Number of worker processes",
    batch_help: str = "Light curves per task sent to a worker",
) -> KeyGroup:
    """Where and how a command's work runs: the keys ``executors.get_executor`` reads, with the command's
    default ``batch_size`` (and its words for max_workers and batch_size, where they differ)."""
    return {
        "max_workers": max_workers_key(workers_help),
        "batch_size": batch_size_key(batch_size, batch_help),
        "executor": key(EXECUTOR_KEYS_HELP, "str", "local", choices=("local", "dask")),
        "scheduler_address": key(
            'Dask scheduler address (executor "dask"); none = a local cluster', "str", None
        ),
    }


# How light curves are read (lightcurve.ReadOptions), the same three keys for score, sim, reference and
# features.

QUALITY_MASK_NAMES = ("none", "default", "hard", "hardest")
_COLUMN_NAME = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,67}$")


def read_option_keys() -> KeyGroup:
    """The keys of ``lightcurve.ReadOptions`` (their values are checked by ``check_read_keys``)."""
    return {
        "flux_column": key(
            'Flux column the features use: "pdcsap_flux" (CLARA\'s), "sap_flux", QLP\'s "kspsap_flux", '
            'lightkurve files\' "flux", ...; files without it are failures',
            "str",
            "pdcsap_flux",
        ),
        "quality_bitmask": key(
            'Drop cadences by QUALITY flags: "none" (CLARA\'s), lightkurve\'s "default", "hard", "hardest", '
            'or an integer bit mask as text, e.g. "175"; any mask changes CLARA\'s scores',
            "str",
            "none",
        ),
        "bin_20s_to_2min": key("Bin 20-second light curves to 2 minutes before the features", "bool", False),
    }


def check_read_keys(config) -> str | None:
    """The read-option keys' values (types are checked by the loader)."""
    if not _COLUMN_NAME.match(config.flux_column):
        return f'key "flux_column" must be a column name such as "pdcsap_flux", got "{config.flux_column}"'
    mask = config.quality_bitmask.strip().lower()
    if mask not in QUALITY_MASK_NAMES and not (mask.isdigit() and int(mask) < 2**31):
        return (
            f'key "quality_bitmask" must be one of {list(QUALITY_MASK_NAMES)} or an integer bit mask '
            f'(as text, e.g. "175"), got "{config.quality_bitmask}"'
        )
    return None


def candidates_fits_dir_key():
    """Where the candidates of a table (sim, features, fold) are found by file name."""
    return key(
        "Directory of the candidates' FITS files (sub-folders are searched too)",
        "path",
        required=True,
        exists="dir",
    )


# ExoFOP's TOI table (fold, sim, report): a local CSV or its URL, fetched once and cached.

TOI_URL = "https://exofop.ipac.caltech.edu/tess/download_toi.php?output=csv"
_URL_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def toi_catalogue_key():
    return key(
        "ExoFOP's TOI table, to name known TOIs: a local CSV (columns TIC ID, TOI, Period (days), ...) or "
        f"an http(s) URL such as {TOI_URL}, fetched once, verified and cached in output_dir; none = no "
        "cross-match",
        "str",
        None,
    )


def is_url(text: str) -> bool:
    """Does ``text`` look like a URL (scheme://...) rather than a path?"""
    return bool(_URL_SCHEME.match(text))


def check_toi_catalogue(value: str | None) -> str | None:
    """An http(s) URL, or a file that exists (checked when the config is read, not after the work)."""
    if value is None:
        return None
    if is_url(value):
        if not value.lower().startswith(("http://", "https://")):
            return f'key "toi_catalogue" must be a local file or an http(s) URL, got "{value}"'
        return None
    path = Path(os.path.expanduser(value))
    if not path.is_file():
        what = "is not a file" if path.exists() else "does not exist"
        return f'key "toi_catalogue": "{value}" {what} (give a local CSV or an http(s) URL)'
    return None


def fetch_option_keys(**helps: str) -> KeyGroup:
    """How each file is fetched (``tess_spoc_download.fetch.FetchOptions``): download's blocks and score's
    stream mode; ``helps`` gives keys other words, e.g. ``max_requests_per_second="..."``."""
    keys = {
        "connect_timeout": key("Seconds to wait for a connection", "float", 15.0, minimum=0.1),
        "read_timeout": key("Seconds to wait for data before retrying", "float", 60.0, minimum=0.1),
        "max_retries": key(
            "Retries per file on connection errors, timeouts, 429 and 5xx", "int", 5, minimum=0
        ),
        "backoff_seconds": key(
            "Wait before the first retry; doubles with each retry (with random jitter)",
            "float",
            1.0,
            minimum=0.0,
        ),
        "max_backoff_seconds": key(
            "Longest wait between retries, a server's Retry-After included", "float", 60.0, minimum=0.0
        ),
        "file_deadline_seconds": key(
            "Longest one attempt at one file may take (request to last byte) before it is retried",
            "float",
            600.0,
            minimum=0.1,
        ),
        "min_rate_bytes_per_second": key(
            "An attempt slower than this over min_rate_seconds is retried (0: no minimum)",
            "float",
            1024.0,
            minimum=0.0,
        ),
        "min_rate_seconds": key(
            "Window over which min_rate_bytes_per_second is measured", "float", 30.0, minimum=0.1
        ),
        "max_requests_per_second": key(
            "Most requests started per second to one host (null: no limit beyond num_threads)",
            "float",
            None,
            minimum=0.01,
        ),
    }
    unknown = set(helps) - set(keys)
    if unknown:
        raise TypeError(f"fetch_option_keys: no key {sorted(unknown)}")
    return {name: key_like(f, helps[name]) if name in helps else f for name, f in keys.items()}


#: the keys of ``fetch_option_keys``: what a config passes on to ``FetchOptions``
FETCH_OPTION_KEYS = tuple(fetch_option_keys())


@dataclass
@with_keys(fetch_option_keys())
class DownloadBlock:
    """One block of a download config (the seed keys them by sector: {"1": {...}, "5": {...}})."""

    sector_number: int = key("TESS sector to download", "int", required=True, minimum=1)
    catalogues_folder: Path = key(
        "Folder holding MAST's tesscurl_sector_<N>_lc.sh scripts (fetched when missing)",
        "path",
        "./data/catalogues/",
        exists="outdir",
    )
    out_dir_tess: Path = key(
        "Output directory; files go to <out_dir_tess>/<sector>/",
        "path",
        "./data/fits_files/",
        exists="outdir",
    )
    start_index: int = key("Index of the first script line to download", "int", 0, minimum=0)
    max_downloads: int = key(
        "Maximum number of files to download from start_index", "int", required=True, minimum=0
    )
    log_file: Path = key("Download log file", "path", "./logs/download_tess_lc.log")
    num_threads: int = num_threads_key()
    base_url: str = key(
        "Where MAST publishes the per-sector download scripts",
        "str",
        "https://archive.stsci.edu/missions/tess/download_scripts/sector/",
    )

    def check(self) -> str | None:
        if not self.base_url.lower().startswith(("http://", "https://")):
            return f'key "base_url" must be an http(s) URL, got "{self.base_url}"'
        return None

    def monitor_path(self) -> Path:
        return self.out_dir_tess


@dataclass
@with_keys(
    fetch_option_keys(
        max_requests_per_second="Stream mode: most requests started per second to one host by the whole run "
        "(each of P worker processes gets 1/P; null: no limit beyond num_threads)"
    ),
    read_option_keys(),
    execution_keys(batch_size=64),
)
class ScoreConfig:
    """Config of ``score`` (the seed's urf_anomaly_scoring_config.json).

    Two input modes, exactly one per run: ``input_dirs`` (light curves on disk), or a MAST download script
    (``tesscurl_script``, or ``sector_number`` + ``catalogues_folder``) whose files are downloaded, verified
    and scored as they arrive ("stream mode", clara_benchmark/stream.py).
    """

    #: which downloaded FITS a stream-mode run keeps in <out_dir_tess>/<sector>/
    KEEP_FITS = ("candidates", "all", "none")
    #: MAST's name of a sector's light-curve script (script.script_name): stream mode reads the sector in it
    SCRIPT_SECTOR = r"^tesscurl_sector_(\d+)_lc\.sh$"

    @staticmethod
    def _download_key(name: str, help: str | None = None, default: Any = dataclasses.MISSING):
        """A stream-mode key declared like ``DownloadBlock``'s key ``name`` (``key_like``)."""
        return key_like(config_keys(DownloadBlock)[name], help, default)

    input_dirs: list[Path] | None = key(
        "Light curves: folders (searched recursively), files or glob patterns; ~ and .fits.gz accepted "
        "(or give a download script instead: tesscurl_script or sector_number)",
        "list[path]",
        None,
        exists="input",
    )
    output_dir: Path = key(
        "Directory for the score CSVs (created when missing)", "path", required=True, exists="outdir"
    )
    use_p3: bool = key("Score with the P3 model", "bool", False)
    use_p5: bool = key("Score with the P5 model", "bool", False)
    use_p9: bool = key("Score with the P9 model", "bool", False)
    calculate_wrss_p3p9: bool = key(
        "Combine P3 and P9 into the WRSS table (needs use_p3 and use_p9)", "bool", False
    )
    p3model_path: Path | None = key("P3 model file (.skops, or a published CLARA .pkl)", "path", None)
    p5model_path: Path | None = key("P5 model file (.skops, or a published CLARA .pkl)", "path", None)
    p9model_path: Path | None = key("P9 model file (.skops, or a published CLARA .pkl)", "path", None)
    trust_pickles: bool = key(
        "Load .pkl models whose sha256 is not a known CLARA release (runs their code!)", "bool", False
    )
    resume: bool = key(
        "Continue an interrupted run in output_dir instead of starting a new one", "bool", False
    )
    save_features: bool = key(
        "Also save the clara-4000 feature matrix for reuse by sim and train", "bool", False
    )
    # stream mode: score straight from MAST's download script
    tesscurl_script: Path | None = key(
        "Stream mode: a MAST download script (tesscurl_sector_<N>_lc.sh) whose files are downloaded, "
        "verified and scored as they arrive, instead of input_dirs",
        "path",
        None,
        exists="file",
    )
    sector_number: int | None = _download_key(
        "sector_number",
        "Stream mode: the TESS sector whose script catalogues_folder holds (fetched from base_url when "
        "missing), instead of input_dirs; with tesscurl_script, the sector its files go under",
        default=None,
    )
    catalogues_folder: Path = _download_key("catalogues_folder")
    base_url: str = _download_key("base_url")
    out_dir_tess: Path | None = _download_key(
        "out_dir_tess",
        "Stream mode: downloads and the FITS kept go to <out_dir_tess>/<sector>/ with the download "
        "manifest (null: output_dir)",
        default=None,
    )
    start_index: int = _download_key("start_index")
    max_downloads: int | None = _download_key(
        "max_downloads", "Stream mode: how many script lines from start_index (null: to the end)", None
    )
    keep_fits: str = key(
        'Stream mode: which downloaded FITS stay in <out_dir_tess>/<sector>/: "candidates" (a non-zero '
        'score in any enabled model), "all" or "none"',
        "str",
        "candidates",
        choices=KEEP_FITS,
    )
    num_threads: int = _download_key(
        "num_threads",
        "Stream mode: concurrent downloads in the whole run, shared by the worker processes (at least one "
        "each)",
    )
    # then (with_keys) each file's timeouts, retries and rate limits as download's, the read options and
    # the execution keys

    @property
    def stream(self) -> bool:
        """True when the inputs are a download script (stream mode), not input_dirs."""
        return self.tesscurl_script is not None or self.sector_number is not None

    def stream_sector(self) -> int | None:
        """The sector of a stream-mode run: sector_number, else the number in the script's name."""
        import re

        if self.sector_number is not None:
            return self.sector_number
        if self.tesscurl_script is not None:
            m = re.match(self.SCRIPT_SECTOR, Path(self.tesscurl_script).name)
            return int(m.group(1)) if m else None
        return None

    def download_block(self) -> DownloadBlock:
        """The stream-mode keys as a ``DownloadBlock``, so downloads run exactly as ``download`` runs them."""
        return DownloadBlock(
            sector_number=self.stream_sector(),
            catalogues_folder=Path(self.catalogues_folder),
            out_dir_tess=Path(self.out_dir_tess if self.out_dir_tess is not None else self.output_dir),
            start_index=self.start_index,
            max_downloads=self.max_downloads if self.max_downloads is not None else 1 << 62,
            num_threads=self.num_threads,
            base_url=self.base_url,
            **{name: getattr(self, name) for name in FETCH_OPTION_KEYS},
        )

    def check(self) -> str | None:
        problem = check_read_keys(self)
        if problem:
            return problem
        if self.calculate_wrss_p3p9 and not (self.use_p3 and self.use_p9):
            return 'key "calculate_wrss_p3p9" needs both "use_p3" and "use_p9" set to true'
        if not (self.use_p3 or self.use_p5 or self.use_p9):
            return 'no model enabled: set at least one of "use_p3", "use_p5", "use_p9" to true'
        for n in ("3", "5", "9"):
            problem = check_model_path(
                getattr(self, f"use_p{n}"), getattr(self, f"p{n}model_path"), f"p{n}model_path", f"use_p{n}"
            )
            if problem:
                return problem
        return self._check_inputs()

    def _check_inputs(self) -> str | None:
        script = 'a download script ("tesscurl_script", or "sector_number" with "catalogues_folder")'
        if self.input_dirs is None and not self.stream:
            return f'missing required key "input_dirs" (folders of light curves), or give {script}'
        if self.input_dirs is not None and self.stream:
            return f'give either "input_dirs" or {script}, not both'
        if not self.stream:
            return None
        if self.stream_sector() is None:
            return (
                f'key "tesscurl_script": cannot tell the sector from the name "{Path(self.tesscurl_script).name}" '
                '(MAST names it tesscurl_sector_<N>_lc.sh); give "sector_number" too'
            )
        return self.download_block().check()

    def monitor_path(self) -> Path:
        if self.input_dirs:
            return self.input_dirs[0]
        return Path(self.out_dir_tess if self.out_dir_tess is not None else self.output_dir)


@dataclass
@with_keys(read_option_keys(), execution_keys(batch_size=64))
class SimConfig:
    """Config of ``sim`` (the seed's cosine_similarity_config.json)."""

    fits_dir: Path = candidates_fits_dir_key()
    input_df_path: Path = key(
        "Candidate table: the WRSS CSV written by score", "path", required=True, exists="file"
    )
    output_dir: Path = key(
        "Directory for the similarity CSV (created when missing)", "path", required=True, exists="outdir"
    )
    min_similarity_threshold: float = key(
        "Best matches below this cosine similarity are labelled outlier", "float", 0.3, minimum=-1.0
    )
    gt_wrss_threshold: float | None = key(
        "Keep candidates with score_weighted_root_sumnorm >= this", "float", None
    )
    input_df_sql: str | None = key(
        "SQL filter over a table named input_df (instead of gt_wrss_threshold)", "str", None
    )
    save_label_groups: str | list[str] = key(
        f'Label groups to write: a list from {list(LABEL_GROUPS)}, or "all"', "str|list[str]", required=True
    )
    simbad_labelled_pca_model_path: Path = key(
        "PCA model of the reference set (.skops, or CLARA's published .pkl)",
        "path",
        required=True,
        exists="file",
    )
    simbad_labelled_pca_features_path: Path = key(
        "Reference CSV (0..N-1, label, filename)", "path", required=True, exists="file"
    )
    trust_pickles: bool = key(
        "Load a .pkl PCA whose sha256 is not a known CLARA release (runs its code!)", "bool", False
    )
    top_k: int = key("Also report the k best matches per candidate", "int", 1, minimum=1)
    features_path: Path | None = key(
        "Feature directory written by score (save_features), or a fluxpowerstack .npz written by features, "
        "to reuse; missing files are computed",
        "path",
        None,
        exists="path",
    )
    # issue 13: known objects named (off by default: the output is then CLARA's, byte for byte)
    toi_catalogue: str | None = toi_catalogue_key()
    same_star: bool = key(
        "Add matched_tic and same_star columns: the best match's TIC id (from the reference metadata or "
        "its SPOC file name) and whether it is the candidate's own star",
        "bool",
        False,
    )

    def check(self) -> str | None:
        problem = check_read_keys(self) or check_toi_catalogue(self.toi_catalogue)
        if problem:
            return problem
        if self.gt_wrss_threshold is None and self.input_df_sql is None:
            return 'missing required key "gt_wrss_threshold" (or give "input_df_sql")'
        if self.gt_wrss_threshold is not None and self.input_df_sql is not None:
            return 'give either "gt_wrss_threshold" or "input_df_sql", not both'
        groups = self.save_label_groups
        if isinstance(groups, list) and not groups:
            return (
                'key "save_label_groups" is an empty list: nothing would be written; give label groups '
                f'from {list(LABEL_GROUPS)} or "all"'
            )
        if isinstance(groups, str):
            if groups != "all":
                return f'key "save_label_groups" must be a list of label groups or "all", got "{groups}"'
        else:
            for g in groups:
                if g not in LABEL_GROUPS:
                    close = difflib.get_close_matches(g, LABEL_GROUPS, n=1)
                    hint = f' (did you mean "{close[0]}"?)' if close else f" (valid: {list(LABEL_GROUPS)})"
                    return f'key "save_label_groups": unknown label group "{g}"{hint}'
        return None

    def monitor_path(self) -> Path:
        return self.fits_dir


def load_flat_config(cls, path: Path | None, overrides: dict) -> Any:
    raw = read_json(path) if path is not None else {}
    source = str(path) if path is not None else "command line"
    if not isinstance(raw, dict):
        raise ConfigError(f"{source}: expected a JSON object of keys, got {type(raw).__name__}")
    raw = {**raw, **overrides}
    return build_config(cls, raw, source, cli_keys=set(overrides))


def load_download_config(path: Path | None, overrides: dict) -> list[DownloadBlock]:
    """The seed's download config: an object of blocks keyed by a label (the sector), run in order.

    Command-line overrides apply to every block; with no config file they form the only block.
    """
    if path is None:
        return [build_config(DownloadBlock, dict(overrides), "command line")]
    raw = read_json(path)
    if not isinstance(raw, dict) or not raw:
        raise ConfigError(
            f'{path}: expected a JSON object of blocks keyed by sector, e.g. {{"1": {{"sector_number": 1, ...}}}}'
        )
    blocks = []
    for label, block in raw.items():
        if not isinstance(block, dict):
            if label in config_keys(DownloadBlock):
                raise ConfigError(
                    f'{path}: key "{label}" belongs inside a block keyed by sector, '
                    f'e.g. {{"1": {{"{label}": ...}}}}'
                )
            raise ConfigError(f'{path}: block "{label}" must be a JSON object, got {json.dumps(block)}')
        blocks.append(
            build_config(
                DownloadBlock, {**block, **overrides}, f'{path} [block "{label}"]', cli_keys=set(overrides)
            )
        )
    return blocks


# -----------------------------------------------------------------------------------------------------
# reference


DEFAULT_COMPONENTS = 50


@dataclass
@with_keys(read_option_keys(), execution_keys(batch_size=64))
class ReferenceConfig:
    """Config of ``reference``: labelled light curves → PCA model + reference CSV for ``sim``."""

    labels_path: Path = key(
        'CSV of labelled objects: columns "filename,label" or "tic_id,label"',
        "path",
        required=True,
        exists="file",
    )
    fits_dir: Path = key(
        "Directory of the labelled light curves (sub-folders are searched too)",
        "path",
        required=True,
        exists="dir",
    )
    output_dir: Path = key(
        "Directory for the PCA model and reference CSV (created when missing)",
        "path",
        required=True,
        exists="outdir",
    )
    name: str = key(
        "Name of the set: writes pca_model_<name>.skops and reduced_features_<name>.csv", "str", "reference"
    )
    n_components: int = key(
        "PCA components (fewer when there are fewer objects: at most objects - 1)",
        "int",
        DEFAULT_COMPONENTS,
        minimum=1,
    )
    features_path: Path | None = key(
        "Feature directory written by score (save_features) to reuse", "path", None, exists="dir"
    )

    def check(self) -> str | None:
        problem = check_read_keys(self)
        if problem:
            return problem
        if os.sep in self.name or (os.altsep and os.altsep in self.name) or self.name in (".", ".."):
            return f'key "name" must be a plain name, not a path, got "{self.name}"'
        longest = f"reduced_features_{self.name}.csv"  # the longer of the two file names it gives
        if len(os.fsencode(longest)) > NAME_MAX_BYTES:
            return (
                f'key "name" is too long: the file name reduced_features_<name>.csv would be '
                f"{len(os.fsencode(longest))} bytes (file names are at most {NAME_MAX_BYTES})"
            )
        return None

    def monitor_path(self) -> Path:
        return self.fits_dir


# -----------------------------------------------------------------------------------------------------
# train


#: CLARA's selected models (CLARA_SPEC §4); all: max_depth 700, min_samples_leaf 1, gini, random_state 42
CLARA_VARIANTS = {
    "P3": {
        "n_curves": 300,
        "length_days": 23.75,
        "cadence_minutes": 2.0,
        "noise_ppm": 50.0,
        "n_estimators": 83,
        "max_features": "log2",
        "min_samples_split": 4,
        "bootstrap": False,
    },
    "P5": {
        "n_curves": 300,
        "length_days": 25.25,
        "cadence_minutes": 2.0,
        "noise_ppm": 225.0,
        "n_estimators": 166,
        "max_features": "sqrt",
        "min_samples_split": 2,
        "bootstrap": True,
    },
    "P9": {
        "n_curves": 300,
        "length_days": 24.5,
        "cadence_minutes": 2.0,
        "noise_ppm": 225.0,
        "n_estimators": 166,
        "max_features": "sqrt",
        "min_samples_split": 2,
        "bootstrap": True,
    },
}


@dataclass
class VariantConfig:
    """One model to train: its synthetic set and its forest (defaults: CLARA's common values)."""

    length_days: float = key("Length of each synthetic curve (days)", "float", required=True, minimum=0.01)
    noise_ppm: float = key("White noise of the synthetic curves (ppm)", "float", required=True, minimum=0)
    n_curves: int = key("Number of synthetic curves", "int", 300, minimum=1)
    cadence_minutes: float = key("Cadence of the synthetic curves (minutes)", "float", 2.0, minimum=0.01)
    seed: int = seed_key("Seed of the synthetic set (CLARA: 42)")
    n_estimators: int = key("Trees in the forest", "int", 166, minimum=1)
    max_features: str = key("Features tried per split", "str", "sqrt", choices=("sqrt", "log2", "all"))
    min_samples_split: int = key("Minimum samples to split a node", "int", 2, minimum=2)
    min_samples_leaf: int = key("Minimum samples in a leaf", "int", 1, minimum=1)
    bootstrap: bool = key("Bootstrap samples for each tree", "bool", True)
    max_depth: int | None = key("Maximum tree depth (null: unlimited)", "int", 700, minimum=1, nullable=True)
    criterion: str = key("Split criterion", "str", "gini", choices=("gini", "entropy", "log_loss"))
    random_state: int = seed_key("Seed of the forest")

    def n_cadences(self) -> float:
        """Cadences of each synthetic curve (as ``time_grid`` makes them); a float, as it may be huge."""
        n = self.length_days * 1440.0 / self.cadence_minutes
        return float(math.ceil(n)) if n < 1e15 else n

    def synthetic_spec(self):
        """The variant's synthetic set (``synthetic.transits.SyntheticSetSpec``)."""
        from clara_benchmark.synthetic.transits import SyntheticSetSpec

        return SyntheticSetSpec(
            n_curves=self.n_curves,
            length_days=self.length_days,
            cadence_minutes=self.cadence_minutes,
            noise_ppm=self.noise_ppm,
            seed=self.seed,
        )

    def forest_params(self) -> dict:
        return {
            "n_estimators": self.n_estimators,
            "max_features": None if self.max_features == "all" else self.max_features,
            "min_samples_split": self.min_samples_split,
            "min_samples_leaf": self.min_samples_leaf,
            "bootstrap": self.bootstrap,
            "max_depth": self.max_depth,
            "criterion": self.criterion,
            "random_state": self.random_state,
        }


def parse_variants(raw: dict, where: str = 'key "variants"') -> dict[str, VariantConfig]:
    if not raw:
        return {}
    out = {}
    for name, block in raw.items():
        if not isinstance(block, dict):
            raise ConfigError(f'{where}: variant "{name}" must be a JSON object of keys')
        out[name] = build_config(VariantConfig, block, f'{where}, variant "{name}"')
    return out


#: bytes per tree node of a fitted scikit-learn tree (64-byte node record + 2 class values of 8 bytes)
NODE_BYTES = 80


#: working memory of one light curve's clara-4000 extraction, in float64 arrays of its length (measured
#: with tracemalloc: ~10 for 5,000-80,000 cadences; 16 leaves room for FINUFFT's own buffers)
EXTRACTION_ARRAYS = 16


def training_memory_bytes(variants: dict[str, VariantConfig], n_real: int, workers: int) -> tuple[float, str]:
    """A lower estimate of train's peak memory, from the config alone, and the variant that sets it.

    Real features (``n_real`` x 4000 float64) are held throughout; each variant then adds its synthetic
    flux (n_curves x cadences float64), its features, the training matrix (float64, plus scikit-learn's
    float32 copy), its forest (at most 2 nodes per sample per tree) and one curve's extraction per worker.
    """
    from clara_benchmark.features import N_FEATURES

    real = n_real * N_FEATURES * 8.0
    peak, worst = 0.0, ""
    for name, v in variants.items():
        cadences = v.n_cadences()
        samples = n_real + v.n_curves
        depth_nodes = 2.0 ** (v.max_depth + 1) if v.max_depth is not None and v.max_depth < 60 else math.inf
        nodes = min(2.0 * samples, depth_nodes)
        need = (
            v.n_curves * cadences * 8.0
            + v.n_curves * N_FEATURES * 8.0
            + samples * N_FEATURES * 12.0
            + v.n_estimators * nodes * NODE_BYTES
            + workers * cadences * 8.0 * EXTRACTION_ARRAYS
        )
        if need > peak:
            peak, worst = need, name
    return real + peak, worst


def parse_alphas(text: str) -> list[float]:
    try:
        alphas = [float(a) for a in str(text).replace(";", ",").split(",") if a.strip()]
    except ValueError:
        raise ConfigError(f'key "alphas" must be numbers separated by commas, got "{text}"') from None
    if not alphas or any(not 0 <= a <= 1 for a in alphas):
        raise ConfigError(f'key "alphas" must be numbers within [0, 1] separated by commas, got "{text}"')
    return alphas


@dataclass
@with_keys(
    execution_keys(batch_size=32, workers_help="Number of worker processes (features) and forest jobs")
)
class TrainConfig:
    """Config of ``train``."""

    input_dirs: list[Path] = key(
        "Real light curves (class 1; downloaded or simulated): folders (searched recursively), files or globs",
        "list[path]",
        required=True,
        exists="input",
    )
    output_dir: Path = key(
        "Directory for the model files and summaries (created when missing)",
        "path",
        required=True,
        exists="outdir",
    )
    max_real: int | None = key(
        "Use only the first N real light curves by file name (CLARA: 1,500); null: all",
        "int",
        None,
        minimum=1,
    )
    variants: dict = key(
        "Models to train: {name: {length_days, noise_ppm, n_curves, cadence_minutes, seed, n_estimators, "
        "max_features, min_samples_split, min_samples_leaf, bootstrap, max_depth, criterion, random_state}}",
        "dict",
        CLARA_VARIANTS,
    )
    features_dir: Path | None = key(
        "Feature store (directory of part-*.npz) to take real features from; missing ones are computed",
        "path",
        None,
        exists="dir",
    )
    save_features: bool = key(
        "Save the real features computed here as a feature store in output_dir", "bool", False
    )
    labels_csv: Path | None = key(
        "Known planets for α selection: a simulated sector's truth CSV, an ExoFOP TOI CSV, or tic_id/filename "
        "(+ snr, depth_ppm, duration_hours)",
        "path",
        None,
        exists="file",
    )
    alphas: str = key("α values for the selection, comma-separated", "str", "0.3,0.5,0.9")
    selection_dirs: list[Path] | None = key(
        "Light curves the selection scores (null: the real ones not used for training, else all of them)",
        "list[path]",
        None,
        exists="input",
    )

    def check(self) -> str | None:
        try:
            variants = parse_variants(self.variants)
            parse_alphas(self.alphas)
        except ConfigError as exc:
            return str(exc)
        if not variants:
            return 'key "variants" is empty: give at least one model to train'
        for name, variant in variants.items():
            if not name or any(c in name for c in '/\\:*?"<>|\x00'):
                return f'key "variants": variant name "{name}" cannot be used in a file name'
            model_name = products.MODEL.name(name=name, tag=variant.synthetic_spec().tag)
            if len(os.fsencode(model_name)) > NAME_MAX_BYTES:
                return (
                    f'key "variants": variant name "{name[:40]}..." is too long: its model file name would be '
                    f"{len(os.fsencode(model_name))} bytes (file names are at most {NAME_MAX_BYTES})"
                )
        need, worst = training_memory_bytes(variants, self.max_real or 0, self.max_workers)
        v = variants[worst]
        real = f", with {self.max_real:,} real light curves" if self.max_real else ""
        return memory_problem(
            need,
            f'the models of key "variants" ({worst}: {v.n_curves:,} synthetic curves of '
            f"{v.n_cadences():,.0f} cadences, {v.n_estimators:,} trees{real})",
            "use fewer or shorter synthetic curves (n_curves, length_days, cadence_minutes) or fewer trees",
        )

    def monitor_path(self) -> Path:
        return self.input_dirs[0]


# -----------------------------------------------------------------------------------------------------
# evaluate


GRID_AXES = ("depth_ppm", "period_days", "duration_hours")


DEFAULT_GRID = {
    "depth_ppm": [500, 1000, 2000, 5000, 10000, 20000],
    "period_days": [1.0, 2.0, 4.0, 8.0, 12.0],
    "duration_hours": [2.0],
}


def parse_grid(grid: dict) -> dict[str, list[float]]:
    """The grid with every axis (missing ones from the default) as sorted unique floats; ValueError if bad."""
    for name in grid:
        if name not in GRID_AXES:
            raise ValueError(f'key "grid": unknown axis "{name}" (valid: {", ".join(GRID_AXES)})')
    out = {}
    for axis in GRID_AXES:
        values = grid.get(axis, DEFAULT_GRID[axis])
        if not isinstance(values, list) or not values:
            raise ValueError(f'key "grid": "{axis}" must be a non-empty list of numbers')
        for v in values:
            if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v) or v <= 0:
                raise ValueError(f'key "grid": "{axis}" values must be positive numbers, got {v!r}')
        out[axis] = sorted({float(v) for v in values})
    if max(out["depth_ppm"]) >= 1e6:
        raise ValueError('key "grid": "depth_ppm" values must be below 1,000,000')
    if max(out["duration_hours"]) / 24.0 >= min(out["period_days"]) / 2.0:
        raise ValueError(
            f'key "grid": the longest duration ({max(out["duration_hours"]):g} h) must be shorter than half '
            f"the shortest period ({min(out['period_days']):g} d)"
        )
    return out


#: most grid cells evaluate takes: every host gets one injected copy (and 4000 features) per cell
MAX_GRID_CELLS = 10_000


def grid_cells(grid: dict[str, list[float]]) -> list[tuple[float, float, float]]:
    return [(d, p, w) for d in grid["depth_ppm"] for p in grid["period_days"] for w in grid["duration_hours"]]


@dataclass
@with_keys(execution_keys(batch_size=2, batch_help="Hosts per task sent to a worker"))
class EvaluateConfig:
    """Config of ``evaluate``."""

    input_dirs: list[Path] = key(
        "Host light curves (quiet stars, real or simulated): folders (searched recursively), files or globs",
        "list[path]",
        required=True,
        exists="input",
    )
    output_dir: Path = key(
        "Directory for the CSVs and heat maps (created when missing)", "path", required=True, exists="outdir"
    )
    model_paths: list[Path] = key(
        "Models to evaluate (.skops, or published CLARA .pkl)", "list[path]", required=True, exists="file"
    )
    truth_csv: Path | None = key(
        "Truth CSV of a simulated sector: only its quiet stars are used as hosts", "path", None, exists="file"
    )
    max_hosts: int | None = key("Use at most N hosts (first by file name); null: all", "int", 50, minimum=1)
    grid: dict = key(
        "Injection grid: {depth_ppm: [...], period_days: [...], duration_hours: [...]}", "dict", DEFAULT_GRID
    )
    transit_model: str = key(
        'Injected shape: "batman" (limb-darkened) or "box"', "str", "batman", choices=("batman", "box")
    )
    threshold: float = key("An injection counts as recovered when its score is above this", "float", 0.0)
    seed: int = seed_key("Seed of the injected mid-transit times")
    trust_pickles: bool = key(
        "Load .pkl models whose sha256 is not a known CLARA release (runs their code!)", "bool", False
    )

    def check(self) -> str | None:
        try:
            grid = parse_grid(self.grid)
        except ValueError as exc:
            return str(exc)
        stems = [Path(p).stem for p in self.model_paths]
        if len(set(stems)) != len(stems):
            return 'key "model_paths": two models have the same file name; rename one'
        shape = [len(grid[axis]) for axis in GRID_AXES]
        n_cells = shape[0] * shape[1] * shape[2]
        if n_cells > MAX_GRID_CELLS:
            return (
                f'key "grid" has {n_cells:,} cells ({" x ".join(map(str, shape))} depth x period x duration), '
                f"more than clara's limit of {MAX_GRID_CELLS:,}"
            )
        # in flight: 2 tasks per worker, each batch_size hosts x (cells + 1) feature rows; kept: one score row
        # (~1 KB as a dict, then a DataFrame row) per host, cell and model
        hosts = self.max_hosts or self.batch_size
        need = 2 * self.max_workers * self.batch_size * (n_cells + 1) * 4000 * 8.0
        need += hosts * (n_cells + 1) * len(self.model_paths) * 1000.0
        return memory_problem(
            need,
            f'key "grid" ({n_cells:,} cells) with batch_size {self.batch_size}, max_workers {self.max_workers} '
            f"and {'max_hosts ' + str(self.max_hosts) if self.max_hosts else 'all hosts'}",
            "use fewer grid cells, a smaller batch_size or fewer max_workers",
        )

    def monitor_path(self) -> Path:
        return self.input_dirs[0]


# -----------------------------------------------------------------------------------------------------
# report


RANK_CHOICES = ("auto", "wrss", "p3", "p5", "p9")


@dataclass
class ReportConfig:
    """Config of ``report`` (configs/report_config.json)."""

    score_dir: Path = key(
        "Output directory of score (anomaly_scores_*, wrss_p3p9_*, failures_* CSVs); the newest of each "
        "kind is used",
        "path",
        required=True,
        exists="dir",
    )
    output_dir: Path = key(
        "Folder for the report: index.html and img/ (created when missing)",
        "path",
        "./results/report/",
        exists="outdir",
    )
    sim_dir: Path | None = key(
        "Output directory of sim (cosine_similarity_scores_* and cosine_similarity_failures_* CSVs); "
        "none = no similarity section",
        "path",
        None,
    )
    evaluate_path: Path | None = key(
        "Injection–recovery output: a recall CSV, or the directory holding it; none = no heat map",
        "path",
        None,
    )
    # features and clustering (issue 14)
    clustering_dir: Path | None = key(
        "Output directory of clustering (its newest run is shown: members of each cluster with thumbnails, "
        "the 2-D map, the metadata); none = no clustering section",
        "path",
        None,
    )
    cluster_thumbnails: int = key(
        "Members of each cluster drawn as thumbnails (the rest are listed)", "int", 6, minimum=0, maximum=200
    )
    fits_dirs: list[Path] = key(
        "Directories holding the candidates' FITS files, for their thumbnails", "list[path]", []
    )
    truth_csv: Path | None = key(
        "CSV of the stars' true classes (columns filename or tic_id, and class; depth_ppm, period_days, "
        "snr, ... shown when present), e.g. a simulated sector's truth CSV; none = no recovery section",
        "path",
        None,
        exists="file",
    )
    reference_labels_csv: Path | None = key(
        "The reference set's labels CSV (filename or tic_id, label), so that candidates in it say so; "
        "none = not marked",
        "path",
        None,
        exists="file",
    )
    run_log_dir: Path | None = key(
        "Log directory of the run to summarise (its main.log); none = this command's --log_dir", "path", None
    )
    top_n: int = key("Number of top candidates listed, each with thumbnails", "int", 50, minimum=1)
    rank_by: str = key(
        'Rank candidates by "wrss", "p3", "p5" or "p9"; "auto" = WRSS when present, else the first model',
        "str",
        "auto",
        choices=RANK_CHOICES,
    )
    max_rows_per_group: int = key("Similarity matches listed per label group", "int", 100, minimum=1)
    title: str = key("Title of the report page", "str", "clara report")
    max_workers: int = max_workers_key(
        "Processes drawing the thumbnails (and the vetting of the top candidates)", 2
    )
    # issue 13: a vetting page per top candidate
    vetting: bool = key(
        "A vetting page per top candidate (BLS search, odd/even, secondary, centroids, flags); false = "
        "thumbnails only (still folded at the BLS period)",
        "bool",
        True,
    )
    fold_dir: Path | None = key(
        "Output directory of fold (fold_periods_*.csv, vetting figures): periods, metrics and figures are "
        "taken from it where it has them; none = computed here",
        "path",
        None,
        exists="dir",
    )
    toi_catalogue: str | None = toi_catalogue_key()

    def check(self) -> str | None:
        return check_toi_catalogue(self.toi_catalogue)

    def monitor_path(self) -> Path:
        return self.output_dir


# -----------------------------------------------------------------------------------------------------
# features and clustering (issue 14: CLARA's later commands; CLARA_LATER.md)


FEATURE_METHODS = ("fluxpowerstack", "bin_means", "advanced_10_feature_set")
#: the longest vector ``desired_length`` may ask for (each star's vector is held in memory)
MAX_DESIRED_LENGTH = 100_000
CLUSTER_ALGORITHMS = ("kmeans", "dbscan", "hdbscan", "gmm", "bgmm")
CLUSTER_PREPROCESSING = ("standard", "minmax", "robust", "none")
CLUSTER_COVARIANCE_TYPES = ("full", "tied", "diag", "spherical")
CLUSTER_PRIOR_TYPES = ("dirichlet_process", "dirichlet_distribution")
#: the algorithms' parameters, CLARA's flat keys (their defaults are the ClusteringConfig keys' defaults)
CLUSTER_PARAMETERS = (
    "n_clusters",
    "eps",
    "min_samples",
    "min_cluster_size",
    "n_components",
    "covariance_type",
    "weight_concentration_prior_type",
    "weight_concentration_prior",
    "random_state",
)
#: which matrix of a saved feature set (.npz) to cluster
CLUSTER_MATRICES = ("features", "pca", "adjusted", "dtw")
MAP_METHODS = ("auto", "pca", "tsne", "none")


@dataclass
@with_keys(read_option_keys(), execution_keys(batch_size=16))
class FeaturesConfig:
    """Config of ``features`` (CLARA's feature_extraction_config.json)."""

    fits_dir: Path = candidates_fits_dir_key()
    input_df_path: Path = key(
        "Candidate table (e.g. the WRSS CSV written by score) with a column of file names",
        "path",
        required=True,
        exists="file",
    )
    input_df_sql: str | None = key(
        "SQL over a table named input_df selecting the candidates; none = every row", "str", None
    )
    output_dir: Path = key(
        "Directory for the features; they go to <output_dir>/<features>/ (created when missing)",
        "path",
        required=True,
        exists="outdir",
    )
    features: str = key(
        "Feature set: fluxpowerstack (clara-4000), bin_means (CLARA's fold, z-scored bin means) or "
        "advanced_10_feature_set (CLARA's ten shape and transit numbers)",
        "str",
        required=True,
        choices=FEATURE_METHODS,
    )
    reduce_features: bool = key(
        "fluxpowerstack: also write the PCA of the matrix (<...>_pca_<n>.npy)", "clara_bool", False
    )
    reduce_features_n_features: int = key(
        "PCA components (lowered to the number of stars - 1 when there are fewer)",
        "int",
        50,
        minimum=1,
        maximum=4000,
        maximum_why="a clara-4000 vector has 4,000 values",
    )
    filename_column_in_df: str = key("Column of input_df naming the FITS files", "str", "filename")
    desired_length: int | None = key(
        "bin_means: pad with zeros / truncate the bin means to this length before the z-score; "
        "fluxpowerstack and advanced_10: also write each vector truncated or zero-padded to it "
        "(<...>_adjusted_<n>.npy)",
        "int",
        None,
        minimum=1,
        maximum=MAX_DESIRED_LENGTH,
        maximum_why="clara's limit on a vector's length",
    )
    use_dtw: bool = key(
        "bin_means: also write the pairwise dynamic-time-warping distance matrix (bin_means_dtw_matrix_<ts>.npy)",
        "clara_bool",
        False,
    )
    features_path: Path | None = key(
        "fluxpowerstack: feature directory written by score (save_features), or a fluxpowerstack .npz "
        "written by features, to reuse; missing files are computed",
        "path",
        None,
        exists="path",
    )

    def check(self) -> str | None:
        problem = check_read_keys(self)
        if problem:
            return problem
        if not self.filename_column_in_df.strip():
            return 'key "filename_column_in_df" must name a column'
        return None

    def unused_keys(self) -> list[str]:
        """Keys given that this feature set does not use (CLARA ignores them too): one note each."""
        notes = []
        if self.reduce_features and self.features != "fluxpowerstack":
            notes.append(f'"reduce_features" applies to fluxpowerstack only: no PCA of {self.features}')
        if self.use_dtw and self.features != "bin_means":
            notes.append(f'"use_dtw" applies to bin_means only: no DTW matrix of {self.features}')
        if self.features_path is not None and self.features != "fluxpowerstack":
            notes.append(f'"features_path" is a store of clara-4000 vectors: not used for {self.features}')
        return notes

    def monitor_path(self) -> Path:
        return self.fits_dir


@dataclass
class ClusteringConfig:
    """Config of ``clustering`` (CLARA's clustering_config.json)."""

    features_path: Path = key(
        "The matrix: a .npy written by features (with filenames_path), or the self-describing .npz "
        "written next to it (file names included)",
        "path",
        required=True,
        exists="file",
    )
    filenames_path: Path | None = key(
        "The .txt of file names of a .npy matrix (line i = row i); not needed with a .npz",
        "path",
        None,
        exists="file",
    )
    output_dir: Path = key(
        "Directory for the results (created when missing)", "path", required=True, exists="outdir"
    )
    cluster_algorithm: str = key(
        'kmeans, dbscan, hdbscan, gmm, bgmm, or "compare" (run several: key "algorithms")',
        "str",
        required=True,
        choices=(*CLUSTER_ALGORITHMS, "compare"),
    )
    preprocessing: str = key(
        "Scaling of the features: standard, minmax, robust or none (never for a distance matrix)",
        "str",
        "standard",
        choices=CLUSTER_PREPROCESSING,
    )
    is_distance_matrix: bool = key(
        "The matrix is a square precomputed distance matrix (e.g. DTW): dbscan/hdbscan only",
        "clara_bool",
        False,
    )
    n_clusters: int = key("kmeans: number of clusters", "int", 3, minimum=1)
    eps: float = key("dbscan: neighbourhood radius", "float", 0.5)
    min_samples: int = key("dbscan, hdbscan: neighbours of a core point", "int", 5, minimum=1)
    min_cluster_size: int = key("hdbscan: smallest cluster", "int", 15, minimum=2)
    n_components: int = key("gmm, bgmm: mixture components", "int", 3, minimum=1)
    covariance_type: str = key("gmm, bgmm: covariance", "str", "full", choices=CLUSTER_COVARIANCE_TYPES)
    weight_concentration_prior_type: str = key(
        "bgmm: prior type",
        "str",
        "dirichlet_process",
        choices=CLUSTER_PRIOR_TYPES,
    )
    weight_concentration_prior: float = key("bgmm: weight concentration prior", "float", 0.1)
    random_state: int | None = key(
        "Seed of kmeans, gmm, bgmm (and the map)",
        "int",
        42,
        minimum=0,
        maximum=SEED_MAX,
        maximum_why=SEED_WHY,
        nullable=True,
    )
    matrix: str = key(
        'With a .npz: which matrix to cluster, "features", or the "pca", "adjusted" or "dtw" matrix written '
        "with it",
        "str",
        "features",
        choices=CLUSTER_MATRICES,
    )
    algorithms: list[str] = key(
        'cluster_algorithm "compare": the algorithms to run', "list[str]", list(CLUSTER_ALGORITHMS)
    )
    map_method: str = key(
        '2-D map coloured by cluster: "pca", "tsne", "none"; "auto" = PCA of features, t-SNE of a '
        "distance matrix",
        "str",
        "auto",
        choices=MAP_METHODS,
    )

    def params(self) -> dict:
        """The algorithms' parameters (CLARA's flat keys)."""
        return {name: getattr(self, name) for name in CLUSTER_PARAMETERS}

    @property
    def input_kind(self) -> str:
        return Path(self.features_path).suffix.lower()

    @property
    def distance_matrix(self) -> bool:
        """Is the matrix clustered a distance matrix (given so, or the DTW matrix of a .npz)?"""
        return bool(self.is_distance_matrix or self.matrix == "dtw")

    def check(self) -> str | None:
        if self.input_kind not in (".npy", ".npz"):
            return (
                f'key "features_path" must be a .npy matrix (with "filenames_path") or the .npz written by '
                f'features, got "{self.features_path}"'
            )
        if self.input_kind == ".npy" and self.filenames_path is None:
            return (
                'key "filenames_path" is required with a .npy features_path (the .txt written next to it), '
                "or give the .npz written by features, which carries the file names"
            )
        if self.input_kind == ".npy" and self.matrix != "features":
            return f'key "matrix" ("{self.matrix}") picks a matrix of a .npz; features_path is a .npy'
        for name in self.algorithms:
            if name not in CLUSTER_ALGORITHMS:
                return (
                    f'key "algorithms": unknown algorithm "{name}" (valid: {", ".join(CLUSTER_ALGORITHMS)})'
                )
        from clara_benchmark.clustering.algorithms import plan_clustering

        names = self.algorithms if self.cluster_algorithm == "compare" else [self.cluster_algorithm]
        try:
            for name in names:
                if (
                    self.cluster_algorithm != "compare"
                    or not self.distance_matrix
                    or name in ("dbscan", "hdbscan")
                ):
                    plan_clustering(name, self.params(), self.preprocessing, self.distance_matrix)
        except ConfigError as exc:
            return str(exc)
        if self.cluster_algorithm == "compare" and self.distance_matrix:
            if not any(name in ("dbscan", "hdbscan") for name in names):
                return 'key "algorithms": a distance matrix can only be clustered by dbscan or hdbscan'
        if self.distance_matrix and self.map_method == "pca":
            return 'key "map_method": PCA needs feature vectors; use "tsne" (or "auto") for a distance matrix'
        return None

    def monitor_path(self) -> Path:
        return self.output_dir


# -----------------------------------------------------------------------------------------------------
# fold (issue 13; CLARA's phase_folding_config.json keys, then clara's)


FOLD_METHODS = ("bls", "ls", "auto")
#: period limits of a fold: the BLS grid grows as 1/min_period, the Lomb–Scargle grid as 1/min_period too
MIN_FOLD_PERIOD_DAYS = 0.05
MAX_FOLD_PERIOD_DAYS = 1000.0
MAX_FOLD_BINS = 100_000


@dataclass
@with_keys(execution_keys(batch_size=16))
class FoldConfig:
    """Config of ``fold`` (CLARA's phase_folding_config.json, plus period_method, toi_catalogue, executor)."""

    input_df_path: Path = key(
        "Candidate table (e.g. sim's or score's CSV) whose column_name column names FITS files",
        "path",
        required=True,
        exists="file",
    )
    output_dir: Path = key(
        "Directory for fold_periods_<ts>.csv, its failures and the PNGs (created when missing)",
        "path",
        required=True,
        exists="outdir",
    )
    fits_dir: Path = candidates_fits_dir_key()
    input_df_sql: str | None = key(
        "SQL over a table named input_df selecting the candidates, e.g. SELECT filename FROM input_df WHERE "
        "label_group = 'planet_like'; none = every row",
        "str",
        None,
    )
    min_power_threshold: float = key(
        'Lomb–Scargle peak power below which "ls" skips a star (a failure row; CLARA\'s rule) and "auto" '
        "does not take the Lomb–Scargle period",
        "float",
        0.05,
        minimum=0.0,
        maximum=1.0,
    )
    min_period_threshold: float = key(
        "Shortest period searched (days)",
        "float",
        0.5,
        minimum=MIN_FOLD_PERIOD_DAYS,
        maximum=MAX_FOLD_PERIOD_DAYS,
        maximum_why="clara's limit",
    )
    max_period_threshold: float = key(
        "Longest period searched (days)",
        "float",
        20.0,
        minimum=MIN_FOLD_PERIOD_DAYS,
        maximum=MAX_FOLD_PERIOD_DAYS,
        maximum_why="clara's limit",
    )
    bins: int = key(
        'Phase bins of CLARA\'s fold ("ls" and "auto": fold_bins_<ts>.csv)',
        "int",
        100,
        minimum=2,
        maximum=MAX_FOLD_BINS,
        maximum_why="clara's limit",
    )
    save: bool = key(
        'Write one PNG per star: CLARA\'s fold figure ("ls") or the vetting figure ("bls")',
        "clara_bool",
        True,
    )
    show: bool = key("Accepted for CLARA's configs and ignored: clara runs headless", "clara_bool", False)
    phase_shift: float = key("Subtracted from CLARA's phase before wrapping into [0, 1)", "float", 0.0)
    column_name: str = key("Column of input_df_path that names the FITS files", "str", "filename")
    period_method: str = key(
        '"bls" (box least squares: transits, eclipses), "ls" (CLARA\'s Lomb–Scargle fold, exactly), '
        '"auto" (both; the documented rule picks one)',
        "str",
        "bls",
        choices=FOLD_METHODS,
    )
    toi_catalogue: str | None = toi_catalogue_key()

    def check(self) -> str | None:
        if not self.min_period_threshold < self.max_period_threshold:
            return (
                f'key "min_period_threshold" ({self.min_period_threshold:g}) must be less than '
                f'"max_period_threshold" ({self.max_period_threshold:g})'
            )
        if self.period_method != "ls":
            from clara_benchmark.vetting.bls import SearchGrid

            try:
                SearchGrid(self.min_period_threshold, self.max_period_threshold)
            except ValueError as exc:
                return (
                    f'keys "min_period_threshold"/"max_period_threshold": no box least squares search: {exc}'
                )
        if not self.column_name.strip():
            return 'key "column_name" must name a column of input_df_path'
        return check_toi_catalogue(self.toi_catalogue)

    def monitor_path(self) -> Path:
        return self.fits_dir
