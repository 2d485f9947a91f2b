"""Loaded (via PYTHONPATH) only by the anchor processes that bench/gpu_speed.py starts on the GPU machine.

There, `datasets.Dataset.from_dict` failed to fingerprint the anchor's in-memory table (dill could not pickle
pyarrow's MonthDayNano type under Python 3.12: PicklingError). The fingerprint only names cache files; a
random one (what `datasets` itself falls back to for unhashable transforms) changes nothing in training.
"""

try:
    import datasets.arrow_dataset as _ad
    import datasets.fingerprint as _fp

    _orig = _fp.generate_fingerprint

    def _safe_fingerprint(dataset):
        try:
            return _orig(dataset)
        except Exception:
            return _fp.generate_random_fingerprint()

    _fp.generate_fingerprint = _safe_fingerprint
    _ad.generate_fingerprint = _safe_fingerprint
except Exception:  # no datasets here: nothing to patch
    pass
