"""Vetting transit candidates: detrending, box least squares period search, vetting metrics and flags,
TOI cross-match and the figures of a vetting page. Pure functions of arrays; I/O stays with the callers."""
