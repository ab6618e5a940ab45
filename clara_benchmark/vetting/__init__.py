"""Vetting transit candidates: pure functions of arrays (no files, no logging); I/O stays with the callers.

Entry points, in the order a ``fold`` run uses them:

* ``bls.find_transit(time, pdcsap_flux, quality, grid=SearchGrid())`` -> ``(Detrended, BLSResult)``: detrend
  (``detrend.detrend``), box least squares search, detrend again with the transits masked, refine.
* ``periodicity.lomb_scargle(time, pdcsap_flux)`` -> ``LSResult``: CLARA's fold period (untouched flux), and
  ``periodicity.choose_period(bls, ls, box_vs_sine)`` -> ``Choice``: the ``auto`` rule (``AUTO_RULE``).
* ``metrics.vet(detrended, bls, mom_centr1, mom_centr2, known_toi)`` -> ``Vetting``: odd/even, phase 0.5,
  centroid shift, box-vs-sine, flags (rules in ``metrics.FLAG_RULES``).
* ``toi.parse_toi_table(text_or_bytes, source)`` -> ``TOICatalogue`` and ``toi.cross_match(catalogue, tic_id,
  period_days)`` -> ``TOIMatch`` (harmonics named by ``toi.relation``).
* ``plots.vetting_figure(detrended, bls, vetting, mom_centr1, mom_centr2, title, notes)`` -> PNG bytes.

``BLSResult.as_row()`` and ``Vetting.as_row()`` give the scalar columns of a periods table.
"""
