"""The parts of :func:`snnreduce.sweep.sweep`, one job per module.

- :mod:`.grid` — ``name=values`` parsing, value validation, per-run seeds.
- :mod:`.journal` — the append-only journal that makes a killed sweep resumable.
- :mod:`.execution` — per-run records and the serial / joblib (loky) / dask executors.
- :mod:`.assembly` — the labelled Dataset from the records; reading a sweep file.

Users call :func:`snnreduce.sweep.sweep`; these modules hold no entry point of their own.
"""
