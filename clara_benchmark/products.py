"""Every file clara writes: its name pattern, its columns, its writer and its reader. Nothing else builds or
parses these names.

A ``Product`` is a name pattern with fields (``{ts}`` the run's ``YYYYMMDD_HHMMSS`` stamp, ``{model}`` one of
p3/p5/p9, ``{name}``/``{tag}`` free words); ``name()`` fills it in, ``match()`` reads a file name back, and
``newest()`` picks the latest of a kind in a folder by its timestamp. CSVs are written atomically (a reader
never sees half a file), UTF-8, ``\\n`` line ends; a file name that is not valid UTF-8 (a non-UTF-8 name on
disk) is written with backslash escapes instead of failing the whole table.

Examples
--------
>>> from clara_benchmark import products
>>> products.SCORES.name(model="p3", ts="20250101_120000")
'anomaly_scores_p3_20250101_120000.csv'
>>> products.SCORES.match("anomaly_scores_p9_20250101_120000.csv")
{'model': 'p9', 'ts': '20250101_120000'}
>>> products.SCORES.match("anomaly_scores_p9_20250101_120000.csv.tmp") is None
True
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from clara_benchmark.utils.io import atomic_open, atomic_write_bytes, atomic_write_text

TIMESTAMP = r"\d{8}_\d{6}"
MODELS = ("p3", "p5", "p9")
_FIELD = {"ts": TIMESTAMP, "model": "p3|p5|p9", "name": r"[^/\\]+?", "tag": r"[^/\\]+?"}
# features and clustering (issue 14)
_FIELD.update(
    {
        "method": "fluxpowerstack|bin_means|advanced_10_feature_set",
        "algo": "kmeans|dbscan|hdbscan|gmm|bgmm",
        "n": r"\d+",
    }
)

# ------------------------------------------------------------------------------------------ columns

#: the WRSS column that ranks candidates (CLARA's name)
WRSS_NORM = "score_weighted_root_sumnorm"
SCORE_COLUMNS = ("tic", "filename", "anomaly_score")
#: what score's CSVs add after SCORE_COLUMNS when a run scored light curves other than SPOC 2-minute
#: PDCSAP flux (CLARA's training data): the product, its cadence in seconds, the identifier's catalogue
PRODUCT_COLUMNS = ("product", "cadence_s", "id_kind")
#: score's failures; every other command's failures add the path
FAILURE_COLUMNS = ("filename", "reason")
FAILURE_PATH_COLUMNS = ("filename", "path", "reason")
WRSS_COLUMNS = (
    "tic_p3",
    "filename",
    "anomaly_score_p3",
    "tic_p9",
    "anomaly_score_p9",
    "score_weighted_root_sum",
    WRSS_NORM,
)
WRSS_FLOAT_COLUMNS = frozenset(WRSS_COLUMNS) - {"tic_p3", "filename", "tic_p9"}
#: what ``sim`` adds to each candidate row
SIM_COLUMNS = ("matched_label", "matched_filename", "label_group", "similarity_score")
#: CLARA's label groups (CLARA_SPEC §6), in the order configs and reports list them
LABEL_GROUPS = ("planet_like", "binary_star", "stellar", "outlier", "unclassified")


def topk_columns(k: int) -> list[str]:
    """``sim``'s extra columns for the 2nd…k-th best matches (raw reference labels, no threshold)."""
    return [f"match{j}_{what}" for j in range(2, k + 1) for what in ("label", "filename", "similarity")]


# ------------------------------------------------------------------------------------------ names


@dataclass(frozen=True)
class Product:
    """One kind of output file: ``pattern`` with ``{field}`` placeholders, and its columns (CSV)."""

    kind: str
    pattern: str
    columns: tuple[str, ...] = ()

    def name(self, **fields: str) -> str:
        """The file name for these field values."""
        return self.pattern.format(**fields)

    def path(self, directory: str | os.PathLike, **fields: str) -> Path:
        return Path(directory) / self.name(**fields)

    @property
    def regex(self) -> re.Pattern:
        parts = re.split(r"\{(\w+)\}", self.pattern)
        out = []
        for i, part in enumerate(parts):
            out.append(f"(?P<{part}>{_FIELD[part]})" if i % 2 else re.escape(part))
        return re.compile("^" + "".join(out) + "$")

    def match(self, filename: str) -> dict[str, str] | None:
        """The field values of a file name of this kind, or None (hidden ``.tmp`` files never match)."""
        m = self.regex.match(os.path.basename(filename))
        return m.groupdict() if m else None

    def find(self, directory: str | os.PathLike, **fixed: str) -> list[tuple[Path, dict[str, str]]]:
        """Files of this kind in ``directory`` whose fields equal ``fixed``, oldest timestamp first."""
        directory = Path(directory)
        if not directory.is_dir():
            return []
        found = []
        for entry in directory.iterdir():
            fields = self.match(entry.name)
            if fields is not None and all(fields.get(k) == v for k, v in fixed.items()):
                found.append((entry, fields))
        return sorted(found, key=lambda e: (e[1].get("ts", ""), e[0].name))

    def newest(self, directory: str | os.PathLike, **fixed: str) -> Path | None:
        """The newest file of this kind (by the timestamp in its name), or None."""
        found = self.find(directory, **fixed)
        return found[-1][0] if found else None


# score
SCORES = Product("scores", "anomaly_scores_{model}_{ts}.csv", SCORE_COLUMNS)
FAILURES = Product("failures", "failures_{ts}.csv", FAILURE_COLUMNS)
WRSS = Product("wrss", "wrss_p3p9_{ts}.csv", WRSS_COLUMNS)
WRSS_RECORD = Product("wrss_record", "wrss_p3p9_{ts}.json")
FEATURES = Product("features", "features_{ts}")
SCORE_WORK = Product("score_work", ".score_{ts}.work")
# sim
SIM = Product("sim", "cosine_similarity_scores_{ts}.csv")
SIM_FAILURES = Product("sim_failures", "cosine_similarity_failures_{ts}.csv", FAILURE_PATH_COLUMNS)
# reference
REFERENCE_PCA = Product("reference_pca", "pca_model_{name}.skops")
REFERENCE_CSV = Product("reference_csv", "reduced_features_{name}.csv")
REFERENCE_FAILURES = Product(
    "reference_failures", "reduced_features_{name}_failures.csv", FAILURE_PATH_COLUMNS
)
# train
MODEL = Product("model", "urf_{name}_{tag}.skops")
TRAIN_SUMMARY = Product("train_summary", "train_summary_{ts}.csv")
TRAIN_FAILURES = Product("train_failures", "train_failures_{ts}.csv", FAILURE_PATH_COLUMNS)
TRAIN_FEATURES = Product("train_features", "features_real_{ts}")
ALPHA_SELECTION = Product("alpha_selection", "alpha_selection_{ts}.csv")
SELECTED_MODELS = Product("selected_models", "selected_models_{ts}.json")
# evaluate
INJECTION_SCORES = Product("injection_scores", "injection_scores_{ts}.csv")
INJECTION_RECALL = Product("injection_recall", "injection_recall_{ts}.csv")
INJECTION_HEATMAP = Product("injection_heatmap", "injection_recall_{name}_{ts}.png")
EVALUATE_FAILURES = Product("evaluate_failures", "evaluate_failures_{ts}.csv", FAILURE_PATH_COLUMNS)
# features (in <output_dir>/<method>/; CLARA's names, and the self-describing .npz beside them)
SHAPE_FEATURES = Product("shape_features", "{method}_features_{ts}.npy")
SHAPE_FILENAMES = Product("shape_filenames", "{method}_filenames_{ts}.txt")
SHAPE_SET = Product("shape_set", "{method}_features_{ts}.npz")
SHAPE_PCA = Product("shape_pca", "{method}_features_{ts}_pca_{n}.npy")
SHAPE_ADJUSTED = Product("shape_adjusted", "{method}_features_{ts}_adjusted_{n}.npy")
SHAPE_DTW = Product("shape_dtw", "bin_means_dtw_matrix_{ts}.npy")
SHAPE_FAILURES = Product("shape_failures", "{method}_failures_{ts}.csv", FAILURE_PATH_COLUMNS)
# clustering
CLUSTER_COLUMNS = ("filename", "cluster_label")
CLUSTER_MAP_COLUMNS = ("filename", "tic_id", "x", "y", "cluster_label")
CLUSTER_RESULTS = Product("cluster_results", "{algo}_results_{ts}.csv", CLUSTER_COLUMNS)
CLUSTER_METADATA = Product("cluster_metadata", "{algo}_metadata_{ts}.txt")
CLUSTER_MAP = Product("cluster_map", "{algo}_map_{ts}.png")
CLUSTER_MAP_CSV = Product("cluster_map_csv", "{algo}_map_{ts}.csv", CLUSTER_MAP_COLUMNS)
CLUSTER_COMPARISON = Product("cluster_comparison", "clustering_comparison_{ts}.csv")
CLUSTER_COMPARISON_PLOT = Product("cluster_comparison_plot", "clustering_comparison_{ts}.png")
#: what one clustering run wrote (the report reads the newest)
CLUSTER_RECORD = Product("cluster_record", "clustering_{ts}.json")

# fold (issue 13): periods and vetting of candidates; CLARA's fold figures and bins; the TOI table's cache
#: fold_periods' columns: the issue's thirteen, then what the vetting page and the TOI cross-match add
FOLD_COLUMNS = (
    "filename",
    "tic",
    "method",
    "period_days",
    "t0_btjd",
    "duration_hours",
    "depth_ppm",
    "snr",
    "power",
    "odd_even_sigma",
    "secondary_depth_ppm",
    "centroid_shift_sigma",
    "flags",
)
FOLD_EXTRA_COLUMNS = (
    "sde",
    "n_transits",
    "secondary_sigma",
    "aliases",
    "toi",
    "toi_period_days",
    "toi_disposition",
    "toi_relation",
    "method_reason",
)
FOLD_PERIODS = Product("fold_periods", "fold_periods_{ts}.csv", FOLD_COLUMNS + FOLD_EXTRA_COLUMNS)
FOLD_FAILURES = Product("fold_failures", "fold_failures_{ts}.csv", FAILURE_PATH_COLUMNS)
#: CLARA's binned fold of each star ("ls" and "auto" runs): filename, tic, ls_period_days, ls_power, bin_1...
FOLD_BINS = Product("fold_bins", "fold_bins_{ts}.csv")
FOLD_BINS_COLUMNS = ("filename", "tic", "ls_period_days", "ls_power")
#: CLARA's fold figure ("ls"): <file stem>_period_<period, 4 decimals>_days.png, as CLARA names it
FOLD_PNG = Product("fold_png", "{name}_period_{tag}_days.png")
#: the vetting figure ("bls", and "auto" when it keeps the BLS period)
VETTING_PNG = Product("vetting_png", "{name}_vetting.png")
#: a TOI table fetched from a URL, cached where it is used (``tag``: a digest of the URL)
TOI_CACHE = Product("toi_cache", "toi_catalogue_{tag}.csv")


# ------------------------------------------------------------------------------------------ writers


def float_text(x: float) -> str:
    """Shortest text that reads back as the same float64 (Python's repr): scores survive a CSV round trip."""
    return repr(float(x))


def write_csv(path: str | os.PathLike, columns: Sequence[str], rows: Iterable[Sequence]) -> Path:
    """A CSV written atomically with the csv module (``\\n`` line ends; undecodable names escaped)."""
    with atomic_open(path, "w", newline="", errors="backslashreplace") as fh:
        out = csv.writer(fh, lineterminator="\n")
        out.writerow(columns)
        out.writerows(rows)
    return Path(path)


def write_frame(path: str | os.PathLike, frame, **to_csv) -> Path:
    """A pandas DataFrame as CSV (``index=False``), atomically."""
    with atomic_open(path, "w", newline="", errors="backslashreplace") as fh:
        frame.to_csv(fh, index=False, **to_csv)
    return Path(path)


def write_failures(
    path: str | os.PathLike, failures: Iterable, columns: Sequence[str] = FAILURE_PATH_COLUMNS
) -> Path:
    """A failures table (``inputs.Failure`` rows, or ``(path, reason)`` pairs) with ``columns``.

    score's ``failures_<ts>.csv`` is ``filename,reason``; every other command's adds ``path``.
    """
    from clara_benchmark.inputs import Failure

    rows = []
    for f in failures:
        f = f if isinstance(f, Failure) else Failure.of(f[0], f[1])
        rows.append([getattr(f, c) for c in columns])
    return write_csv(path, columns, rows)


def write_scores(path: str | os.PathLike, table) -> Path:
    """``anomaly_scores_<model>_<ts>.csv`` from a table with ``tic``, ``filename``, ``anomaly_score``, and
    ``PRODUCT_COLUMNS`` after them when the table has those (``cadence_s`` written as its shortest float)."""
    columns = list(SCORE_COLUMNS)
    values = [table["tic"].tolist(), table["filename"].tolist(), map(float_text, table["anomaly_score"])]
    if all(c in table.columns for c in PRODUCT_COLUMNS):
        columns += PRODUCT_COLUMNS
        values += [table["product"].tolist(), map(float_text, table["cadence_s"]), table["id_kind"].tolist()]
    return write_csv(path, columns, zip(*values))


def write_wrss(directory: str | os.PathLike, ts: str, table, record: dict) -> tuple[Path, Path]:
    """The WRSS CSV and its JSON record of the batch min/max used for the normalisation."""
    columns = list(table.columns)
    rows = (
        [float_text(v) if c in WRSS_FLOAT_COLUMNS else v for c, v in zip(columns, row)]
        for row in table.itertuples(index=False, name=None)
    )
    csv_path = write_csv(WRSS.path(directory, ts=ts), columns, rows)
    sidecar = {
        **record,
        "wrss_csv": csv_path.name,
        "note": f"{WRSS_NORM} = score_weighted_root_sum * s - min * s, s = 1 / (max - min) "
        "(s = 1 when max - min < 10 float64 eps) "
        "over these rows (scikit-learn MinMaxScaler's arithmetic, as CLARA; it can differ from "
        "(score_weighted_root_sum - min) / (max - min) in the last bit, e.g. 1.0000000000000002 at the max)",
    }
    json_path = WRSS_RECORD.path(directory, ts=ts)
    atomic_write_text(json_path, json.dumps(sidecar, indent=2) + "\n")
    return csv_path, json_path


def write_json(path: str | os.PathLike, value) -> Path:
    atomic_write_text(path, json.dumps(value, indent=2) + "\n")
    return Path(path)


def write_bytes(path: str | os.PathLike, data: bytes) -> Path:
    atomic_write_bytes(path, data)
    return Path(path)


def file_stem(filename: str) -> str:
    """A light curve's file name without ``.fits``/``.fit``/``.fts`` (and ``.gz``): the ``name`` of its
    figures."""
    stem = os.path.basename(filename)
    for suffix in (".gz", ".fits", ".fit", ".fts"):
        if stem.lower().endswith(suffix):
            stem = stem[: -len(suffix)]
    return stem


def fold_png_name(filename: str, period_days: float) -> str:
    """CLARA's name for its fold figure of ``filename`` at ``period_days``."""
    return FOLD_PNG.name(name=file_stem(filename), tag=f"{period_days:.4f}")


def write_fold_periods(path: str | os.PathLike, frame) -> Path:
    """``fold_periods_<ts>.csv``: ``FOLD_PERIODS.columns`` in that order (missing ones empty); floats as
    their shortest round-trip text, NaN as an empty cell."""
    frame = frame.reindex(columns=list(FOLD_PERIODS.columns))
    return write_frame(path, frame)


def write_fold_bins(path: str | os.PathLike, frame) -> Path:
    """``fold_bins_<ts>.csv``: ``FOLD_BINS_COLUMNS`` then ``bin_1`` ... ``bin_<bins>`` (CLARA's raw bin means,
    NaN for an empty bin), floats as their shortest round-trip text."""
    return write_frame(path, frame)


# ------------------------------------------------------------------------------------------ readers


def read_scores(path: str | os.PathLike):
    """An ``anomaly_scores_*.csv`` as a DataFrame (``tic`` int64, ``filename`` str, ``anomaly_score`` float64)."""
    import pandas as pd

    return pd.read_csv(
        path,
        dtype={"tic": "int64", "filename": str, "anomaly_score": "float64"},
        float_precision="round_trip",  # exact on pandas 2 too (its default parser may miss by an ulp)
    )


def read_wrss(path: str | os.PathLike):
    """A ``wrss_p3p9_*.csv`` as a DataFrame (``filename`` str, scores float64)."""
    import pandas as pd

    return pd.read_csv(
        path,
        dtype={"filename": str, **{c: "float64" for c in WRSS_FLOAT_COLUMNS}},
        float_precision="round_trip",
    )


# ------------------------------------------------------------------------------------------ features, clustering


def write_npy(path: str | os.PathLike, array) -> Path:
    """A numpy array as ``.npy`` (no pickles), atomically."""
    import numpy as np

    with atomic_open(path, "wb") as fh:
        np.save(fh, np.asarray(array), allow_pickle=False)
    return Path(path)


def write_lines(path: str | os.PathLike, lines: Iterable[str]) -> Path:
    """One line per value (CLARA's ``<method>_filenames_<ts>.txt``), atomically."""
    with atomic_open(path, "w", newline="", errors="backslashreplace") as fh:
        for line in lines:
            fh.write(f"{line}\n")
    return Path(path)


def read_lines(path: str | os.PathLike) -> list[str]:
    """The non-empty lines of a ``.txt`` of file names (surrounding spaces removed)."""
    with open(path, encoding="utf-8", errors="surrogateescape") as fh:
        return [line.strip() for line in fh if line.strip()]


class NpyMemmap:
    """``with NpyMemmap(path, shape) as out:`` fill a float64 ``.npy`` memory map; renamed to ``path`` on
    success only (a large matrix, e.g. DTW, never lives twice in memory nor half-written under its name)."""

    def __init__(self, path: str | os.PathLike, shape: tuple[int, ...]):
        self.path = Path(path)
        self.shape = shape

    def __enter__(self):
        import tempfile

        import numpy as np

        from clara_benchmark.utils.io import OUTPUT_ERRNOS, output_error

        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd, self.tmp = tempfile.mkstemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
            os.close(fd)
            self.array = np.lib.format.open_memmap(self.tmp, mode="w+", dtype=np.float64, shape=self.shape)
        except OSError as exc:
            if exc.errno in OUTPUT_ERRNOS:
                raise output_error(self.path, exc) from exc
            raise
        return self.array

    def __exit__(self, kind, exc, tb) -> None:
        from clara_benchmark.utils.io import FULL_ERRNOS, output_error

        try:
            if kind is None:
                self.array.flush()
                del self.array
                os.replace(self.tmp, self.path)
                return
        except OSError as error:
            if error.errno in FULL_ERRNOS:
                raise output_error(self.path, error) from error
            raise
        finally:
            if os.path.exists(self.tmp):
                os.unlink(self.tmp)


def read_fold_periods(path: str | os.PathLike):
    """A ``fold_periods_*.csv`` as a DataFrame (``filename``, ``flags``, ``toi`` ... as text; floats exact)."""
    import pandas as pd

    text = (
        "filename",
        "method",
        "flags",
        "aliases",
        "toi",
        "toi_disposition",
        "toi_relation",
        "method_reason",
    )
    frame = pd.read_csv(
        path,
        dtype={c: str for c in text},
        keep_default_na=False,
        na_values=[""],
        float_precision="round_trip",
    )
    for c in text:
        if c in frame.columns:
            frame[c] = frame[c].fillna("")
    return frame
