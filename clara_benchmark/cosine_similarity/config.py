"""Config of the ``reference`` command, kept apart from the code so that the CLI's parser imports no
science libraries."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

from clara_benchmark.config import (
    NAME_MAX_BYTES,
    batch_size_key,
    bin_20s_key,
    check_read_keys,
    executor_key,
    flux_column_key,
    key,
    max_workers_key,
    quality_bitmask_key,
    scheduler_address_key,
)

DEFAULT_COMPONENTS = 50


@dataclass
class ReferenceConfig:
    """Config of ``reference``: labelled light curves → PCA model + reference CSV for ``sim``."""

    labels_path: Path = key(
        'CSV of labelled objects: columns "filename,label" or "tic_id,label"',
        "path",
        required=True,
        exists="file",
    )
    fits_dir: Path = key(
        "Directory of the labelled light curves (sub-folders are searched too)",
        "path",
        required=True,
        exists="dir",
    )
    output_dir: Path = key(
        "Directory for the PCA model and reference CSV (created when missing)",
        "path",
        required=True,
        exists="outdir",
    )
    name: str = key(
        "Name of the set: writes pca_model_<name>.skops and reduced_features_<name>.csv", "str", "reference"
    )
    n_components: int = key(
        "PCA components (fewer when there are fewer objects: at most objects - 1)",
        "int",
        DEFAULT_COMPONENTS,
        minimum=1,
    )
    features_path: Path | None = key(
        "Feature directory written by score (save_features) to reuse", "path", None, exists="dir"
    )
    flux_column: str = flux_column_key()
    quality_bitmask: str = quality_bitmask_key()
    bin_20s_to_2min: bool = bin_20s_key()
    max_workers: int = max_workers_key()
    batch_size: int = batch_size_key(64)
    executor: str = executor_key()
    scheduler_address: str | None = scheduler_address_key()

    def check(self) -> str | None:
        problem = check_read_keys(self)
        if problem:
            return problem
        if os.sep in self.name or (os.altsep and os.altsep in self.name) or self.name in (".", ".."):
            return f'key "name" must be a plain name, not a path, got "{self.name}"'
        longest = f"reduced_features_{self.name}.csv"  # the longer of the two file names it gives
        if len(os.fsencode(longest)) > NAME_MAX_BYTES:
            return (
                f'key "name" is too long: the file name reduced_features_<name>.csv would be '
                f"{len(os.fsencode(longest))} bytes (file names are at most {NAME_MAX_BYTES})"
            )
        return None

    def monitor_path(self) -> Path:
        return self.fits_dir
