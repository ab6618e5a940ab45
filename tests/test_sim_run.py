"""The sim command end to end: candidates → features → PCA → cosine → labels joined by file name."""

import json
import shutil

import numpy as np
import pandas as pd
import pytest
from spoc_fake import KINDS, write_labelled_set, write_star, wrss_rows

from clara_benchmark import cli
from clara_benchmark.cosine_similarity.match import label_group
from clara_benchmark.cosine_similarity.reference import output_paths
from clara_benchmark.extract import clara4000_many
from clara_benchmark.featurestore import FeatureStoreWriter
from clara_benchmark.utils.io import atomic_write_text

PUBLISHED_PCA = "pca_model_s2_toi_simbad_labelled.pkl"
PUBLISHED_CSV = "reduced_features_s2_toi_simbad_labelled.csv"


@pytest.fixture(scope="module")
def refset(tmp_path_factory):
    """12 labelled fake stars (2 per kind), their reference set, and 6 other stars not in it."""
    root = tmp_path_factory.mktemp("refset")
    labels = write_labelled_set(root / "fits")
    others = [write_star(root / "fits", 2001 + i, kind, seed=77 + i).name for i, kind in enumerate(KINDS)]
    pd.DataFrame({"filename": list(labels), "label": list(labels.values())}).to_csv(
        root / "labels.csv", index=False
    )
    # the features of every star, as score's save_features writes them: the set and most tests reuse them
    FeatureStoreWriter(root / "features").write(
        clara4000_many(sorted((root / "fits").glob("*.fits"))).as_batch()
    )
    code = cli.main(
        [
            "reference",
            *("--labels_path", str(root / "labels.csv"), "--fits_dir", str(root / "fits")),
            *("--output_dir", str(root / "models"), "--name", "fake", "--max_workers", "1"),
            *("--features_path", str(root / "features")),
            *("--log_dir", str(root / "logs"), "--quiet"),
        ]
    )
    assert code == 0
    model, csv, _ = output_paths(root / "models", "fake")
    return dict(
        root=root,
        fits=root / "fits",
        labels=labels,
        others=others,
        model=model,
        csv=csv,
        store=root / "features",
    )


def run_sim(tmp_path, refset, table: pd.DataFrame | None, tag="run", **keys):
    """Run sim in this process as the CLI does; return (exit code, output table, failures table, logs)."""
    out = tmp_path / tag
    input_path = tmp_path / f"{tag}_wrss.csv"
    if table is not None:
        table.to_csv(input_path, index=False)
    config = {
        "fits_dir": str(refset["fits"]),
        "input_df_path": str(input_path),
        "output_dir": str(out),
        "save_label_groups": "all",
        "simbad_labelled_pca_model_path": str(refset["model"]),
        "simbad_labelled_pca_features_path": str(refset["csv"]),
        "max_workers": 1,
        "batch_size": 4,
    }
    if "input_df_sql" not in keys:
        config["gt_wrss_threshold"] = 0.0
    config.update({k: (str(v) if hasattr(v, "is_dir") else v) for k, v in keys.items()})
    cfg = tmp_path / f"{tag}.json"
    atomic_write_text(cfg, json.dumps(config))
    code = cli.main(["sim", "--config", str(cfg), "--log_dir", str(tmp_path / f"{tag}_logs"), "--quiet"])
    scores = sorted(out.glob("cosine_similarity_scores_*.csv"))
    failures = sorted(out.glob("cosine_similarity_failures_*.csv"))
    logs = "".join(p.read_text() for p in sorted((tmp_path / f"{tag}_logs").glob("*.log")))
    read = lambda p: pd.read_csv(p[0], keep_default_na=False, na_values=[""]) if p else None  # noqa: E731
    return code, read(scores), read(failures), logs


def test_known_objects_match_themselves(tmp_path, refset):
    labels = refset["labels"]
    code, out, failures, _ = run_sim(tmp_path, refset, wrss_rows(labels), top_k=3)
    assert code == 0 and failures.empty
    assert len(out) == len(labels)
    for row in out.itertuples():
        assert row.matched_filename == row.filename
        assert row.similarity_score == pytest.approx(1.0, abs=1e-9)
        assert row.matched_label == labels[row.filename]
        assert row.label_group == label_group(labels[row.filename])
        assert row.match2_similarity < 0.99 and row.match2_filename != row.filename
        assert row.match2_similarity >= row.match3_similarity
    # input columns come first, unchanged
    assert list(out.columns[:7]) == list(wrss_rows([]).columns)
    assert out["tic_p3"].tolist() == wrss_rows(labels)["tic_p3"].tolist()


def test_shuffled_input_gives_the_same_label_per_file(tmp_path, refset):
    names = list(refset["labels"]) + refset["others"]
    table = wrss_rows(names, norms=np.linspace(0, 1, len(names)))
    table = pd.concat([table, table.iloc[[3]]], ignore_index=True)  # a file listed twice
    shuffled = table.sample(frac=1.0, random_state=5).reset_index(drop=True)
    assert shuffled["filename"].tolist() != table["filename"].tolist()
    # computed in different orders: from the store (file order) and from the files in shuffled batches of 5
    _, a, _, _ = run_sim(tmp_path, refset, table, tag="ordered", features_path=refset["store"])
    _, b, _, _ = run_sim(tmp_path, refset, shuffled, tag="shuffled", batch_size=5)
    assert b["filename"].tolist() == shuffled["filename"].tolist()  # output keeps the input order
    cols = ["matched_label", "matched_filename", "similarity_score", "score_weighted_root_sumnorm"]
    per_file_a = a.drop_duplicates("filename").set_index("filename")[cols].sort_index()
    per_file_b = b.drop_duplicates("filename").set_index("filename")[cols].sort_index()
    pd.testing.assert_frame_equal(per_file_a, per_file_b)
    # each reference star carries its own label, each row its own WRSS value
    for name, label in refset["labels"].items():
        assert per_file_b.loc[name, "matched_label"] == label
    twice = b[b["filename"] == table["filename"][3]]
    assert len(twice) == 2 and twice["matched_label"].nunique() == 1


def test_threshold_turns_weak_matches_into_outliers(tmp_path, refset):
    table = wrss_rows(refset["others"])
    store = refset["store"]
    _, free, _, _ = run_sim(
        tmp_path, refset, table, tag="free", min_similarity_threshold=-1.0, features_path=store
    )
    sims = free.set_index("filename")["similarity_score"]
    assert (sims < 0.999).all()  # new stars are not copies of reference stars
    threshold = float(np.median(sims))
    _, strict, _, _ = run_sim(
        tmp_path, refset, table, tag="strict", min_similarity_threshold=threshold, features_path=store
    )
    strict = strict.set_index("filename")
    weak = sims < threshold
    assert weak.any() and (~weak).any()
    assert (strict.loc[weak, "matched_label"] == "outlier").all()
    assert (strict.loc[weak, "label_group"] == "outlier").all()
    kept = free.set_index("filename").loc[~weak, "matched_label"]
    assert strict.loc[~weak, "matched_label"].tolist() == kept.tolist()
    # similarity and nearest reference are still reported for outliers
    np.testing.assert_allclose(strict["similarity_score"], sims[strict.index])
    assert (
        strict["matched_filename"].tolist()
        == free.set_index("filename").loc[strict.index, "matched_filename"].tolist()
    )


def test_missing_and_damaged_files_fail_others_labelled(tmp_path, refset):
    fits = tmp_path / "fits"
    shutil.copytree(refset["fits"], fits)
    names = sorted(refset["labels"])
    data = (fits / names[0]).read_bytes()
    (fits / names[0]).write_bytes(data[:20000])  # truncated download
    (fits / names[1]).write_bytes(b"<html>503 Service Unavailable</html>")  # an error page saved as FITS
    table = wrss_rows(names + ["tess2018206045859-s0001-0000000000009999-0120-s_lc.fits"])
    table.loc[len(table)] = [0, None, 0.1, 0, 0.1, 0.2, 1.0]  # a row without a file name
    code, out, failures, logs = run_sim(tmp_path, refset, table, fits_dir=fits)
    assert code == 0
    assert sorted(out["filename"]) == names[2:]
    for row in out.itertuples():
        assert row.matched_label == refset["labels"][row.filename]
    reasons = dict(zip(failures["filename"].fillna(""), failures["reason"]))
    assert "truncated" in reasons[names[0]]
    assert "not a FITS file" in reasons[names[1]]
    assert reasons["tess2018206045859-s0001-0000000000009999-0120-s_lc.fits"] == "file not found in fits_dir"
    assert reasons[""] == f"candidate row {len(table)} has no filename"
    assert "3 failed" not in logs and "4 failed" in logs


def test_all_candidates_failing_is_a_run_error(tmp_path, refset):
    code, out, failures, logs = run_sim(tmp_path, refset, wrss_rows(["nothere_a.fits", "nothere_b.fits"]))
    assert code == 1
    assert out.empty and len(failures) == 2
    assert "none of the 2 candidates could be labelled" in logs


def test_unreadable_feature_store_is_a_run_error_naming_features_path(tmp_path, refset):
    store = tmp_path / "damaged"
    shutil.copytree(refset["store"], store)
    part = next(store.glob("part-*.npz"))
    part.write_bytes(part.read_bytes()[:3000])  # a shard cut short (e.g. a copy that stopped)
    code, _, _, logs = run_sim(tmp_path, refset, wrss_rows(sorted(refset["labels"])[:2]), features_path=store)
    assert code == 1
    assert f'features_path "{store}": cannot read the feature store (' in logs
    assert "Traceback" not in logs


def test_wrss_threshold_and_label_group_filter(tmp_path, refset):
    labels = refset["labels"]
    names = sorted(labels)
    norms = np.linspace(0.0, 1.0, len(names))
    table = wrss_rows(names, norms=norms)
    code, out, _, logs = run_sim(
        tmp_path,
        refset,
        table,
        gt_wrss_threshold=0.5,
        save_label_groups=["planet_like", "stellar"],
        features_path=refset["store"],
    )
    assert code == 0
    expected = [
        n for n, v in zip(names, norms) if v >= 0.5 and label_group(labels[n]) in ("planet_like", "stellar")
    ]
    assert out["filename"].tolist() == expected and len(expected) >= 2
    assert f"{int((norms >= 0.5).sum())} of {len(names)} rows" in logs


def test_input_df_sql_query_and_condition(tmp_path, refset):
    names = sorted(refset["labels"])
    table = wrss_rows(names, norms=np.linspace(0.0, 1.0, len(names)))
    query = (
        "SELECT filename, score_weighted_root_sumnorm FROM input_df "
        "WHERE score_weighted_root_sumnorm >= 0.4 ORDER BY score_weighted_root_sumnorm DESC"
    )
    code, out, _, _ = run_sim(
        tmp_path, refset, table, tag="q", input_df_sql=query, features_path=refset["store"]
    )
    assert code == 0
    wanted = table[table["score_weighted_root_sumnorm"] >= 0.4].sort_values(
        "score_weighted_root_sumnorm", ascending=False
    )
    assert out["filename"].tolist() == wanted["filename"].tolist()
    assert (
        list(out.columns[:2]) == ["filename", "score_weighted_root_sumnorm"] and "tic_p3" not in out.columns
    )
    assert (out["matched_filename"] == out["filename"]).all()
    code, out, _, _ = run_sim(
        tmp_path,
        refset,
        table,
        tag="cond",
        input_df_sql="tic_p3 IN (1001, 1005)",
        features_path=refset["store"],
    )
    assert code == 0 and out["tic_p3"].tolist() == [1001, 1005]


@pytest.mark.parametrize(
    "sql, needle",
    [
        ("SELECT * FROM candidates", 'key "input_df_sql": query failed: no such table: candidates'),
        ("SELECT tic_p3 FROM input_df", 'the query must return a "filename" column (it returned: tic_p3)'),
    ],
)
def test_bad_sql_is_a_config_error(tmp_path, refset, sql, needle):
    code, out, _, logs = run_sim(tmp_path, refset, wrss_rows(sorted(refset["labels"])), input_df_sql=sql)
    assert code == 2 and out is None
    assert needle in logs


def test_saved_features_reused_without_the_file(tmp_path, refset):
    names = sorted(refset["labels"])
    a, b = names[0], names[-1]  # a Pl star and an err star
    assert refset["labels"][a] != refset["labels"][b]
    batch = clara4000_many([refset["fits"] / b]).as_batch()
    # the store says file a has b's vector: if sim uses the store, a matches b's reference row
    batch.filenames, batch.paths = [a], [str(refset["fits"] / a)]
    FeatureStoreWriter(tmp_path / "features").write(batch)
    fits = tmp_path / "fits"
    shutil.copytree(refset["fits"], fits)
    (fits / a).unlink()  # not needed: its features are stored
    code, out, failures, _ = run_sim(
        tmp_path, refset, wrss_rows([a, names[3]]), fits_dir=fits, features_path=tmp_path / "features"
    )
    assert code == 0 and failures.empty
    got = out.set_index("filename")
    assert got.loc[a, "matched_filename"] == b and got.loc[a, "matched_label"] == refset["labels"][b]
    assert got.loc[names[3], "matched_filename"] == names[3]  # computed from its file


def test_edited_reference_csv_is_warned_about(tmp_path, refset):
    edited = tmp_path / "edited.csv"
    table = pd.read_csv(refset["csv"], dtype={"label": str}, keep_default_na=False)
    table.loc[0, "label"] = "EB*"
    table.to_csv(edited, index=False)
    names = sorted(refset["labels"])
    code, out, _, logs = run_sim(
        tmp_path, refset, wrss_rows(names[:1]), simbad_labelled_pca_features_path=edited
    )
    assert code == 0 and "is not the CSV written with" in logs
    assert out["matched_label"].tolist() == ["EB*"]  # used as given


def test_real_sector2_star_matches_its_published_reference_row(tmp_path, tess_dir, published_dir):
    """TIC 160148385 is one of CLARA's 187 reference objects (label Pl); our copy of its sector-2 light curve
    is the early data-alerts product, so its vector is close to, not equal to, CLARA's row."""
    name = "hlsp_tess-data-alerts_tess_phot_00160148385-s02_tess_v1_lc.fits"
    fits = tmp_path / "fits"
    fits.mkdir()
    for real in tess_dir.glob("*.fits"):
        shutil.copy(real, fits / real.name)
    refset = dict(fits=fits, model=published_dir / PUBLISHED_PCA, csv=published_dir / PUBLISHED_CSV)
    code, out, failures, _ = run_sim(tmp_path, refset, wrss_rows([name]), save_label_groups=["planet_like"])
    assert code == 0 and failures.empty
    row = out.iloc[0]
    assert "-0000000160148385-" in row["matched_filename"]
    assert row["matched_label"] == "Pl" and row["label_group"] == "planet_like"
    assert 0.9 < row["similarity_score"] < 1.0


def test_cli_end_to_end(tmp_path, cli, refset):
    """reference then sim as a user runs them (through cli.main), then a broken reference CSV."""
    root = refset["root"]
    ref = cli(
        "reference",
        *("--labels_path", root / "labels.csv", "--fits_dir", refset["fits"], "--output_dir", tmp_path / "m"),
        *("--name", "e2e", "--max_workers", "1", "--batch_size", "5", "--log_dir", tmp_path / "logs"),
    )
    assert ref.returncode == 0, ref.stderr
    model, csv, _ = output_paths(tmp_path / "m", "e2e")
    # computed from the files in other batches, it is byte for byte the set built from stored features
    assert csv.read_bytes() == refset["csv"].read_bytes()
    names = list(refset["labels"]) + refset["others"]
    wrss_rows(names).to_csv(tmp_path / "wrss.csv", index=False)
    cfg = {
        "fits_dir": str(refset["fits"]),
        "input_df_path": str(tmp_path / "wrss.csv"),
        "output_dir": str(tmp_path / "out"),
        "gt_wrss_threshold": 0.5,
        "save_label_groups": ["planet_like", "binary_star"],
        "simbad_labelled_pca_model_path": str(model),
        "simbad_labelled_pca_features_path": str(csv),
        "features_path": str(refset["store"]),
        "max_workers": 1,
    }
    (tmp_path / "sim.json").write_text(json.dumps(cfg))
    sim = cli("sim", "--config", tmp_path / "sim.json", "--log_dir", tmp_path / "logs")
    assert sim.returncode == 0, sim.stderr
    (out,) = (tmp_path / "out").glob("cosine_similarity_scores_*.csv")
    table = pd.read_csv(out)
    assert set(table["label_group"]) <= {"planet_like", "binary_star"}
    planets = [n for n, lab in refset["labels"].items() if lab in ("Pl", "EB*")]
    assert set(planets) <= set(table["filename"])
    assert "cosine_sim.log" in {p.name for p in (tmp_path / "logs").iterdir()}

    broken = tmp_path / "broken.csv"
    pd.read_csv(csv).drop(columns="label").to_csv(broken, index=False)
    bad = cli(
        "sim",
        "--config",
        tmp_path / "sim.json",
        "--simbad_labelled_pca_features_path",
        broken,
        "--log_dir",
        tmp_path / "logs",
    )
    assert bad.returncode == 2
    assert "Traceback" not in bad.stderr
    assert f"{broken}: reference CSV has no 'label' column" in bad.stderr


def test_no_candidates_gives_empty_outputs_not_a_crash(tmp_path, refset):
    names = sorted(refset["labels"])
    table = wrss_rows(names[:2])
    code, out, failures, _ = run_sim(tmp_path, refset, table.iloc[0:0])
    assert code == 0 and out.empty and failures.empty
    assert list(out.columns[-4:]) == ["matched_label", "matched_filename", "label_group", "similarity_score"]


def test_candidate_names_are_only_names(tmp_path, refset, monkeypatch):
    """Issue 11 item 1: cfitsio reads "a(numpy.py)" as "copy a to numpy.py"; a candidate table naming it must
    neither create numpy.py nor read "a" in its place: the row fails as a file that is not there."""
    monkeypatch.chdir(tmp_path)
    fits = tmp_path / "fits"
    shutil.copytree(refset["fits"], fits)
    names = sorted(refset["labels"])
    shutil.copy(fits / names[0], fits / "a")
    shutil.copy(fits / names[1], fits / "star[1].fits")  # a valid file with brackets in its name
    code, out, failures, _ = run_sim(
        tmp_path, refset, wrss_rows(["a(numpy.py)", "star[1].fits", "!clobber.fits"]), fits_dir=fits
    )
    assert code == 0
    assert out["filename"].tolist() == ["star[1].fits"] and out["matched_filename"][0] == names[1]
    assert sorted(failures["filename"]) == ["!clobber.fits", "a(numpy.py)"]
    assert set(failures["reason"]) == {"file not found in fits_dir"}
    assert not list(tmp_path.rglob("numpy.py")) and not list(tmp_path.rglob("clobber.fits"))


# --------------------------------------------------------------------------------------------- issue 13


def test_same_star_and_known_tois_only_when_asked(tmp_path, refset):
    """The labelled stars match themselves (same TIC, from the reference set's metadata), the others match
    other stars; a TOI table names the known ones. Without the keys the output is what it was, byte for byte."""
    names = list(refset["labels"])[:4] + refset["others"][:2]
    table = wrss_rows(names)
    code, plain, _, _ = run_sim(tmp_path, refset, table, tag="plain")
    assert code == 0 and not {"matched_tic", "same_star", "toi"} & set(plain.columns)
    toi = tmp_path / "toi.csv"
    tic_of = dict(zip(table["filename"], table["tic_p3"]))
    toi.write_text(
        "TIC ID,TOI,Period (days),TFOPWG Disposition\n"
        f"{tic_of[names[0]]},700.01,2.5,KP\n{tic_of[names[0]]},700.02,,PC\n{tic_of[names[4]]},701.01,9.25,FP\n"
    )
    code, out, _, logs = run_sim(tmp_path, refset, table, tag="known", same_star=True, toi_catalogue=str(toi))
    assert code == 0
    pd.testing.assert_frame_equal(out[plain.columns], plain)  # the existing columns are unchanged
    assert list(out.columns[-5:]) == ["matched_tic", "same_star", "toi", "toi_period_days", "toi_disposition"]
    rows = out.set_index("filename")
    for name in names[:4]:  # in the reference set: best match is the star itself
        assert rows.loc[name, "same_star"] and rows.loc[name, "matched_tic"] == tic_of[name]
    for name in names[4:]:
        assert not rows.loc[name, "same_star"] and rows.loc[name, "matched_tic"] != tic_of[name]
    assert rows.loc[names[0], "toi"] == "700.01;700.02" and rows.loc[names[0], "toi_disposition"] == "KP;PC"
    assert rows.loc[names[0], "toi_period_days"] == "2.5;"
    assert rows.loc[names[4], "toi"] == "701.01" and float(rows.loc[names[4], "toi_period_days"]) == 9.25
    assert rows.loc[names[1], "toi"] == "" or pd.isna(rows.loc[names[1], "toi"])
    assert "4 candidate(s) matched their own star" in logs and "2 candidate(s) are known TOIs" in logs


def test_real_star_matches_itself_in_claras_published_reference(tmp_path, tess_dir, published_dir):
    """TIC 160148385's sector-2 file matches CLARA's reference row of the same star: the TIC comes from the
    reference's SPOC file name (CLARA's set records no TIC ids)."""
    from clara_benchmark.cosine_similarity.reference import ReferenceSet

    name = "hlsp_tess-data-alerts_tess_phot_00160148385-s02_tess_v1_lc.fits"
    fits = tmp_path / "fits"
    fits.mkdir()
    shutil.copy(tess_dir / name, fits / name)
    refset = dict(fits=fits, model=published_dir / PUBLISHED_PCA, csv=published_dir / PUBLISHED_CSV)
    code, out, _, _ = run_sim(tmp_path, refset, wrss_rows([name]), same_star=True)
    assert code == 0
    row = out.iloc[0]
    assert row["same_star"] and row["matched_tic"] == 160148385
    ref = ReferenceSet.load(refset["model"], refset["csv"])
    tics = ref.tic_ids()
    assert len(tics) == len(ref) == 187 and tics[row["matched_filename"]] == 160148385
