"""The scoring models of one run: which of P3/P5/P9 are enabled, from which files, loaded and checked once.

``load_models`` checks every model in this process (so a bad file fails before any worker starts, with
the file named) and keeps ``ModelSpec``s small enough to hand to each worker, which loads its own copy
once (``worker.init_worker``): workers get paths, not pickled forests. A model given as an estimator
object (e.g. one ``train`` returned) travels to the workers as it is.

Examples
--------
>>> from clara_benchmark import load_models
>>> models = load_models(p3=PUBLISHED_DIR / "urf4_model_variant_n300_d23.75_c2_n50ppm.pkl")
>>> models.names, type(models["p3"]).__name__
(['p3'], 'RandomForestClassifier')
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from clara_benchmark.exceptions import ModelFileError

ROLES = ("p3", "p5", "p9")


@dataclass
class ModelSpec:
    """A model to use in each worker: its role (p3/p5/p9), and its file or the estimator itself."""

    name: str
    path: str | None = None
    trust_pickles: bool = False
    estimator: Any = None


class ScoringModels(Mapping):
    """The enabled models by role, in P3, P5, P9 order (a read-only mapping role → estimator)."""

    def __init__(self, specs: list[ModelSpec], estimators: dict[str, Any], metadata: dict[str, dict]):
        self.specs = specs
        self._estimators = estimators
        self.metadata = metadata

    @property
    def names(self) -> list[str]:
        return [s.name for s in self.specs]

    def worker_specs(self) -> list[ModelSpec]:
        """What each worker needs to rebuild the models: paths where there are files, else the estimators."""
        return [
            s if s.path is not None else ModelSpec(s.name, None, s.trust_pickles, self[s.name])
            for s in self.specs
        ]

    def __getitem__(self, name: str):
        return self._estimators[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.specs)

    def __repr__(self) -> str:
        where = ", ".join(
            f"{s.name}={os.path.basename(s.path) if s.path else 'in memory'}" for s in self.specs
        )
        return f"ScoringModels({where})"


def load_models(p3=None, p5=None, p9=None, trust_pickles: bool = False) -> ScoringModels:
    """Load and check the scoring models (files or estimator objects) for roles P3, P5 and P9.

    Parameters
    ----------
    p3, p5, p9 : path or estimator, optional
        A clara ``.skops`` model, one of CLARA's published ``.pkl`` releases, or a fitted
        ``RandomForestClassifier``. At least one is needed.
    trust_pickles : bool
        Load a ``.pkl`` that is not a known CLARA release (loading a pickle runs its code).

    Returns
    -------
    ScoringModels

    Raises
    ------
    ModelFileError
        A file that does not exist, is refused (an unknown pickle), cannot be read, or is no URF for
        clara-4000 vectors; the message names the file.
    """
    from clara_benchmark.urf_scoring.worker import check_scoring_model, load_scoring_model

    given = {"p3": p3, "p5": p5, "p9": p9}
    specs, estimators, metadata = [], {}, {}
    for name in ROLES:
        value = given[name]
        if value is None:
            continue
        if isinstance(value, (str, os.PathLike)):
            spec = ModelSpec(name, str(Path(value)), trust_pickles)
            estimators[name], meta = load_scoring_model(spec, with_metadata=True)
        else:
            spec = ModelSpec(name, None, trust_pickles, value)
            check_scoring_model(value, spec)
            estimators[name], meta = value, {}
        specs.append(spec)
        metadata[name] = {**meta, "path": spec.path}
    if not specs:
        raise ModelFileError("no model given: pass at least one of p3, p5, p9")
    return ScoringModels(specs, estimators, metadata)
