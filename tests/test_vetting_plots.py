"""The vetting page's figure (vetting.plots): valid PNG, with and without centroids."""

from __future__ import annotations

import io

import numpy as np
from matplotlib.image import imread

from clara_benchmark.fitsfile import open_fits
from clara_benchmark.lightcurve import read_lightcurve
from clara_benchmark.synthetic.transits import box_transit
from clara_benchmark.vetting.bls import find_transit
from clara_benchmark.vetting.metrics import FLAG_CENTROID, vet
from clara_benchmark.vetting.plots import vetting_figure
from conftest import SHARED


def _png_shape(png: bytes):
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
    return imread(io.BytesIO(png), format="png").shape


def test_figure_of_a_synthetic_candidate_is_a_png():
    t = np.arange(1325.0, 1352.0, 2 / 1440)
    rng = np.random.default_rng(2)
    f = 1e4 * box_transit(t, 2.5, 0.1, 0.003, 1325.7) * (1 + rng.normal(0, 1e-3, t.size))
    d, r = find_transit(t, f)
    v = vet(d, r)
    shape = _png_shape(
        vetting_figure(d, r, v, title="synthetic", notes=["TOI 1.01 (P = 2.5 d): same period"])
    )
    assert shape[0] > 600 and shape[1] > 1000


def test_figure_of_a_real_planet_with_its_centroids():
    (path,) = sorted((SHARED / "data/tess_real/stsci-notebooks").glob("*0000000025155310*_lc.fits"))
    lc = read_lightcurve(path)
    with open_fits(path) as fits:
        data = fits[1].read(columns=["MOM_CENTR1", "MOM_CENTR2"])
    col, row = data["MOM_CENTR1"].astype(float), data["MOM_CENTR2"].astype(float)
    d, r = find_transit(lc.time, lc.pdcsap_flux, lc.quality)
    v = vet(d, r, col, row)
    assert np.isfinite(v.centroid_shift_sigma) and FLAG_CENTROID not in v.flags  # WASP-126 b is on target
    assert v.flags == []
    _png_shape(vetting_figure(d, r, v, col, row, title=f"TIC {lc.tic_id}"))
