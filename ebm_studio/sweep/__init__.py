"""Sweeps and tuning of many runs on Ray (the optional ``sweep`` extra; README.md, Sweeps).

``spec`` (grids, seeds, ranges, the manifest) and ``results`` (sweep.csv, summary.csv) need
neither Ray nor Qt; ``engine`` and ``tuning`` import Ray when they run.
"""
