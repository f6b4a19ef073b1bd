"""Support code every layer may use: process lifecycle, progress bars, safe skops loading.

Nothing here imports another part of automl-meta except :mod:`automl_meta.errors`.
"""
