"""Period recovery and speed of clara's transit search against lightkurve's BLS, astropy's BLS and CLARA's
Lomb–Scargle fold, on the real planet hosts in shared/data/tess_real and on the demo's simulated planets.

    PYTHONPATH=. python bench/bench_fold.py [--shared ../shared] [--synthetic 30] [--no-lightkurve]

Every method sees the same cadences: the light curve read by clara's reader, finite rows with no QUALITY bit
of lightkurve's default bitmask (``vetting.detrend.DEFAULT_BITMASK``), except CLARA's LS fold which, as in
CLARA, takes every finite row. A period is "found" when the method's best period is within 1 % of the
true one. Timed (one BLAS thread, all in this process, interleaved per light curve):

* clara: ``vetting.bls.find_transit`` (detrend, coarse binned search, refine, detrend again with the transits
  masked, refine) from the arrays;
* lightkurve default: ``lk.LightCurve(time, flux, flux_err).normalize().flatten().to_periodogram("bls")``
  (flatten: Savitzky-Golay, 101 cadences; BLS: lightkurve's default durations 0.05-0.33 d, periods from
  ~0.33 d to a third of the baseline on its ``frequency_factor=10`` grid) and ``period_at_max_power``;
* lightkurve 0.5-20 d: the same with ``minimum_period=0.5, maximum_period=20`` (CLARA's fold range);
* astropy full-resolution: astropy ``BoxLeastSquares`` on clara's detrended, unbinned flux with clara's
  coarse period grid and durations and astropy's default ``oversample=10`` (what the binning saves);
* CLARA LS: ``vetting.periodicity.lomb_scargle`` (CLARA's fold helper: 0.5-20 d, samples_per_peak 10),
  skipped as CLARA does when the peak power is below 0.05 (counted as not found).

The synthetic set is the demo's sector (1,000 stars, seed 42, 3 % planets, 2 % binaries): its planets are
simulated in memory with ``synthetic.sector.simulate_star`` (same files as ``clara demo`` writes).
"""

from __future__ import annotations

import argparse
import glob
import time
import warnings
from pathlib import Path

import numpy as np
from threadpoolctl import threadpool_limits

from clara_benchmark.lightcurve import read_lightcurve
from clara_benchmark.vetting.bls import SearchGrid, coarse_search, find_transit
from clara_benchmark.vetting.detrend import DEFAULT_BITMASK, detrend
from clara_benchmark.vetting.periodicity import MIN_POWER_THRESHOLD, lomb_scargle

PLANETS = {  # TIC: (name, period in days), from the issue
    25155310: ("WASP-126 b", 3.2888),
    231663901: ("WASP-46 b", 1.43037),
    410214986: ("DS Tuc A b", 8.1387),
    159873822: ("TOI-2048 b", 13.79),
}


def real_cases(shared: Path) -> list[dict]:
    cases = []
    for tic, (name, period) in PLANETS.items():
        for path in sorted(glob.glob(str(shared / "data/tess_real/*" / f"*{tic:016d}*_lc.fits"))):
            lc = read_lightcurve(path)
            cases.append(
                dict(
                    label=f"{name} s{lc.sector}",
                    period=period,
                    time=lc.time,
                    flux=lc.pdcsap_flux,
                    flux_err=lc.pdcsap_flux_err,
                    quality=lc.quality,
                )
            )
    return cases


def synthetic_cases(n: int) -> list[dict]:
    from clara_benchmark.synthetic.sector import plan_stars, plan_timeline, simulate_star

    timeline = plan_timeline(1, 42)
    plan = plan_stars(1000, 1, 42, {"planet": 0.03, "eclipsing_binary": 0.02})
    cases = []
    for star in [s for s in plan if s["class"] == "planet"][:n]:
        hdul, truth = simulate_star(timeline, star, 42)
        data = hdul[1].data
        cases.append(
            dict(
                label=f"sim TIC {truth['tic_id']}",
                period=float(truth["period_days"]),
                time=np.array(data["TIME"], float),
                flux=np.array(data["PDCSAP_FLUX"], float),
                flux_err=np.array(data["PDCSAP_FLUX_ERR"], float),
                quality=np.array(data["QUALITY"]),
            )
        )
    return cases


def _usable(case):
    q = case["quality"].astype(np.int64)
    keep = np.isfinite(case["time"]) & np.isfinite(case["flux"]) & ((q & DEFAULT_BITMASK) == 0)
    return case["time"][keep], case["flux"][keep], case["flux_err"][keep]


def run_clara(case):
    _, r = find_transit(case["time"], case["flux"], case["quality"])
    return r.period_days


def run_lightkurve(case, **kwargs):
    import lightkurve as lk

    t, f, e = _usable(case)
    lc = lk.LightCurve(time=t, flux=f, flux_err=e)
    pg = lc.normalize().flatten().to_periodogram(method="bls", **kwargs)
    return float(pg.period_at_max_power.value)


def run_astropy_full(case):
    from astropy.timeseries import BoxLeastSquares

    d = detrend(case["time"], case["flux"], case["quality"])
    grid = SearchGrid()
    t, f = d.search_time, d.search_flux
    periods, *_ = coarse_search(t, f, d.scatter, grid)  # only for its period grid
    durations = np.array(grid.durations_hours) / 24.0
    res = BoxLeastSquares(t, f, np.full_like(f, d.scatter)).power(periods, durations[durations < 0.5])
    return float(res.period[int(np.argmax(res.power))])


def run_clara_ls(case):
    r = lomb_scargle(case["time"], case["flux"])
    return r.period_days if r.power >= MIN_POWER_THRESHOLD else float("nan")


def methods(use_lightkurve: bool):
    out = {"clara": run_clara}
    if use_lightkurve:
        out["lk default"] = run_lightkurve
        out["lk 0.5-20 d"] = lambda c: run_lightkurve(c, minimum_period=0.5, maximum_period=20)
    out["astropy full-res"] = run_astropy_full
    out["CLARA LS"] = run_clara_ls
    return out


def bench(cases: list[dict], runners: dict, title: str) -> None:
    found = {m: 0 for m in runners}
    found2 = {m: 0 for m in runners}
    seconds = {m: [] for m in runners}
    print(f"\n== {title}: {len(cases)} light curves")
    print(f"{'light curve':24s} {'true P':>8s} " + " ".join(f"{m:>22s}" for m in runners))
    for case in cases:
        cells = []
        for name, fn in runners.items():
            start = time.perf_counter()
            period = fn(case)
            seconds[name].append(time.perf_counter() - start)
            ok = np.isfinite(period) and abs(period / case["period"] - 1) <= 0.01
            found[name] += bool(ok)
            found2[name] += bool(np.isfinite(period) and abs(period / case["period"] - 1) <= 0.02)
            cells.append(f"{period:9.4f} {'ok' if ok else '--'} {seconds[name][-1]:6.2f}s")
        print(f"{case['label']:24s} {case['period']:8.4f} " + " ".join(f"{c:>22s}" for c in cells))
    base = np.mean(seconds["clara"])
    print(f"{'found within 1%':33s} " + " ".join(f"{found[m]:>19d}/{len(cases)}" for m in runners))
    print(f"{'found within 2%':33s} " + " ".join(f"{found2[m]:>19d}/{len(cases)}" for m in runners))
    print(f"{'mean s per light curve':33s} " + " ".join(f"{np.mean(seconds[m]):>22.3f}" for m in runners))
    print(f"{'time / clara time':33s} " + " ".join(f"{np.mean(seconds[m]) / base:>22.2f}" for m in runners))


def bench_figure(case) -> None:
    from clara_benchmark.report.plots import Ephemeris, candidate_figure, relative_flux
    from clara_benchmark.vetting.metrics import vet
    from clara_benchmark.vetting.plots import vetting_figure

    d, r = find_transit(case["time"], case["flux"], case["quality"])
    v = vet(d, r)
    eph = Ephemeris(r.period_days, r.t0_btjd, r.duration_hours)
    t, rel = relative_flux(case["time"], case["flux"])
    rounds = {"vetting_figure": [], "report candidate_figure (3 panels)": []}
    for _ in range(3):
        start = time.perf_counter()
        vetting_figure(d, r, v, title=case["label"])
        rounds["vetting_figure"].append(time.perf_counter() - start)
        start = time.perf_counter()
        candidate_figure(t, rel, eph, case["label"])
        rounds["report candidate_figure (3 panels)"].append(time.perf_counter() - start)
    print(f"\n== figure render ({case['label']}, best of 3)")
    base = min(rounds["report candidate_figure (3 panels)"])
    for name, values in rounds.items():
        print(f"{name:40s} {min(values):6.3f} s  ({min(values) / base:.2f}x the report thumbnail)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", type=Path, default=Path(__file__).resolve().parents[2] / "shared")
    parser.add_argument("--synthetic", type=int, default=30, help="simulated planets (0: none)")
    parser.add_argument("--no-lightkurve", action="store_true")
    args = parser.parse_args()
    warnings.filterwarnings("ignore")
    runners = methods(not args.no_lightkurve)
    with threadpool_limits(1):
        cases = real_cases(args.shared)
        for fn in runners.values():  # warm-up: imports and first-call costs out of the timings
            fn(cases[0])
        bench(cases, runners, "real planet hosts (shared/data/tess_real)")
        if args.synthetic:
            bench(synthetic_cases(args.synthetic), runners, "demo sector's simulated planets")
        bench_figure(cases[0])


if __name__ == "__main__":
    main()
