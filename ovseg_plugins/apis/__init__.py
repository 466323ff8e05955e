"""Inferencers: one call from user data to labelled outputs.

Imported lazily so that ``import ovseg_plugins.apis`` pulls in neither
mmseg nor mmdet3d; each inferencer imports its stack when first used.
"""
_LAZY = {
    'GeoPurifyInferencer': 'geopurify_inferencer',
}

__all__ = list(_LAZY)


def __getattr__(name):
    if name in _LAZY:
        import importlib
        mod = importlib.import_module(f'{__name__}.{_LAZY[name]}')
        return getattr(mod, name)
    raise AttributeError(f'module {__name__!r} has no attribute {name!r}')
