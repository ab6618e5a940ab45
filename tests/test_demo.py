"""The README's first command: the whole pipeline offline, through the real commands, at a small size."""

import csv
import hashlib
import json
import re

import pandas as pd

from clara_benchmark import cli


def _manifest(out):
    with open(out / "data" / "fits_files" / "1" / "manifest_sector_1.csv", newline="") as fh:
        return {row["filename"]: row for row in csv.DictReader(fh)}


def test_demo_end_to_end_small(tmp_path, capsys):
    out = tmp_path / "demo"
    code = cli.main(
        [
            "demo",
            "--output_dir",
            str(out),
            "--n_stars",
            "60",
            "--n_cadences",
            "3000",
            "--synthetic_curves",
            "30",
            "--planet_fraction",
            "0.1",
            "--binary_fraction",
            "0.05",
            "--top_n",
            "15",
            "--max_workers",
            "2",
            "--monitor_interval",
            "0.5",
        ]
    )
    err = capsys.readouterr().err
    assert code == 0, err
    # every stage ran through its own command, with its own log, inside the demo folder
    logs = out / "logs"
    for name in (
        "main.log",
        "system_status.log",
        "demo.log",
        "train.log",
        "anomaly_scoring.log",
        "reference.log",
        "cosine_sim.log",
        "evaluate.log",
        "report.log",
    ):
        assert (logs / name).is_file(), name
    main_log = (logs / "main.log").read_text()
    for stage in ("train", "score", "reference", "sim", "evaluate", "report"):
        assert re.search(
            rf"command {stage} \| config .*configs/{stage}\.json sha256 [0-9a-f]{{64}}", main_log
        ), stage
        assert re.search(rf"{stage} finished in [\d.]+ s with exit code 0", main_log), stage
    # stream mode: every star went through the local server, verified; only the candidates' FITS stay
    truth = pd.read_csv(out / "truth.csv")
    rows = _manifest(out)
    assert sorted(rows) == sorted(truth["filename"])
    archive = out / "mast_archive" / "sector_1"
    for name, row in rows.items():
        assert row["status"] == "downloaded"
        assert row["sha256"] == hashlib.sha256((archive / name).read_bytes()).hexdigest()
    scores_dir = out / "results" / "anomaly_scores"
    candidates = set()
    for model in ("p3", "p5", "p9"):
        table = pd.read_csv(next(scores_dir.glob(f"anomaly_scores_{model}_*.csv")))
        assert sorted(table["filename"]) == sorted(truth["filename"])
        candidates |= set(table.loc[table["anomaly_score"] > 0, "filename"])
    kept = {p.name for p in (out / "data" / "fits_files" / "1").glob("*.fits")}
    assert kept == candidates and len(kept) < len(rows)
    # the demo's recovery summary agrees with the files it summarises
    summary = json.loads((out / "demo_summary.json").read_text())
    disk = summary["disk"]
    assert disk["kept_files"] == len(kept) and disk["verified_files"] == 60
    assert disk["saved_bytes"] == sum((archive / n).stat().st_size for n in set(rows) - kept) > 0
    assert f"{disk['saved_bytes'] / 1e6:.0f} MB of disk saved" in (logs / "demo.log").read_text()
    assert summary["stars"] == 60 and summary["planets_injected"] == int((truth["class"] == "planet").sum())
    wrss = pd.read_csv(next((out / "results" / "anomaly_scores").glob("wrss_p3p9_*.csv")))
    top = wrss.sort_values("score_weighted_root_sumnorm", ascending=False).head(15)
    planets = set(truth.loc[truth["class"] == "planet", "filename"])
    assert summary["planets_in_top_n"] == len(planets & set(top["filename"]))
    page = (out / "report" / "index.html").read_text()
    # the report knows the truth: the card agrees with the demo's own count, and every candidate is either
    # labelled by sim or marked as a member of the reference set (sim ran on the others only)
    card = re.search(r'card-value">(\d+)</div><div class="card-label">planets in top (\d+)<', page)
    assert card and (int(card.group(1)), int(card.group(2))) == (
        summary["planets_in_top_n"],
        summary["top_n"],
    )
    assert 'id="truth-classes"' in page and 'id="truth-planets"' in page
    candidates = page.split('<section id="candidates">')[1].split("</section>")[0]
    assert candidates.count("<tr id=") == summary["top_n"]
    assert "not in the similarity output" not in candidates
    assert "report at" in err and "injected planets" in err
    _rerun_replaces_its_outputs_and_refuses_foreign_folders(out, tmp_path, capsys)


def _rerun_replaces_its_outputs_and_refuses_foreign_folders(out, tmp_path, capsys):
    """A second, smaller demo in the end-to-end test's folder replaces its outputs (one set of models, the
    new truth); a folder clara did not make is refused and left alone. (Part of the end-to-end test: a
    demo run of its own would cost the suite ~8 s.)"""
    small = [
        "--n_cadences",
        "1500",
        "--top_n",
        "5",
        "--max_workers",
        "1",
        "--monitor_interval",
        "1",
        "--quiet",
    ]
    second = ["--n_stars", "24", "--synthetic_curves", "10"]
    assert cli.main(["demo", "--output_dir", str(out), *second, *small]) == 0
    truth = pd.read_csv(out / "truth.csv")
    assert len(truth) == 24 and sorted(_manifest(out)) == sorted(truth["filename"])
    score_cfg = json.loads((out / "configs" / "score.json").read_text())
    assert "n10_" in score_cfg["p3model_path"] and sorted((out / "models").glob("urf_P3_*.skops")) == [
        __import__("pathlib").Path(score_cfg["p3model_path"])
    ]
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "thesis.tex").write_text("precious")
    capsys.readouterr()
    assert cli.main(["demo", "--output_dir", str(foreign), *small]) == 2
    assert "not made by clara demo" in capsys.readouterr().err
    assert (foreign / "thesis.tex").read_text() == "precious"
