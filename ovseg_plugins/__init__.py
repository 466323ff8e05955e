"""ovseg_plugins: open-vocabulary segmentation components for OpenMMLab.

Importing this package imports no framework (not even torch). Configs pull in
the part they need through ``custom_imports``:

* ``ovseg_plugins.seg2d``  -- mmseg registries (SegEarth-OV, SimFeatUp, SegEarth-OV3)
* ``ovseg_plugins.seg3d``  -- mmdet3d registries (GeoPurify)
* ``ovseg_plugins.coido`` -- CoIDO data selection: samplers, hooks, scorer (mmseg and mmdet3d)

The configs ship inside the installed package (``ovseg_plugins/.mim/configs``,
the OpenMMLab layout); a config of your own inherits them by path
(``ovseg_plugins.utils.config_paths.config_root()``, see
docs/user_guides/plugin.md).
"""
from .version import __version__

__all__ = ['__version__']
