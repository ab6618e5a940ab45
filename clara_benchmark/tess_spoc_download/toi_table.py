"""ExoFOP's TOI table as a ``vetting.toi.TOICatalogue``: read from a local CSV, or fetched from its URL through
clara's download code (``fetch.Fetcher``: retries with backoff, timeouts, links refused, ``.part`` file
renamed into place only once verified) and cached.

A fetched table is verified before it gets its name: at most ``MAX_TOI_BYTES``, the size the server
announced, UTF-8 CSV that ``vetting.toi.parse_toi_table`` reads (a header with ``TIC ID`` and ``TOI``, every
row well formed). An HTML error page or a truncated transfer fails verification and is retried like a
damaged light curve. The cache is ``<cache_dir>/toi_catalogue_<digest of the URL>.csv``; a cached table
that still verifies is used without asking the server again (ExoFOP updates its table daily: delete the
file to refresh it).

Examples
--------
>>> from clara_benchmark.tess_spoc_download.toi_table import load_toi_catalogue
>>> cat = load_toi_catalogue(path_to_toi_csv)  # doctest: +SKIP
>>> cat = load_toi_catalogue("https://exofop.ipac.caltech.edu/tess/download_toi.php?output=csv",
...                          cache_dir="results/")  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
from collections.abc import Callable
from pathlib import Path

from clara_benchmark.exceptions import ClaraError, ConfigError
from clara_benchmark.tess_spoc_download.verify import (
    Verified,
    VerifyError,
    check_announced_size,
    open_for_verify,
    read_descriptor,
)
from clara_benchmark.vetting.toi import TOICatalogue, TOITableError, parse_toi_table

#: ExoFOP's whole table is ~5 MB (7,000+ TOIs); a file 10x that is not a TOI table
MAX_TOI_BYTES = 64 << 20


def _read_bounded(path: str | os.PathLike, follow_symlinks: bool = True) -> tuple[bytes, os.stat_result]:
    """The bytes of a regular file of at most ``MAX_TOI_BYTES`` (``VerifyError`` otherwise)."""
    with open_for_verify(path, follow_symlinks) as (fd, st):
        if st.st_size > MAX_TOI_BYTES:
            raise VerifyError(f"{st.st_size} bytes, more than {MAX_TOI_BYTES >> 20} MiB (not a TOI table)")
        raw = read_descriptor(fd, MAX_TOI_BYTES + 1)
    if len(raw) > MAX_TOI_BYTES:
        raise VerifyError(f"more than {MAX_TOI_BYTES >> 20} MiB (not a TOI table)")
    return raw, st


def verify_toi_file(
    path: str | os.PathLike,
    expected_size: int | None = None,
    *,
    filename: str | None = None,
    follow_symlinks: bool = True,
) -> Verified:
    """The ``verify`` of a ``Fetcher`` that downloads a TOI table: ``VerifyError`` unless ``path`` is a
    complete TOI CSV (see the module docstring)."""
    raw, st = _read_bounded(path, follow_symlinks)
    check_announced_size(raw, expected_size)
    try:
        catalogue = parse_toi_table(raw, filename or os.path.basename(path))
    except TOITableError as exc:
        raise VerifyError(str(exc)) from None
    if not len(catalogue):
        raise VerifyError("a TOI table with no rows")
    return Verified(len(raw), hashlib.sha256(raw).hexdigest(), 0, (st.st_dev, st.st_ino))


def cache_path(url: str, cache_dir: str | os.PathLike) -> Path:
    """Where the table fetched from ``url`` is kept in ``cache_dir``."""
    from clara_benchmark import products

    digest = hashlib.sha256(url.encode("utf-8")).hexdigest()[:12]
    return products.TOI_CACHE.path(cache_dir, tag=digest)


def fetch_toi_table(
    url: str, cache_dir: str | os.PathLike, log: Callable[[str], None] | None = None, fetch_options=None
) -> Path:
    """The verified local copy of the TOI table at ``url`` (fetched when the cache has none); ``ClaraError``
    naming the URL when it cannot be had. ``fetch_options`` (``fetch.FetchOptions``): timeouts and retries,
    by default 3 retries with backoff from 1 s."""
    from clara_benchmark.tess_spoc_download.fetch import DOWNLOADED, FAILED, Fetcher, FetchOptions

    dest = cache_path(url, cache_dir)
    dest.parent.mkdir(parents=True, exist_ok=True)
    options = dataclasses.replace(fetch_options or FetchOptions(max_retries=3), max_file_bytes=MAX_TOI_BYTES)
    fetcher = Fetcher(options, num_threads=1, log=log, verify=verify_toi_file)
    try:
        result = fetcher.fetch_file(url, dest)
    finally:
        fetcher.close()
    if result.status == FAILED:
        raise ClaraError(f"toi_catalogue {url}: {result.error}")
    if log is not None:
        how = (
            f"fetched in {result.attempts} request(s)" if result.status == DOWNLOADED else "cached copy used"
        )
        log(f"TOI table {url}: {how} → {dest} ({result.size} bytes, sha256 {result.sha256[:12]}...)")
    return dest


def load_toi_catalogue(
    source: str | os.PathLike | TOICatalogue,
    cache_dir: str | os.PathLike | None = None,
    log: Callable[[str], None] | None = None,
    fetch_options=None,
) -> TOICatalogue:
    """ExoFOP's TOI table from a local CSV, an http(s) URL (fetched into ``cache_dir``, see the module
    docstring), or a catalogue already parsed (returned as it is).

    Raises
    ------
    ConfigError
        A file that does not exist or is not a TOI table (the message names it and the line); a URL
        without a ``cache_dir``.
    ClaraError
        A URL that cannot be fetched, or whose content is not a TOI table after the retries
        (``fetch_options``: a ``fetch.FetchOptions`` for the timeouts and retries).
    """
    from clara_benchmark.config import is_url

    if isinstance(source, TOICatalogue):
        return source
    text = os.fspath(source)
    if is_url(text):
        if not text.lower().startswith(("http://", "https://")):
            raise ConfigError(f"toi_catalogue: only http(s) URLs can be fetched, got {text}")
        if cache_dir is None:
            raise ConfigError(f"toi_catalogue {text}: a URL needs a cache_dir to keep the table in")
        path = fetch_toi_table(text, cache_dir, log, fetch_options)
        where = text
    else:
        path = Path(os.path.expanduser(text))
        where = str(path)
    try:
        raw, _ = _read_bounded(path)
    except VerifyError as exc:
        raise ConfigError(f"toi_catalogue {where}: {exc.reason}") from None
    try:
        catalogue = parse_toi_table(raw, where)
    except TOITableError as exc:
        raise ConfigError(str(exc)) from None
    if log is not None:
        log(f"TOI table {where}: {len(catalogue)} TOIs of {len(catalogue.entries)} stars")
    return catalogue
