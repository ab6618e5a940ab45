"""The README's first command: the whole pipeline offline, through the real commands, at a small size."""

import json
import re

import pandas as pd

from clara_benchmark import cli


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
        "download_tess_lc.log",
        "train.log",
        "anomaly_scoring.log",
        "reference.log",
        "cosine_sim.log",
        "evaluate.log",
        "report.log",
    ):
        assert (logs / name).is_file(), name
    main_log = (logs / "main.log").read_text()
    for stage in ("download", "train", "score", "reference", "sim", "evaluate", "report"):
        assert re.search(
            rf"command {stage} \| config .*configs/{stage}\.json sha256 [0-9a-f]{{64}}", main_log
        ), stage
        assert re.search(rf"{stage} finished in [\d.]+ s with exit code 0", main_log), stage
    # the download really went through the local server and verified every file
    truth = pd.read_csv(out / "truth.csv")
    fits = sorted((out / "data" / "fits_files" / "1").glob("*.fits"))
    assert [p.name for p in fits] == sorted(truth["filename"])
    # the demo's recovery summary agrees with the files it summarises
    summary = json.loads((out / "demo_summary.json").read_text())
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


def test_demo_rerun_replaces_its_outputs_and_refuses_foreign_folders(tmp_path, capsys):
    out = tmp_path / "demo"
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
    first = ["--n_stars", "30", "--synthetic_curves", "12"]
    second = ["--n_stars", "24", "--synthetic_curves", "10"]
    assert cli.main(["demo", "--output_dir", str(out), *first, *small]) == 0
    assert cli.main(["demo", "--output_dir", str(out), *second, *small]) == 0
    truth = pd.read_csv(out / "truth.csv")
    fits = sorted((out / "data" / "fits_files" / "1").glob("*.fits"))
    assert len(truth) == 24 and [p.name for p in fits] == sorted(truth["filename"])
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
