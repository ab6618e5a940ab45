"""MAST's bulk-download scripts (``tesscurl_sector_<N>_lc.sh``) → a list of (file name, URL) entries.

The scripts are shell, but clara never runs them: each ``curl``/``wget`` line is tokenised the way ``sh``
would (quotes, comments, CRLF) and only the target name and the URL are kept. Any URL that is not http(s)
and any line that chains shell commands is refused; so is any target name that breaks the rule below. A
refused line is reported; the others go on.

The file-name rule (``check_filename``). A target name becomes one file in the sector folder, so it must be
a single plain path component that cannot collide with clara's own files there. It is refused when it

- is empty, ``.`` or ``..``, or starts with ``.`` (hidden; clara's lock and temporary files are hidden);
- contains ``/`` or a backslash, or starts with a drive (``C:``): a path, not a name;
- contains a control character (C0, DEL, C1), a Unicode format character (bidi overrides, zero-width
  characters) or a line/paragraph separator: they make logs and the manifest lie about the name;
- is not valid UTF-8, or is longer than 255 bytes (the usual file-name limit);
- ends with ``.part`` or ``.damaged`` (any case), or is ``manifest_sector_<N>.csv``: names clara itself
  gives to partial downloads, damaged files moved aside and the manifest (a script line named
  ``a.part`` would otherwise be resumed into, or clobbered by, the download of ``a``).

Every other character is accepted and stays literal: ``( ) [ ] ! | : # ~ * ? $ ' "``, spaces, a leading
``-``, non-ASCII letters. A name is only ever used as a path component in ``os`` calls: it never reaches a
shell, and FITS files are opened by descriptor (``clara_benchmark.fitsfile``), so cfitsio's extended
file-name syntax (``a(b.py)``, ``x[1]``, ``!x``, ``|cmd``) never sees it.
"""

from __future__ import annotations

import re
import shlex
import unicodedata
from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

from clara_benchmark.lightcurve import tic_from_filename


def script_name(sector: int) -> str:
    """The file name MAST uses for a sector's light-curve script."""
    return f"tesscurl_sector_{sector}_lc.sh"


@dataclass(frozen=True)
class ScriptEntry:
    """One file to download. ``index`` counts command lines (what start_index/max_downloads slice)."""

    index: int
    line_no: int  # 1-based line number in the script, for messages
    filename: str
    url: str

    @property
    def tic_id(self) -> int | None:
        return tic_from_filename(self.filename)


@dataclass(frozen=True)
class LineError:
    """A command line that was refused: ``index`` as for entries, ``reason`` says why."""

    index: int
    line_no: int
    text: str
    reason: str

    def __str__(self) -> str:
        shown = self.text if len(self.text) <= 160 else self.text[:157] + "..."
        return f"line {self.line_no}: {self.reason}: {shown!r}"


@dataclass
class ParsedScript:
    entries: list[ScriptEntry] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)

    @property
    def n_commands(self) -> int:
        """Command lines (good and refused): the sequence start_index/max_downloads slice."""
        return len(self.entries) + len(self.errors)

    def sliced(self, start: int, count: int) -> ParsedScript:
        """Entries and errors whose command index is in ``[start, start + count)``."""
        stop = start + count
        return ParsedScript(
            [e for e in self.entries if start <= e.index < stop],
            [e for e in self.errors if start <= e.index < stop],
        )


class ScriptLineError(ValueError):
    pass


# curl / wget options that take a value (the next token), so that the value is not mistaken for a URL
_CURL_VALUE_OPTS = {
    "-A", "--user-agent", "-b", "--cookie", "-c", "--cookie-jar", "-C", "--continue-at", "-d", "--data",
    "-e", "--referer", "-H", "--header", "-m", "--max-time", "--connect-timeout", "-r", "--range",
    "--retry", "--retry-delay", "--retry-max-time", "-u", "--user", "-w", "--write-out", "-x", "--proxy",
    "-X", "--request", "-y", "--speed-time", "-Y", "--speed-limit", "-z", "--time-cond", "--limit-rate",
    "--max-filesize", "--cacert", "--capath", "--cert", "--key", "-K", "--config", "--output-dir",
}  # fmt: skip
_WGET_VALUE_OPTS = {
    "-a", "--append-output", "-o", "--output-file", "-P", "--directory-prefix", "-t", "--tries",
    "-T", "--timeout", "-U", "--user-agent", "--header", "-w", "--wait", "--limit-rate", "-e", "--execute",
    "--user", "--password", "--read-timeout", "--connect-timeout", "-Q", "--quota", "-B", "--base",
}  # fmt: skip

# a line without any of these characters tokenises identically with str.split() (20x faster than shlex)
_SHELL_SPECIAL = re.compile(r"""['"\\#;&|<>()`$]""")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
#: suffixes clara gives to its own files in the sector folder (fetch.PART_SUFFIX, fetch.DAMAGED_SUFFIX)
RESERVED_SUFFIXES = (".part", ".damaged")
_MANIFEST_NAME = re.compile(r"^manifest_sector_\d+\.csv$", re.IGNORECASE)


def _tokens(line: str) -> list[str]:
    if not _SHELL_SPECIAL.search(line):
        return line.split()
    lexer = shlex.shlex(line, posix=True, punctuation_chars=True)
    lexer.whitespace_split = True
    lexer.commenters = "#"
    try:
        tokens = list(lexer)
    except ValueError as exc:  # "No closing quotation", "No escaped character"
        raise ScriptLineError(f"cannot tokenise ({exc})") from None
    for tok in tokens:
        if tok and all(c in "();<>|&" for c in tok):
            raise ScriptLineError(f"shell syntax {tok!r} is not supported (one download per line)")
    return tokens


def check_filename(name: str) -> str:
    """Return ``name`` if it is a plain file name that stays inside the output directory, else raise.

    The rule is in the module docstring; ``ScriptLineError`` says which part of it ``name`` breaks.

    >>> check_filename("star[1](numpy.py) #2.fits")
    'star[1](numpy.py) #2.fits'
    """
    if not name:
        raise ScriptLineError("empty target file name")
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        raise ScriptLineError(f"target name {name!r} is an absolute path")
    if ".." in re.split(r"[/\\]", name):
        raise ScriptLineError(f"target name {name!r} climbs out of the output directory ('..')")
    if "/" in name or "\\" in name:
        raise ScriptLineError(f"target name {name!r} contains a path separator")
    if name in (".", ".."):
        raise ScriptLineError(f"target name {name!r} is not a file name")
    if name.startswith("."):
        raise ScriptLineError(f"target name {name!r} is a hidden file name")
    if _CONTROL.search(name) or (not name.isascii() and any(_unprintable(c) for c in name)):
        raise ScriptLineError(f"target name {name!r} contains control or invisible characters")
    if "\ufffd" in name:
        raise ScriptLineError("target name is not valid UTF-8")
    if len(name.encode("utf-8")) > 255:
        raise ScriptLineError("target name is longer than 255 bytes")
    if name.lower().endswith(RESERVED_SUFFIXES) or _MANIFEST_NAME.match(name):
        raise ScriptLineError(
            f"target name {name!r} is reserved: clara names its partial downloads <name>.part, damaged "
            "files <name>.damaged and the manifest manifest_sector_<N>.csv"
        )
    return name


def _unprintable(char: str) -> bool:
    """Control (C0/C1), format (bidi, zero-width), surrogate, or line/paragraph separator."""
    return unicodedata.category(char) in ("Cc", "Cf", "Cs", "Zl", "Zp")


def check_url(url: str) -> str:
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise ScriptLineError(f"malformed URL ({exc})") from None
    if parts.scheme.lower() not in ("http", "https"):
        raise ScriptLineError(f"URL scheme {parts.scheme or '(none)'!r} is not http or https")
    if not parts.hostname:
        raise ScriptLineError("URL has no host")
    if _CONTROL.search(url):
        raise ScriptLineError("URL contains control characters")
    return url


def remote_name(url: str) -> str:
    """The name curl -O / wget would give: MAST's ``?uri=mast:.../<name>`` or the last path component."""
    parts = urlsplit(url)
    uri = parse_qs(parts.query).get("uri")
    if uri:
        return unquote(uri[0].rsplit("/", 1)[-1])
    return unquote(parts.path.rsplit("/", 1)[-1])


def _parse_args(tool: str, args: list[str]) -> tuple[str | None, list[str]]:
    """(explicit output name or None, positional URLs) from curl/wget arguments."""
    value_opts = _CURL_VALUE_OPTS if tool == "curl" else _WGET_VALUE_OPTS
    out_short = "-o" if tool == "curl" else "-O"
    out_long = "--output" if tool == "curl" else "--output-document"
    name = None
    urls: list[str] = []
    i = 0
    while i < len(args):
        tok = args[i]
        if tok == out_short or tok == out_long:
            if i + 1 >= len(args):
                raise ScriptLineError(f"{tok} has no file name after it")
            name = args[i + 1]
            i += 2
            continue
        if tok.startswith(out_long + "="):
            name = tok[len(out_long) + 1 :]
        elif tok.startswith(out_short) and len(tok) > 2:
            name = tok[2:]
        elif tok in value_opts:
            i += 1  # skip the option's value
        elif tok.startswith("-") and tok != "-":
            pass  # a flag (-L, -s, --remote-name, -c, ...) or --opt=value
        else:
            urls.append(tok)
        i += 1
    return name, urls


def parse_line(line: str) -> tuple[str, str] | None:
    """(file name, URL) of one script line, None for blank/comment lines; raise ScriptLineError if bad."""
    tokens = _tokens(line.strip())
    if not tokens:
        return None
    tool = tokens[0].rsplit("/", 1)[-1]
    if tool not in ("curl", "wget"):
        raise ScriptLineError(f"not a curl or wget command ({tokens[0]!r})")
    name, urls = _parse_args(tool, tokens[1:])
    if not urls:
        raise ScriptLineError("no URL")
    if len(urls) > 1:
        raise ScriptLineError(f"{len(urls)} URLs or stray arguments on one line ({urls[1]!r}, ...)")
    url = check_url(urls[0])
    if name is None:
        name = remote_name(url)
    if name == "-":
        raise ScriptLineError("output to stdout ('-') is not a file")
    return check_filename(name), url


def parse_script(text: str) -> ParsedScript:
    """Every download line of a script in order; refused lines are collected in ``errors``.

    A name that appears twice is refused the second time (two downloads into one file would collide).
    """
    parsed = ParsedScript()
    seen: dict[str, int] = {}
    index = 0
    for line_no, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        try:
            result = parse_line(line)
            if result is None:
                continue
            name, url = result
            if name in seen:
                raise ScriptLineError(f"target name {name!r} already used on line {seen[name]}")
            seen[name] = line_no
            parsed.entries.append(ScriptEntry(index, line_no, name, url))
        except ScriptLineError as exc:
            parsed.errors.append(LineError(index, line_no, line, str(exc)))
        index += 1
    return parsed


def read_script(path) -> ParsedScript:
    """Parse a script file; invalid UTF-8 bytes are replaced (they then fail the name/URL checks)."""
    with open(path, "rb") as fh:
        data = fh.read()
    return parse_script(data.decode("utf-8", errors="replace"))
