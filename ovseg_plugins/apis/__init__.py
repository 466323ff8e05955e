"""High-level inference APIs.

2D: :class:`OVSegInferencer` (images, folders, large georeferenced rasters).
Names are imported lazily (PEP 562), so ``import ovseg_plugins.apis`` pulls in
neither mmseg nor mmdet3d until a 2D or 3D inferencer is used; add a line to
``_LAZY`` for each inferencer.
"""
import importlib

_LAZY = {
    'OVSegInferencer': '.ov_seg_inferencer',
    'resolve_config': '.config_names',
    'GeoPurifyInferencer': '.geopurify_inferencer',
}

__all__ = list(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name], __name__), name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
