"""Cosine-similarity labelling against a labelled reference set (CLARA_SPEC §6): ``reference`` builds a
set, ``match`` holds the pure maths, ``run`` is the ``sim`` command."""
