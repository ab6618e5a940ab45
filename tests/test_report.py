"""The report: input discovery and checks, figures' science, the CLI, and the page in a real browser.

The inputs are computed for real (report_helpers.build_run): the published CLARA models score copies of the
three real light curves (plus transit-injected copies and a damaged file) and the published reference labels
them, through the real CLI wrapper so that main.log holds real runs.
"""

from __future__ import annotations

import os
import re
import shutil
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import report_helpers
from clara_benchmark.config import ClaraError, ReportConfig
from clara_benchmark.report import inputs as I
from clara_benchmark.report.command import build_report
from clara_benchmark.report.plots import Ephemeris, relative_flux
from conftest import ROOT

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory, tess_dir, published_dir) -> dict:
    root = tmp_path_factory.mktemp("run")
    return report_helpers.build_run(root, tess_dir, published_dir)


#: the classes the truth CSV of the tests gives the real light curves (any labels will do: they are real
#: stars, the point is that the report joins and counts them right)
REAL_CLASSES = ("quiet", "rotation", "quiet")
DAMAGED = "tess2018206045859-s0001-0000000000000042-0120-s_lc.fits"


def truth_frame(fits_dir: Path) -> pd.DataFrame:
    """The truth of the test run: the injected copies are planets (with what was injected), the real
    light curves have made-up classes, the damaged download is a planet that was never scored, and one
    star of the truth has no file at all."""
    rows = []
    real = sorted(p.name for p in fits_dir.glob("*.fits") if not p.name.startswith("injected_"))
    real.remove(DAMAGED)
    for name, cls in zip(real, REAL_CLASSES):
        rows.append({"filename": name, "class": cls})
    for i, (name, period) in enumerate(zip(real, report_helpers.INJECTED_PERIODS)):
        rows.append(
            {
                "filename": f"injected_p{period}d_{name}",
                "class": "planet",
                "period_days": period,
                "depth_ppm": 10000,
                "snr": 50.0 + i,
                "tic_id": 900000000 + i,
            }
        )
    rows.append({"filename": DAMAGED, "class": "planet", "period_days": 1.0, "depth_ppm": 500, "snr": 3})
    rows.append({"filename": "never_downloaded_lc.fits", "class": "eclipsing_binary", "period_days": 2.0})
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def truth_csv(run_dir) -> Path:
    path = run_dir["scores"].parent / "truth.csv"
    frame = truth_frame(run_dir["fits"])
    frame.sample(frac=1, random_state=3).to_csv(path, index=False)  # row order must not matter
    return path


@pytest.fixture(scope="module")
def reference_csv(run_dir) -> Path:
    """One injected copy and one real light curve form the 'reference set'."""
    names = sorted(p.name for p in run_dir["fits"].glob("*.fits"))
    injected = next(n for n in names if n.startswith("injected_"))
    real = next(n for n in names if not n.startswith("injected_") and n != DAMAGED)
    path = run_dir["scores"].parent / "reference_labels.csv"
    pd.DataFrame({"filename": [injected, real], "label": ["Pl", "*"]}).to_csv(path, index=False)
    return path


#: the TOI table of the test run: one injected copy is "known" (its host's real eclipses are what the box
#: search finds, not the injected 3.7-d period, so the periods do not match)
TOI_TIC, TOI_NUMBER = 900000001, "9001.01"


@pytest.fixture(scope="module")
def toi_csv(run_dir) -> Path:
    path = run_dir["scores"].parent / "toi.csv"
    path.write_text(f"TIC ID,TOI,Period (days),TFOPWG Disposition\n{TOI_TIC},{TOI_NUMBER},3.7,PC\n")
    return path


@pytest.fixture(scope="module")
def report_dir(run_dir, truth_csv, reference_csv, toi_csv) -> Path:
    """The report of the computed run, made by the real CLI in a subprocess."""
    from conftest import run_cli

    out = run_dir["scores"].parent / "report"
    proc = run_cli(
        "report",
        "--toi_catalogue",
        toi_csv,
        "--truth_csv",
        truth_csv,
        "--reference_labels_csv",
        reference_csv,
        "--log_dir",
        run_dir["logs"],
        "--score_dir",
        run_dir["scores"],
        "--sim_dir",
        run_dir["sim"],
        "--evaluate_path",
        run_dir["evaluate"],
        "--fits_dirs",
        run_dir["fits"],
        "--output_dir",
        out,
        "--max_workers",
        "2",
        "--quiet",
    )
    assert proc.returncode == 0, proc.stderr
    return out


def _config(**kw) -> ReportConfig:
    return ReportConfig(**kw)


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


# --------------------------------------------------------------------------------------------- inputs


def test_newest_file_of_each_kind_by_timestamp(tmp_path):
    header = "tic,filename,anomaly_score\n"
    for stamp in ("20240101_120000", "20240301_000000", "20240201_235959"):
        write(tmp_path / f"anomaly_scores_p3_{stamp}.csv", header)
    write(tmp_path / "anomaly_scores_p9_20230101_000000.csv", header)
    write(tmp_path / ".anomaly_scores_p3_20991231_000000.csv.abc.tmp", header)  # atomic write in progress
    write(tmp_path / "anomaly_scores_p3_latest.csv", header)
    found = I.newest(tmp_path, "scores")
    assert sorted(found) == ["p3", "p9"]
    assert found["p3"].path.name == "anomaly_scores_p3_20240301_000000.csv"
    assert found["p9"].timestamp == "20230101_000000"
    assert I.newest(tmp_path / "absent", "scores") == {}


#: each kind of report input: the name it has in a run, and what reads it
READERS = {
    "scores": (
        "anomaly_scores_p3_20240101_000000.csv",
        lambda path: I.read_table(I.Found(path, "20240101_000000"), I.SCORE_COLUMNS, "P3 anomaly-score"),
    ),
    "recall": ("recall.csv", I.read_recall_grid),
    "truth": ("truth.csv", I.read_truth),
}
#: malformed files of each kind: (text, what the error must say)
MALFORMED = {
    "scores": [
        ("", "empty file"),
        ("tic,file,score\n1,a.fits,0.1\n", "missing column(s) filename, anomaly_score"),
        (
            "tic,filename,anomaly_score\n1,a.fits,0.1\n2,b.fits,high\n",
            "line 3: column anomaly_score must be a number, got 'high'",
        ),
        ("tic,filename,anomaly_score\n1,a.fits,inf\n", "line 2: column anomaly_score is not finite"),
        ("tic,filename,anomaly_score\nx,a.fits,0.1\n", "line 2: column tic must be a number"),
        ('tic,filename,anomaly_score\n1,"a.fits,0.1\n', "not a readable CSV"),
    ],
    "recall": [
        ("a,b\n1,2\n", "need a depth column, a period column and a recall"),
        ("depth,period,recall\n0.01,2,1.5\n", "must lie in [0, 1]"),
        ("depth,period,recovered\n0.01,2,maybe\n", "line 2: column recovered must be true/false"),
        ("", "empty file"),
    ],
    "truth": [
        ("", "empty file"),
        ("filename,label\na.fits,Pl\n", "not a truth CSV: need a class column and a filename or tic_id"),
        ("filename,class\n", "has a header but no stars"),
        ("filename,class\na.fits,planet\nb.fits,\n", "line 3: empty class"),
        ("tic_id,class\n12,planet\n1.5,quiet\n", "line 3: tic_id must be a positive whole number"),
        ("filename,class\nd/a.fits,planet\na.fits,quiet\n", "filename a.fits appears on lines 2, 3"),
        ("tic_id,class\n7,planet\n7,quiet\n", "tic_id 7 has conflicting classes ['planet', 'quiet']"),
        ("filename,class,depth_ppm\na.fits,planet,deep\n", "line 2: column depth_ppm must be a finite"),
        ('filename,class\n"a.fits,planet\n', "not a readable CSV"),
    ],
}


@pytest.mark.parametrize(
    "kind, text, message", [(kind, *case) for kind, cases in MALFORMED.items() for case in cases]
)
def test_malformed_input_csv_names_the_file(tmp_path, kind, text, message):
    name, read = READERS[kind]
    path = write(tmp_path / name, text)
    with pytest.raises(I.ReportInputError) as err:
        read(path)
    assert str(err.value).startswith(f"{path}: ") and message in str(err.value)


def test_clara_none_rows_are_dropped_and_counted(tmp_path):
    # CLARA's logging bug wrote an extra None row after every non-zero score
    path = write(
        tmp_path / "a.csv", "tic,filename,anomaly_score\n1,a.fits,0.25\nNone,None,None\n2,b.fits,0\n"
    )
    table = I.read_table(I.Found(path, "20240101_000000"), I.SCORE_COLUMNS, "P3")
    assert table.dropped == 1
    assert table.frame["filename"].tolist() == ["a.fits", "b.fits"]
    assert table.frame["anomaly_score"].tolist() == [0.25, 0.0]


def test_scores_outside_unit_interval_are_refused(tmp_path):
    path = write(tmp_path / "a.csv", "tic,filename,anomaly_score\n1,a.fits,1.5\n")
    table = I.read_table(I.Found(path, "20240101_000000"), I.SCORE_COLUMNS, "P3")
    with pytest.raises(
        I.ReportInputError, match=r"a\.csv: column anomaly_score must lie in \[0, 1\], got 1\.5 \(row 1\)$"
    ):
        I.check_range(table, "anomaly_score")


def _wrss_above_one(tmp_path: Path) -> tuple[Path, pd.DataFrame, pd.DataFrame]:
    """A score_dir whose WRSS file, written by score's own writer, holds a norm just above 1.

    MinMaxScaler's arithmetic (x·s − min·s) gives 1.0000000000000002 for the maximum in a few percent of
    batches; the first such batch of a fixed random sequence is used.
    """
    from clara_benchmark import products
    from clara_benchmark.urf_scoring.wrss import wrss_p3p9

    def write_wrss(directory, ts, p3, p9):
        table, record = wrss_p3p9(p3, p9)
        return products.write_wrss(directory, ts, table, record)

    rng = np.random.default_rng(11)
    for _ in range(2000):
        n = int(rng.integers(3, 12))
        names = [f"lc_{i:02d}.fits" for i in range(n)]
        p3 = pd.DataFrame({"tic": range(1, n + 1), "filename": names, "anomaly_score": rng.random(n)})
        p9 = pd.DataFrame({"tic": range(1, n + 1), "filename": names, "anomaly_score": rng.random(n)})
        path, _ = write_wrss(tmp_path, "20240101_000000", p3, p9)
        if pd.read_csv(path)["score_weighted_root_sumnorm"].max() > 1:
            p3.to_csv(tmp_path / "anomaly_scores_p3_20240101_000000.csv", index=False)
            p9.to_csv(tmp_path / "anomaly_scores_p9_20240101_000000.csv", index=False)
            return path, p3, p9
    raise AssertionError("no batch gave a WRSS norm above 1")


def test_score_wrss_norm_one_ulp_above_one_is_accepted(tmp_path):
    """score's own WRSS file must never be refused by report (it was, for ~6% of batches)."""
    scores = tmp_path / "scores"
    scores.mkdir()
    wrss_path, p3, p9 = _wrss_above_one(scores)
    wrss = pd.read_csv(wrss_path)
    assert wrss["score_weighted_root_sumnorm"].max() == np.nextafter(1.0, 2.0)  # the case at hand
    result = build_report(_config(score_dir=scores, output_dir=tmp_path / "rep"))
    rows = tables_of(result.index.read_text())["candidates-table"]
    best = wrss.sort_values("score_weighted_root_sumnorm", ascending=False)["filename"]
    assert [r["star"][1].split()[-1] for r in rows] == best.tolist()
    # beyond the rounding tolerance, a WRSS norm is still refused, with a plain number in the message
    table = I.read_table(I.Found(wrss_path, "20240101_000000"), I.WRSS_COLUMNS, "WRSS")
    table.frame.loc[0, "score_weighted_root_sumnorm"] = 1 + 1e-6
    with pytest.raises(I.ReportInputError, match=r"must lie in \[0, 1\], got 1\.000001 \(row 1\)"):
        I.check_range(table, "score_weighted_root_sumnorm")


def test_wrss_sidecar_note_states_the_arithmetic_score_uses(tmp_path):
    """The note in score's wrss_p3p9_<ts>.json must describe the numbers in the CSV next to it."""
    import json

    wrss_path, _, _ = _wrss_above_one(tmp_path)
    sidecar = json.loads(wrss_path.with_suffix(".json").read_text())
    note = sidecar["note"]
    x = pd.read_csv(wrss_path, float_precision="round_trip")["score_weighted_root_sum"].to_numpy()
    norm = pd.read_csv(wrss_path, float_precision="round_trip")["score_weighted_root_sumnorm"].to_numpy()
    lo, hi = sidecar["score_weighted_root_sum_min"], sidecar["score_weighted_root_sum_max"]
    s = 1 / (hi - lo)
    # the formula the note states is the one the column holds, bit for bit; the textbook one is not
    assert "score_weighted_root_sum * s - min * s, s = 1 / (max - min)" in note and "MinMaxScaler" in note
    assert np.array_equal(norm, x * s - lo * s)
    assert not np.array_equal(norm, (x - lo) / (hi - lo))
    assert not note.startswith("score_weighted_root_sumnorm = (score_weighted_root_sum - min) / (max - min)")


def test_recall_grid_per_cell_and_per_model(tmp_path):
    rows = []
    for model in ("p3", "p9"):
        for depth in (500, 2000):
            for period in (1.5, 10):
                rows.append(
                    (model, depth, period, round(depth / 4000 + period / 100 + (model == "p9") * 0.1, 3))
                )
    frame = pd.DataFrame(rows, columns=["model", "depth_ppm", "period_days", "recall"])
    path = tmp_path / "recall_20240101_000000.csv"
    frame.sample(frac=1, random_state=1).to_csv(path, index=False)  # row order must not matter
    grid = I.read_recall_grid(I.find_evaluate_csv(tmp_path))
    assert (grid.depth_column, grid.period_column) == ("depth_ppm", "period_days")
    assert sorted(grid.grids) == ["p3", "p9"]
    p9 = grid.grids["p9"]
    assert p9.index.tolist() == [500, 2000] and p9.columns.tolist() == [1.5, 10]
    assert p9.loc[2000, 10] == pytest.approx(2000 / 4000 + 0.1 + 0.1)


def test_recall_grid_from_per_injection_rows(tmp_path):
    path = write(
        tmp_path / "injections.csv",
        "depth,period,duration_h,recovered\n"
        "0.001,2,1,True\n0.001,2,3,False\n0.001,2,3,False\n0.01,2,1,True\n0.01,5,2,true\n0.001,5,1,0\n",
    )
    grid = I.read_recall_grid(path)
    g = grid.grids[""]
    assert g.loc[0.001, 2] == pytest.approx(1 / 3) and g.loc[0.01, 2] == 1 and g.loc[0.001, 5] == 0
    assert any("duration_h" in n for n in grid.notes)


def test_runs_are_read_from_a_real_main_log(run_dir):
    runs = I.read_runs(run_dir["logs"] / "main.log")
    assert [r.command for r in runs[:2]] == ["score", "sim"]
    score = runs[0]
    assert score.exit_code == 0 and score.seconds is not None and score.seconds > 0
    assert score.meta_message == 'report test <score & "quotes">'
    assert score.argv[0] == "score" and "--input_dirs" in score.argv
    assert any("6 light curves scored, 1 failed" in text for _, text in score.messages)
    stamp = sorted(run_dir["scores"].glob("wrss_p3p9_*.csv"))[-1].name[len("wrss_p3p9_") : -4]
    assert score.covers(I.Found(Path("x"), stamp).when)


def test_unfinished_run_has_no_exit_code(tmp_path):
    log = write(
        tmp_path / "main.log",
        "2024-05-01 10:00:00 [MAIN] clara 0.1.0 | command score | config c.json sha256 "
        + "a" * 64
        + ' | meta_message "" | argv ["score"]\n'
        "garbage line\n"
        "2024-05-01 10:00:05 [ERROR] something broke\n",
    )
    (run,) = I.read_runs(log)
    assert run.exit_code is None and run.config_path == "c.json" and run.config_sha256 == "a" * 64
    assert run.messages == [("ERROR", "something broke")]


# --------------------------------------------------------------------------------------------- science


def test_thumbnail_is_folded_at_the_transit_the_box_search_finds():
    """The report's old flaw: its thumbnails folded at the Lomb–Scargle peak, which a transit barely moves.
    On a 0.4 % box transit with a stronger, slower sinusoid the thumbnail's fold is the transit's period,
    with the transit at phase 0."""
    from clara_benchmark import LightCurve
    from clara_benchmark.features import FREQUENCIES, clean_and_standardise, lomb_scargle_power
    from clara_benchmark.folds import vet_lightcurve
    from clara_benchmark.synthetic.transits import box_transit

    rng = np.random.default_rng(3)
    time = np.arange(1325.0, 1352.0, 2 / 1440)
    model = box_transit(time, 3.3, 0.12, 0.004, 1326.1) * (1 + 0.003 * np.sin(2 * np.pi * time / 7.9))
    flux = 1000 * model * (1 + 5e-4 * rng.standard_normal(time.size))
    flux[9000:9700] = np.nan  # a gap
    t, z = clean_and_standardise(time, flux)
    ls_period = 1 / FREQUENCIES[np.argmax(lomb_scargle_power(t, z, FREQUENCIES))]
    assert abs(ls_period / 3.3 - 1) > 0.05  # what the thumbnail used to fold on
    eph = Ephemeris.of(vet_lightcurve(LightCurve(time, flux, tic_id=1)).row())
    assert eph.period_days == pytest.approx(3.3, rel=0.002)
    t, rel = relative_flux(time, flux)
    phase = eph.phase(t)
    assert phase.min() >= -0.5 and phase.max() < 0.5
    inside = np.abs(phase * eph.period_days) < 0.04
    assert np.median(rel[inside]) < np.median(rel[np.abs(phase) > 0.2]) - 0.003
    marks = eph.transit_times(t)
    assert np.allclose(np.diff(marks), eph.period_days)
    assert np.min(np.abs(marks - 1326.1)) < 0.01  # box_transit's t0 is the mid-transit time
    assert Ephemeris.of({"period_days": float("nan"), "t0_btjd": 1.0, "duration_hours": 2.0}) is None


# --------------------------------------------------------------------------------------------- building


def test_report_without_optional_inputs_has_notes_not_errors(run_dir, tmp_path):
    scores = tmp_path / "scores"
    scores.mkdir()
    p9 = sorted(run_dir["scores"].glob("anomaly_scores_p9_*.csv"))[-1]
    shutil.copy(p9, scores / p9.name)
    out = tmp_path / "rep"
    build_report(_config(score_dir=run_dir["scores"], output_dir=out))  # an earlier, fuller report
    assert len(list((out / "img").glob("hist_*.png"))) == 4
    # a thumbnail and a heat map of an even earlier report, and the user's own files
    stale = ["lc_0123456789abcdef.png", "recall_3.png"]
    mine = ["lc_notes.png", "hist_p9_old.png", "recall_final.png", "my_plot.png", "hist_p3.png.txt"]
    for name in stale + mine:
        (out / "img" / name).write_bytes(b"\x89PNG user data")
    result = build_report(_config(score_dir=scores, output_dir=out, sim_dir=tmp_path / "nope"))
    # figures of the earlier reports are gone, the user's files stay, nothing half-written is left behind
    assert sorted(p.name for p in (out / "img").iterdir()) == sorted(["hist_p9.png", *mine])
    assert all((out / "img" / name).read_bytes() == b"\x89PNG user data" for name in mine)
    assert not list(out.rglob("*.tmp"))
    page = result.index.read_text()
    texts = [t for _, t in result.notes]
    assert any("no WRSS table" in t for t in texts)
    assert any("sim_dir" in t and "does not exist" in t for t in texts)
    assert any("no fits_dirs given" in t for t in texts)
    assert any("no log directory" in t for t in texts)
    assert 'id="similarity"' not in page and 'id="recall"' not in page
    # ranked by P9 (no WRSS): only scores above 0, best first
    frame = pd.read_csv(p9)
    expected = frame[frame.anomaly_score > 0].sort_values("anomaly_score", ascending=False).filename
    shown = re.findall(r'<span class="fname">([^<]+)</span>', page.split('id="candidates-table"')[1])
    assert shown == expected.tolist()


def test_text_from_the_data_is_escaped(tmp_path):
    hostile = '<img src=x onerror="alert(1)">&.fits'
    quoted = '"' + hostile.replace('"', '""') + '"'  # as a CSV writer quotes it
    write(
        tmp_path / "s" / "anomaly_scores_p3_20240101_000000.csv",
        f"tic,filename,anomaly_score\n7,{quoted},0.5\n8,b.fits,0.25\n",
    )
    write(
        tmp_path / "m" / "cosine_similarity_scores_20240101_000001.csv",
        "tic,filename,matched_label,label_group,similarity_score\n"
        f"7,{quoted},</td><script>x()</script>,<b>new</b>,0.9\n",
    )
    result = build_report(
        _config(score_dir=tmp_path / "s", sim_dir=tmp_path / "m", output_dir=tmp_path / "r")
    )
    page = result.index.read_text()
    assert "<img src=x" not in page and "<script>x()" not in page and "<b>new</b>" not in page
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt;&amp;.fits" in page
    assert page.count("<script>") == 1  # only the report's own sorting code


def test_rank_by_a_model_that_was_not_scored_is_a_clear_error(run_dir, tmp_path):
    with pytest.raises(ClaraError, match=r'rank_by "p5" but there is no anomaly_scores_p5_\*\.csv'):
        scores = tmp_path / "s"
        scores.mkdir()
        for f in run_dir["scores"].glob("anomaly_scores_p3_*.csv"):
            shutil.copy(f, scores / f.name)
        build_report(_config(score_dir=scores, output_dir=tmp_path / "r", rank_by="p5"))


def test_cli_errors_are_one_clear_line(tmp_path, cli, run_dir):
    empty = tmp_path / "empty"
    empty.mkdir()
    proc = cli("report", "--score_dir", empty, "--output_dir", tmp_path / "r", "--log_dir", tmp_path / "logs")
    assert proc.returncode == 1
    assert f"{empty}: no anomaly_scores_<p3|p5|p9>" in proc.stderr and "Traceback" not in proc.stderr

    bad = tmp_path / "bad"
    shutil.copytree(run_dir["scores"], bad)
    victim = sorted(bad.glob("wrss_p3p9_*.csv"))[-1]
    victim.write_text("tic_p3,filename\n1,a.fits\n")
    proc = cli("report", "--score_dir", bad, "--output_dir", tmp_path / "r", "--log_dir", tmp_path / "logs")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert f"{victim}: not a WRSS CSV: missing column(s) anomaly_score_p3" in proc.stderr
    assert not (tmp_path / "r" / "index.html").exists()

    proc = cli("report", "--score_dir", tmp_path / "absent", "--log_dir", tmp_path / "logs")
    assert proc.returncode == 2 and 'key "score_dir"' in proc.stderr and "does not exist" in proc.stderr


def test_cli_report_folder_is_self_contained(report_dir, run_dir):
    page = (report_dir / "index.html").read_text()
    # everything the page refers to is in the folder; nothing comes from the network
    refs = re.findall(r'(?:src|href)="([^"#]+)"', page)
    assert refs, "no images or links"
    for ref in refs:
        assert not re.match(r"^[a-z]+://", ref), ref
        if not ref.startswith("data:"):
            assert (report_dir / ref).is_file(), ref
    assert not re.search(r"<(link|script)[^>]+(src|href)=\"http", page)
    # text from the data is escaped
    assert "report test &lt;score &amp; &quot;quotes&quot;&gt;" in page
    assert "<score &" not in page
    # one thumbnail per WRSS candidate (all of them: top_n is larger), one histogram per model + WRSS
    wrss = pd.read_csv(run_dir["wrss"])
    thumbs = sorted((report_dir / "img").glob("lc_*.png"))
    assert len(thumbs) == len(wrss) == 5
    assert sorted(p.name for p in (report_dir / "img").glob("hist_*.png")) == [
        "hist_p3.png",
        "hist_p5.png",
        "hist_p9.png",
        "hist_wrss.png",
    ]
    assert (report_dir / "img" / "recall_0.png").is_file()
    from clara_benchmark.report.command import OWN_FIGURE

    assert all(OWN_FIGURE.match(p.name) for p in (report_dir / "img").iterdir())  # so a rerun cleans them up
    # the damaged download is reported as a failure with its reason, under score
    tables = tables_of(page)
    score_failures = _newest_csv(run_dir["scores"], "failures_*.csv")
    assert score_failures["filename"].tolist() == [DAMAGED]
    assert [(r["reason"][1], r["light curves"][1]) for r in tables["fail-reasons-score"]] == [
        (score_failures["reason"].iloc[0], "1")
    ]
    # the candidate whose file was away while sim ran is reported under sim, with sim's reason
    sim_failures = _newest_csv(run_dir["sim"], "cosine_similarity_failures_*.csv")
    assert sim_failures["filename"].tolist() == [run_dir["moved"]]
    assert [(r["reason"][1], r["light curves"][1]) for r in tables["fail-reasons-sim"]] == [
        (sim_failures["reason"].iloc[0], "1")
    ]
    failures = page.split('<section id="failures">')[1].split("</section>")[0]
    assert run_dir["moved"] in failures and "cosine_similarity_failures_" in failures
    # sim's failure is not a scoring attempt: 6 scored of 7, 1 failed to score
    assert (
        '<div class="card-value">6</div><div class="card-label">light curves scored</div>'
        '<div class="card-sub">7 attempted, 1 failed</div>' in page
    )
    # a vetting page per candidate, linked from the table; it refers only to files of the folder, and out
    # only to the star on ExoFOP and MAST
    pages = sorted((report_dir / "vetting").glob("*.html"))
    assert len(pages) == len(wrss) and len(list((report_dir / "img").glob("vet_*.png"))) == len(wrss)
    assert sorted(re.findall(r'href="(vetting/v_[0-9a-f]{16}\.html)"', page)) == sorted(
        f"vetting/{p.name}" for p in pages
    )
    for vpage in pages:
        html = vpage.read_text()
        for ref in re.findall(r'(?:src|href)="([^"#]+)"', html):
            if ref.startswith("https://"):
                assert ref.startswith(
                    ("https://exofop.ipac.caltech.edu/tess/target.php?id=", "https://mast.stsci.edu/")
                ), ref
            elif not ref.startswith("data:"):
                assert (vpage.parent / ref).resolve().is_file(), ref
        tic = re.search(r"<h2>Vetting of TIC (\d+)</h2>", html).group(1)
        assert f"https://exofop.ipac.caltech.edu/tess/target.php?id={tic}" in html
        assert f"searchQuery=TIC%20{tic}" in html


# --------------------------------------------------------------------------------------------- vetting


def test_vetting_page_states_the_flags_their_rules_and_the_toi(report_dir, run_dir):
    from clara_benchmark.vetting.metrics import FLAG_RULES

    page = (report_dir / "index.html").read_text()
    tables = tables_of(page)
    by_star = {r["star"][1].split()[1]: r for r in tables["candidates-table"]}
    known = by_star[str(TOI_TIC)]
    assert "known TOI" in known["flags"][1] and TOI_NUMBER in known["TOI"][1]
    link = re.search(
        rf'id="cand-{known["#"][1]}".*?href="(vetting/v_[0-9a-f]{{16}}\.html)"', page, re.S
    ).group(1)
    vetting = (report_dir / link).read_text()
    flags = tables_of(vetting)["flags"]
    assert [(r["flag"][1], r["rule"][1]) for r in flags] == list(FLAG_RULES.items())
    raised = {r["flag"][1] for r in flags if r["raised"][1] == "raised"}
    assert "known TOI" in raised and raised == set(known["flags"][0].split(";"))  # data-v: the flags
    assert f"TOI {TOI_NUMBER} · catalogue period 3.7 d · TFOPWG disposition PC" in vetting
    assert "found period vs catalogue: does not match" in vetting
    metrics = {r["metric"][1]: r["value"][1] for r in tables_of(vetting)["metrics"]}
    assert float(metrics["period"].split()[0]) == pytest.approx(float(known["BLS period"][0]), abs=1e-5)
    assert f"SNR {metrics['SNR']}" in known["BLS period"][1]
    # the injected 2.3-d, 3.7-d and 5.1-d planets: the box search finds two of them (the 3.7-d one sits on a
    # host whose own 3.4-d eclipses are deeper), folded in their thumbnails
    found = {r["star"][1].split()[1]: float(r["BLS period"][0]) for r in tables["candidates-table"]}
    assert found["900000000"] == pytest.approx(2.3, rel=0.01) and found["900000002"] == pytest.approx(
        5.1, rel=0.01
    )


def test_report_reuses_a_fold_run_and_vetting_can_be_off(run_dir, tmp_path):
    from clara_benchmark import cli

    fold_out = tmp_path / "fold"
    best = "SELECT filename FROM input_df ORDER BY score_weighted_root_sumnorm DESC LIMIT 2"
    code = cli.main(
        ["fold", "--input_df_path", str(run_dir["wrss"]), "--fits_dir", str(run_dir["fits"]), "--input_df_sql", best,
         "--output_dir", str(fold_out), "--max_workers", "1", "--log_dir", str(tmp_path / "logs"), "--quiet"]
    )  # fmt: skip
    assert code == 0
    (periods_csv,) = fold_out.glob("fold_periods_*.csv")
    periods = pd.read_csv(periods_csv, float_precision="round_trip").set_index("filename")
    assert len(periods) == 2
    out = tmp_path / "report"
    keys = dict(
        score_dir=run_dir["scores"], fits_dirs=[run_dir["fits"]], output_dir=out, top_n=2, max_workers=1
    )
    result = build_report(_config(**keys, fold_dir=fold_out))
    assert result.vetting_pages == 2
    rows = tables_of(result.index.read_text())["candidates-table"]
    assert {r["star"][1].split()[-1]: float(r["BLS period"][0]) for r in rows} == periods[
        "period_days"
    ].to_dict()
    for page in (out / "vetting").glob("*.html"):
        assert f"from the fold run {periods_csv.name}" in page.read_text()
    copied = sorted(p.read_bytes() for p in (out / "img").glob("vet_*.png"))
    assert copied == sorted(p.read_bytes() for p in fold_out.glob("*_vetting.png"))
    # vetting off: thumbnails still folded at the box search's period (the same search), no pages (the
    # earlier ones are removed)
    result = build_report(_config(**keys, vetting=False))
    assert (
        result.vetting_pages == 0 and not (out / "vetting").exists() and not list((out / "img").glob("vet_*"))
    )
    page = result.index.read_text()
    rows = tables_of(page)["candidates-table"]
    assert {r["star"][1].split()[-1]: float(r["BLS period"][0]) for r in rows} == periods[
        "period_days"
    ].to_dict()
    assert "vetting/v_" not in page and len(list((out / "img").glob("lc_*.png"))) == 2


# --------------------------------------------------------------------------------------------- truth


class _Tables(HTMLParser):
    """Every ``table.data`` of a page: its header texts and, per row, each cell's (data-v, text)."""

    def __init__(self):
        super().__init__()
        self.tables: dict[str, dict] = {}
        self._table = self._cell = self._row = None
        self._in_head = False

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if self._cell is not None:
            self._cell[1] += " "  # <span>TIC 1</span><span>a.fits</span> reads "TIC 1 a.fits"
        if tag == "table" and "data" in (a.get("class") or ""):
            self._table = {"head": [], "rows": []}
            self.tables[a.get("id") or f"table{len(self.tables)}"] = self._table
        elif self._table is None:
            return
        elif tag == "thead":
            self._in_head = True
        elif tag == "tbody":
            self._in_head = False
        elif tag == "tr" and not self._in_head:
            self._row = []
            self._table["rows"].append(self._row)
        elif tag in ("th", "td"):
            self._cell = [a.get("data-v"), ""]

    def handle_endtag(self, tag):
        if self._cell is not None and tag not in ("th", "td"):
            self._cell[1] += " "
        if tag == "table":
            self._table = None
        elif tag in ("th", "td") and self._cell is not None and self._table is not None:
            if self._in_head:
                self._table["head"].append(self._cell[1].strip())
            else:
                self._row.append((self._cell[0], " ".join(self._cell[1].split())))
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell[1] += data


def tables_of(page: str) -> dict[str, list[dict]]:
    """{table id: [{header text: (data-v, shown text)}]}; header texts lose their sort arrows (CSS)."""
    parser = _Tables()
    parser.feed(page)
    return {tid: [dict(zip(t["head"], row)) for row in t["rows"]] for tid, t in parser.tables.items()}


def _newest_csv(directory: Path, pattern: str) -> pd.DataFrame:
    return pd.read_csv(sorted(directory.glob(pattern))[-1])


def test_truth_columns_and_per_class_counts(run_dir, truth_csv, reference_csv, tmp_path):
    top_n = 3
    result = build_report(
        _config(
            score_dir=run_dir["scores"],
            sim_dir=run_dir["sim"],
            output_dir=tmp_path / "rep",
            truth_csv=truth_csv,
            reference_labels_csv=reference_csv,
            top_n=top_n,
        )
    )
    page = result.index.read_text()
    tables = tables_of(page)
    truth = pd.read_csv(truth_csv)
    cls_of = dict(zip(truth["filename"], truth["class"]))

    # (1) the candidates table: one true class per row, from the truth CSV, with what was injected
    wrss = pd.read_csv(run_dir["wrss"])
    top = wrss.sort_values("score_weighted_root_sumnorm", ascending=False).head(top_n)
    rows = tables["candidates-table"]
    assert [r["star"][1].split()[-1] for r in rows] == top["filename"].tolist()
    assert [r["true class"][0] for r in rows] == [cls_of[f] for f in top["filename"]]
    for r, name in zip(rows, top["filename"]):
        if cls_of[name] == "planet":
            period = truth.set_index("filename").loc[name, "period_days"]
            assert f"P {period:.3f} d" in r["true class"][1] and "10,000 ppm" in r["true class"][1]

    # (2) per true class, counted here from the CSVs themselves
    scores = {m: _newest_csv(run_dir["scores"], f"anomaly_scores_{m}_*.csv") for m in ("p3", "p5", "p9")}
    sim = _newest_csv(run_dir["sim"], "cosine_similarity_scores_*.csv")
    reference = pd.read_csv(reference_csv)
    scored = set(scores["p3"]["filename"])
    table = {r["true class"][0]: r for r in tables["truth-classes"]}
    assert list(table) == ["planet", "quiet", "eclipsing_binary", "rotation"]  # planets, then by size
    for cls, files in truth.groupby("class")["filename"]:
        files = set(files)
        row = {k: int(float(v[0])) for k, v in table[cls].items() if k != "true class"}
        expected = {
            "in truth": len(files),
            "scored": len(files & scored),
            "WRSS candidates": int(wrss["filename"].isin(files).sum()),
            f"top {top_n}": int(top["filename"].isin(files).sum()),
            "in sim output": int(sim["filename"].isin(files).sum()),
            "in reference set": len(files & scored & set(reference["filename"])),
        }
        for m, frame in scores.items():
            expected[f"{m.upper()} > 0"] = int(
                (frame["filename"].isin(files) & (frame.anomaly_score > 0)).sum()
            )
        for group in sim["label_group"].unique():
            expected[group] = int((sim["filename"].isin(files) & (sim["label_group"] == group)).sum())
        assert row == expected, cls

    # the injected planets: every planet of the truth, ranked ones first, the unscored one says why
    planets = tables["truth-planets"]
    n_planets = int((truth["class"] == "planet").sum())
    assert len(planets) == n_planets == 4
    ranked_names = wrss.sort_values("score_weighted_root_sumnorm", ascending=False)["filename"].tolist()
    ranks = [None if r["rank"][0] in ("", None) else int(float(r["rank"][0])) for r in planets]
    expected_ranks = sorted(
        ranked_names.index(f) + 1
        for f in truth.loc[truth["class"] == "planet", "filename"]
        if f in ranked_names
    )
    assert [r for r in ranks if r is not None] == expected_ranks
    assert ranks[len(expected_ranks) :] == [None] * (n_planets - len(expected_ranks))
    last = planets[-1]
    assert DAMAGED in last["star"][1] and "not scored: empty file (0 bytes)" in last["label"][1]

    # (3) the summary card
    in_top = int(top["filename"].isin(truth.loc[truth["class"] == "planet", "filename"]).sum())
    card = re.search(r'card-value">(\d+)</div><div class="card-label">planets in top (\d+)<', page)
    assert card and (int(card.group(1)), int(card.group(2))) == (in_top, top_n)
    assert "not in the truth CSV" not in page  # every scored light curve is in the truth
    assert "2 star(s) of the truth CSV have no score" in page  # the damaged download and the missing file


def test_truth_joined_by_tic_id_and_reference_members(run_dir, truth_csv, tmp_path):
    """A truth with tic_id and no filename gives the same classes; a candidate missing from the sim output
    but in the reference set says so."""
    truth = pd.read_csv(truth_csv)
    p3 = _newest_csv(run_dir["scores"], "anomaly_scores_p3_*.csv")
    tic_of = dict(zip(p3["filename"], p3["tic"]))
    scored = truth[truth["filename"].isin(tic_of)].copy()
    scored["tic_id"] = scored["filename"].map(tic_of)
    by_tic = write(tmp_path / "truth_tic.csv", scored[["tic_id", "class", "depth_ppm"]].to_csv(index=False))
    sim = _newest_csv(run_dir["sim"], "cosine_similarity_scores_*.csv")
    dropped = sim["filename"].iloc[0]
    sim_dir = tmp_path / "sim"
    sim_dir.mkdir()
    sim.iloc[1:].to_csv(sim_dir / "cosine_similarity_scores_20300101_000000.csv", index=False)
    ref = write(tmp_path / "labels.csv", f"tic_id,label\n{tic_of[dropped]},EB*\n")
    result = build_report(
        _config(
            score_dir=run_dir["scores"],
            sim_dir=sim_dir,
            output_dir=tmp_path / "rep",
            truth_csv=by_tic,
            reference_labels_csv=ref,
        )
    )
    rows = tables_of(result.index.read_text())["candidates-table"]
    cls_of = dict(zip(scored["filename"], scored["class"]))
    assert rows and all(r["true class"][0] == cls_of[r["star"][1].split()[-1]] for r in rows)
    labels = {r["star"][1].split()[-1]: r["label"][1] for r in rows}
    assert labels[dropped] == "in the reference set (EB*)"
    assert all("reference" not in text for name, text in labels.items() if name != dropped)


def test_truth_that_matches_nothing_is_a_note(run_dir, tmp_path):
    truth = write(tmp_path / "other_sector.csv", "filename,class\nsomeone_else_lc.fits,planet\n")
    result = build_report(_config(score_dir=run_dir["scores"], output_dir=tmp_path / "rep", truth_csv=truth))
    page = result.index.read_text()
    assert any(str(truth) in t and "matches none of the 6 scored" in t for _, t in result.notes)
    tables = tables_of(page)
    assert "true class" not in tables["candidates-table"][0] and "truth-classes" not in tables
    assert 'id="truth"' in page and "planets in top" not in page


def test_cli_malformed_truth_is_one_line_exit_1(tmp_path, cli, run_dir):
    bad = write(tmp_path / "truth.csv", "filename,class\na.fits,planet\nb.fits,\n")
    args = ["report", "--score_dir", run_dir["scores"], "--output_dir", tmp_path / "r"]
    proc = cli(*args, "--truth_csv", bad, "--log_dir", tmp_path / "logs")
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert f"{bad}: line 3: empty class" in proc.stderr
    assert not (tmp_path / "r" / "index.html").exists()
    proc = cli(*args, "--truth_csv", tmp_path / "absent.csv", "--log_dir", tmp_path / "logs")
    assert proc.returncode == 2 and 'key "truth_csv"' in proc.stderr and "does not exist" in proc.stderr


def test_a_fractional_tic_is_an_input_error_not_a_crash(tmp_path):
    path = write(tmp_path / "a.csv", "tic,filename,anomaly_score\n1.5,a.fits,0.1\n")
    with pytest.raises(I.ReportInputError, match=r"line 2: column tic must be a whole number, got '1.5'"):
        I.read_table(I.Found(path, "20240101_000000"), I.SCORE_COLUMNS, "P3")


# --------------------------------------------------------------------------------------------- browser


@pytest.fixture(scope="module")
def chromium() -> str:
    """The chromium binary; skip (locally) or fail (in CI) when it or playwright is missing.

    Listed first in the browser test's arguments so that a skip happens before the inputs are built.
    """
    path = os.environ.get("CLARA_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
    problem = None
    if not path:
        problem = "chromium is not installed (Debian: apt-get install chromium)"
    else:
        try:
            import playwright.sync_api  # noqa: F401
        except ImportError:
            problem = "playwright is not installed (pip install playwright; no 'playwright install' needed)"
    if problem:
        if os.environ.get("CI"):
            pytest.fail(f"browser test cannot run in CI: {problem}")
        pytest.skip(f"browser test skipped: {problem}")
    return path


def _column(page, table: str, index: int) -> list[str]:
    return page.eval_on_selector_all(
        f"#{table} tbody tr", f"rows => rows.map(r => r.cells[{index}].getAttribute('data-v'))"
    )


def test_report_in_a_real_browser(chromium, report_dir, run_dir, truth_csv):
    from playwright.sync_api import sync_playwright

    wrss = pd.read_csv(run_dir["wrss"])
    expected = wrss.sort_values("score_weighted_root_sumnorm", ascending=False)
    errors, requests = [], []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.on("requestfailed", lambda r: errors.append(f"failed: {r.url}"))
            page.on("request", lambda r: requests.append(r.url))
            page.goto((report_dir / "index.html").resolve().as_uri())
            page.wait_for_load_state("load")

            images = page.eval_on_selector_all(
                "img", "imgs => imgs.map(i => [i.getAttribute('src'), i.complete, i.naturalWidth])"
            )
            assert len(images) == 5 + 4 + 1  # thumbnails, histograms, heat map
            broken = [src for src, complete, width in images if not (complete and width > 0)]
            assert not broken, broken

            # the candidates table: one row per WRSS candidate, best first
            rows = page.eval_on_selector_all(
                "#candidates-table tbody tr", "rows => rows.map(r => r.querySelector('.fname').textContent)"
            )
            assert rows == expected.filename.tolist()
            headers = page.eval_on_selector_all(
                "#candidates-table thead th", "hs => hs.map(h => h.textContent)"
            )
            p9 = headers.index("P9")

            # sorting: first click on a number column sorts descending, the second ascending
            page.click(f"#candidates-table thead th:nth-child({p9 + 1})")
            shown = [float(v) for v in _column(page, "candidates-table", p9)]
            assert shown == sorted(wrss.anomaly_score_p9, reverse=True)
            assert (
                page.get_attribute(f"#candidates-table thead th:nth-child({p9 + 1})", "aria-sort")
                == "descending"
            )
            page.click(f"#candidates-table thead th:nth-child({p9 + 1})")
            shown = [float(v) for v in _column(page, "candidates-table", p9)]
            assert shown == sorted(wrss.anomaly_score_p9)
            by_p9 = wrss.sort_values("anomaly_score_p9").filename.tolist()
            rows = page.eval_on_selector_all(
                "#candidates-table tbody tr", "rows => rows.map(r => r.querySelector('.fname').textContent)"
            )
            assert rows == by_p9, "rows must move with their cells"
            # a text column sorts alphabetically; back to rank order by the # column
            label = headers.index("label")
            page.click(f"#candidates-table thead th:nth-child({label + 1})")
            labels = _column(page, "candidates-table", label)
            present = [v for v in labels if v]  # the candidate sim could not label has none: it sorts last
            assert labels == sorted(present) + [""] * (len(labels) - len(present)) and len(present) == 4
            page.click("#candidates-table thead th:nth-child(1)")
            page.click("#candidates-table thead th:nth-child(1)")
            assert [int(float(v)) for v in _column(page, "candidates-table", 0)] == list(range(1, 6))

            # the true class column sorts like the others and holds the truth of each row
            truth = pd.read_csv(truth_csv).set_index("filename")["class"]
            true_col = headers.index("true class")
            page.click(f"#candidates-table thead th:nth-child({true_col + 1})")
            rows = page.eval_on_selector_all(
                "#candidates-table tbody tr", "rows => rows.map(r => r.querySelector('.fname').textContent)"
            )
            classes = _column(page, "candidates-table", true_col)
            assert classes == sorted(classes) and classes == [truth[f] for f in rows]
            assert page.eval_on_selector_all("#truth-classes tbody tr", "r => r.length") == truth.nunique()
            assert page.eval_on_selector_all("#truth-planets tbody tr", "r => r.length") == int(
                (truth == "planet").sum()
            )

            # the similarity section groups the labelled candidates
            sim = _newest_csv(run_dir["sim"], "cosine_similarity_scores_*.csv")
            for group, part in sim.groupby("label_group"):
                assert page.eval_on_selector_all(f"#sim-{group} tbody tr", "r => r.length") == len(part)

            # the flag filter: one candidate is a known TOI; "no flag" and the flags' counts add up
            def visible():
                return page.eval_on_selector_all(
                    "#candidates-table tbody tr",
                    "rows => rows.filter(r => !r.hidden).map(r => r.querySelector('.tic').textContent)",
                )

            page.click(".flag-filter button[data-flag='known TOI']")
            assert visible() == [f"TIC {TOI_TIC}"]
            assert page.text_content(".filter-count") == "1 of 5 shown"
            cells = tables_of((report_dir / "index.html").read_text())["candidates-table"]
            flagged = {r["star"][1].split()[1]: r["flags"][0] for r in cells}
            page.click(".flag-filter button[data-flag='none']")
            assert sorted(visible()) == sorted(f"TIC {tic}" for tic, flags in flagged.items() if not flags)
            page.click(".flag-filter button[data-flag='odd-even mismatch']")
            assert sorted(visible()) == sorted(
                f"TIC {t}" for t, flags in flagged.items() if "odd-even" in flags
            )
            page.click(".flag-filter button[data-flag='']")
            assert len(visible()) == 5

            artefacts = ROOT / "test-artifacts"
            artefacts.mkdir(exist_ok=True)
            page.screenshot(path=str(artefacts / "report.png"), full_page=True)

            # a vetting page: opened from the table, its figure drawn, its rules stated, links out by TIC
            page.click(f"tr:has(.tic:text-is('TIC {TOI_TIC}')) a.vet-link")
            page.wait_for_load_state("load")
            assert page.url.startswith((report_dir / "vetting").resolve().as_uri())
            figures = page.eval_on_selector_all("figure.vetting img", "i => i.map(x => x.naturalWidth)")
            assert len(figures) == 1 and figures[0] >= 1000
            assert page.eval_on_selector_all("#flags tbody tr", "r => r.length") == 5
            assert page.get_attribute("a:text-is('ExoFOP')", "href").endswith(f"target.php?id={TOI_TIC}")
            page.screenshot(path=str(artefacts / "vetting.png"), full_page=True)
            page.click("header nav a >> nth=0")  # back to the candidate's row
            page.wait_for_load_state("load")
            assert page.url.endswith("index.html#cand-" + page.url.split("#cand-")[-1])
        finally:
            browser.close()
    assert not errors, errors
    assert all(u.startswith(("file://", "data:")) for u in requests), requests
    assert (ROOT / "test-artifacts" / "report.png").stat().st_size > 50_000
