"""Crosscheck scenarios: a second, independent model of a bank's customer book.

The generator writes a raw event export of a retail bank with planted fraud rings of five
typologies and benign identifier sharing of fifteen kinds, plus the truth behind it. It is
used only to evaluate the detector on data the detector was not designed around; see
``benchmarks/crosscheck/README.md`` for the world model.
"""
