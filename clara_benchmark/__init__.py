"""clara: find unusual stars in TESS light curves (a re-implementation of the CLARA pipeline, as a library
and a command line).

The pipeline in a notebook::

    import clara_benchmark as clara

    models = clara.load_models(p3="p3.pkl", p9="p9.pkl")          # CLARA's published models, or clara's .skops
    features = clara.clara4000_many("lightcurves/")                 # folders, files, globs, LightCurves
    # other flux / masks / 20-s binning: clara4000_many(..., read_options={"flux_column": "sap_flux"})
    scores, failures = clara.score(features, models)                # tic, filename, p3, p9
    table, record = clara.wrss(scores)                              # CLARA's WRSS and its batch min/max
    reference = clara.ReferenceSet.load("pca.pkl", "reference.csv")
    matches, _ = clara.label(features, reference, top_k=3)          # best cosine-similarity matches
    shapes = clara.feature_set("lightcurves/", "bin_means")         # CLARA's fold + z-scored bin means
    groups = clara.cluster(shapes.features, "hdbscan")              # labels, silhouette, ... (clustering)
    folds = clara.fold("candidates/", toi_catalogue="toi.csv")     # period, vetting flags, known TOIs

Every name below is importable from ``clara_benchmark``; they are loaded on first use, so importing the
package costs nothing. docs/api.md walks through a whole session. Errors are ``ClaraError`` subclasses
(``clara_benchmark.exceptions``); logging goes to ``logging.getLogger("clara")``.
"""

from __future__ import annotations

import importlib

__version__ = "0.1.0"

#: public name → module that defines it
_EXPORTS = {
    # light curves and inputs
    "LightCurve": "clara_benchmark.lightcurve",
    "read_lightcurve": "clara_benchmark.lightcurve",
    "ReadOptions": "clara_benchmark.lightcurve",
    "LightCurveInfo": "clara_benchmark.lightcurve",
    "detect_product": "clara_benchmark.lightcurve",
    "find_lightcurves": "clara_benchmark.inputs",
    "Failure": "clara_benchmark.inputs",
    # features
    "clara4000": "clara_benchmark.features",
    "clara4000_many": "clara_benchmark.extract",
    "FeatureMatrix": "clara_benchmark.extract",
    # CLARA's feature sets and clustering (features, clustering)
    "feature_set": "clara_benchmark.featuresets",
    "FeatureSet": "clara_benchmark.featuresets",
    "cluster": "clara_benchmark.clustering.pipeline",
    "ClusteringResult": "clara_benchmark.clustering.pipeline",
    "compare_algorithms": "clara_benchmark.clustering.compare",
    "cluster_map": "clara_benchmark.clustering.map",
    "dtw_distance_matrix": "clara_benchmark.dtw",
    # scoring
    "load_models": "clara_benchmark.urf_scoring.models",
    "ScoringModels": "clara_benchmark.urf_scoring.models",
    "score": "clara_benchmark.urf_scoring.score",
    "ScoreResult": "clara_benchmark.urf_scoring.score",
    "anomaly_score": "clara_benchmark.urf_scoring",
    "wrss": "clara_benchmark.urf_scoring.wrss",
    "WrssResult": "clara_benchmark.urf_scoring.wrss",
    # labelling
    "ReferenceSet": "clara_benchmark.cosine_similarity.reference",
    "build_reference": "clara_benchmark.cosine_similarity.reference",
    "label": "clara_benchmark.cosine_similarity.label",
    "LabelResult": "clara_benchmark.cosine_similarity.label",
    "label_group": "clara_benchmark.cosine_similarity.match",
    # training and evaluation
    "train": "clara_benchmark.training.train",
    "TrainResult": "clara_benchmark.training.train",
    "injection_recovery": "clara_benchmark.training.evaluate",
    "InjectionResult": "clara_benchmark.training.evaluate",
    # periods and vetting (fold)
    "fold": "clara_benchmark.folds",
    "FoldRun": "clara_benchmark.folds",
    "load_toi_catalogue": "clara_benchmark.tess_spoc_download.toi_table",
    # where work runs
    "open_executor": "clara_benchmark.executors",
    # errors
    "ClaraError": "clara_benchmark.exceptions",
    "ConfigError": "clara_benchmark.exceptions",
    "LightCurveError": "clara_benchmark.exceptions",
    "FeatureError": "clara_benchmark.exceptions",
    "ModelFileError": "clara_benchmark.exceptions",
    "DownloadError": "clara_benchmark.exceptions",
    "ReportInputError": "clara_benchmark.exceptions",
    "FeatureStoreError": "clara_benchmark.exceptions",
    "OutputError": "clara_benchmark.exceptions",
}

__all__ = sorted(_EXPORTS) + ["__version__"]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'clara_benchmark' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
