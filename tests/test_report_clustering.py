"""The report's clustering section, from the outputs of the real ``features`` and ``clustering`` commands on
real light curves: one table per cluster with its members (the most typical with thumbnails), the 2-D map
and the metadata; left out with a note when absent; a malformed results CSV names the file; in a browser."""

from __future__ import annotations

import json
import re
import shutil

import pandas as pd
import pytest
from shapes_helpers import TESS_REAL
from test_report import CHROMIUM_ARGS, chromium  # noqa: F401 (the browser fixture)

from clara_benchmark import cli
from clara_benchmark.config import ReportConfig
from clara_benchmark.exceptions import ReportInputError
from clara_benchmark.report.command import build_report

COMMON = ["--quiet", "--monitor_interval", "60"]
STARS = [
    "notch-locor/tess2018206045859-s0001-0000000410214986-0120-s_lc.fits",
    "notch-locor/tess2019112060037-s0011-0000000166527623-0143-s_lc.fits",
    "notch-locor/tess2019140104343-s0012-0000000383390264-0144-s_lc.fits",
    "notch-locor/tess2019169103026-s0013-0000000383390264-0146-s_lc.fits",
    "stsci-notebooks/tess2018206045859-s0001-0000000038846515-0120-s_lc.fits",
    "stsci-notebooks/tess2018206045859-s0001-0000000149603524-0120-s_lc.fits",
]


def _run(command: str, root, **keys) -> None:
    path = root / f"{command}.json"
    path.write_text(json.dumps(keys))
    assert cli.main([command, "--config", str(path), "--log_dir", str(root / "logs"), *COMMON]) == 0


@pytest.fixture(scope="module")
def run(tmp_path_factory) -> dict:
    root = tmp_path_factory.mktemp("report_clustering")
    fits = root / "fits"
    fits.mkdir()
    for key in STARS:
        shutil.copy(TESS_REAL / key, fits / key.split("/")[1])
    names = sorted(p.name for p in fits.iterdir())
    pd.DataFrame({"filename": names}).to_csv(root / "candidates.csv", index=False)
    _run(
        "features",
        root,
        fits_dir=str(fits),
        input_df_path=str(root / "candidates.csv"),
        output_dir=str(root / "features"),
        features="bin_means",
        max_workers=1,
    )
    npz = next((root / "features" / "bin_means").glob("bin_means_features_*.npz"))
    out = root / "clustering"
    _run(
        "clustering",
        root,
        features_path=str(npz),
        output_dir=str(out),
        cluster_algorithm="kmeans",
        n_clusters=2,
    )
    scores = root / "scores"  # the report's one required input
    scores.mkdir()
    (scores / "anomaly_scores_p3_20240101_000000.csv").write_text(
        "tic,filename,anomaly_score\n1,x.fits,0.5\n"
    )
    record = json.loads(next(out.glob("clustering_*.json")).read_text())
    results = pd.read_csv(out / record["algorithms"]["kmeans"]["results"])
    return {"root": root, "fits": fits, "scores": scores, "clustering": out, "results": results}


@pytest.fixture(scope="module")
def report(run) -> dict:
    config = ReportConfig(
        score_dir=run["scores"],
        output_dir=run["root"] / "report",
        clustering_dir=run["clustering"],
        fits_dirs=[run["fits"]],
        cluster_thumbnails=2,
    )
    result = build_report(config)
    return {"result": result, "page": result.index.read_text(), "dir": run["root"] / "report"}


def _section(page: str) -> str:
    return page.split('<section id="clustering">')[1].split("</section>")[0]


def test_members_of_each_cluster_with_thumbnails(run, report):
    section = _section(report["page"])
    for label, part in run["results"].groupby("cluster_label"):
        table = section.split(f'id="cluster-{label}"')[1].split("</table>")[0]
        shown = re.findall(r'<span class="fname">([^<]+)</span>', table)
        assert sorted(shown) == sorted(part.filename), label
        assert table.count("<img ") == min(2, len(part))  # cluster_thumbnails most typical members
        assert f"{len(part):,} stars" in section
    for src in re.findall(r'<img src="([^"]+)"', section):
        assert (report["dir"] / src).is_file(), src
    assert 'src="img/cluster_map.png"' in section
    assert "Number of clusters: 2" in section and "Clustering Algorithm: kmeans" in section
    assert section.count('<span class="tic">TIC 383390264</span>') == 2  # two sectors of one star
    assert 'href="#clustering"' in report["page"]  # in the navigation


def test_no_clustering_dir_no_section_and_absent_one_is_a_note(run, tmp_path):
    result = build_report(ReportConfig(score_dir=run["scores"], output_dir=tmp_path / "a"))
    assert 'id="clustering"' not in result.index.read_text()
    result = build_report(
        ReportConfig(score_dir=run["scores"], output_dir=tmp_path / "b", clustering_dir=tmp_path / "nope")
    )
    assert any("clustering_dir" in t and "does not exist" in t for _, t in result.notes)
    (tmp_path / "empty").mkdir()
    result = build_report(
        ReportConfig(score_dir=run["scores"], output_dir=tmp_path / "c", clustering_dir=tmp_path / "empty")
    )
    assert any("no clustering_<ts>.json" in t for _, t in result.notes)


def test_a_malformed_results_csv_names_the_file(run, tmp_path):
    bad = tmp_path / "clustering"
    shutil.copytree(run["clustering"], bad)
    victim = next(bad.glob("kmeans_results_*.csv"))
    victim.write_text("filename,cluster_label\na.fits,one\n")
    with pytest.raises(ReportInputError, match=re.escape(f"{victim}: line 2: column cluster_label must be")):
        build_report(ReportConfig(score_dir=run["scores"], output_dir=tmp_path / "r", clustering_dir=bad))
    next(bad.glob("clustering_*.json")).write_text("[1, 2]")
    with pytest.raises(ReportInputError, match="not a record written by clara's clustering"):
        build_report(ReportConfig(score_dir=run["scores"], output_dir=tmp_path / "r", clustering_dir=bad))


def test_clustering_section_in_a_real_browser(chromium, report, run):  # noqa: F811
    from playwright.sync_api import sync_playwright

    errors = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            page.on("pageerror", lambda e: errors.append(str(e)))
            page.goto((report["dir"] / "index.html").resolve().as_uri())
            page.wait_for_load_state("load")
            images = page.eval_on_selector_all(
                "#clustering img",
                "imgs => imgs.map(i => [i.getAttribute('src'), i.complete, i.naturalWidth])",
            )
            assert len(images) == 1 + sum(min(2, n) for n in run["results"].cluster_label.value_counts())
            assert all(complete and width > 0 for _, complete, width in images), images
            for label, part in run["results"].groupby("cluster_label"):
                rows = page.eval_on_selector_all(f"#cluster-{label} tbody tr", "r => r.length")
                assert rows == len(part)
        finally:
            browser.close()
    assert not errors, errors
