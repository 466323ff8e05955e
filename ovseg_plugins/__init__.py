"""ovseg_plugins: open-vocabulary segmentation components for OpenMMLab.

Importing this package imports no framework (not even torch). Configs pull in
the part they need through ``custom_imports``:

* ``ovseg_plugins.seg2d``  -- mmseg registries (SegEarth-OV, SimFeatUp, SegEarth-OV3)
* ``ovseg_plugins.seg3d``  -- mmdet3d registries (GeoPurify)
* ``ovseg_plugins.coido`` -- CoIDO data selection: samplers, hooks, scorer (mmseg and mmdet3d)

Importing it also registers the ``ovseg_plugins::`` config scope with
mmengine, so a config anywhere can inherit our bases:
``_base_ = ['ovseg_plugins::segearth/potsdam.py']`` (see
docs/user_guides/plugin.md).
"""
from .version import __version__

__all__ = ['__version__', 'register_config_scope']


def register_config_scope() -> None:
    """Let mmengine resolve ``ovseg_plugins::<path under configs/>``.

    mmengine accepts ``pkg::`` only for packages in its ``MODULE2PACKAGE``
    table and reads the file from ``<installed package>/.mim/configs``
    (``setup.py`` links or copies ``configs/`` there, as mmseg does). The
    ``_scope_='ovseg_plugins'`` that mmengine then puts on the inherited
    dicts is served by :mod:`ovseg_plugins.registry`.
    """
    try:
        from mmengine.config import utils as cfg_utils
    except ImportError:  # mmengine missing: nothing to register
        return
    cfg_utils.MODULE2PACKAGE.setdefault('ovseg_plugins', 'ovseg_plugins')


register_config_scope()
