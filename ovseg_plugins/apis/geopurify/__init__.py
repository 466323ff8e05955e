"""Pieces of :class:`~ovseg_plugins.apis.GeoPurifyInferencer`: the 2D
feature sources (also used by ``tools/geopurify/lift_features.py``)."""
