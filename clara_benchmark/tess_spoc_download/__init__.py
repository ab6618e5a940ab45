"""The ``download`` command: MAST script parsing (script), HTTP fetcher (fetch), verification (verify), run."""
