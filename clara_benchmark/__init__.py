"""clara: find unusual stars in TESS light curves (a re-implementation of the CLARA pipeline)."""

__version__ = "0.1.0"
