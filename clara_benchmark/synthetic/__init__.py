"""Synthetic light curves: CLARA's transit training sets and simulated SPOC sectors written as FITS."""
