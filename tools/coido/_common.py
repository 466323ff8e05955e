"""Shared start-up of the CoIDO tools: repo root on sys.path, and configs
given as a path or as ``mmseg::`` / ``mmdet3d::`` package configs."""
import os.path as osp
import sys

_TOOLS = osp.dirname(osp.dirname(osp.abspath(__file__)))
if _TOOLS not in sys.path:
    sys.path.insert(0, _TOOLS)

from _bootstrap import bootstrap  # noqa: E402

bootstrap()


def load_cfg(path: str, cfg_options=None, work_dir=None):
    """``Config.fromfile`` of a file or of ``<package>::<config>`` (an
    installed OpenMMLab package's ``.mim/configs``), ``--cfg-options``
    merged (a top-level path variable such as ``data_root`` moves every
    path derived from it), ``work_dir`` set (CLI, config, ``work_dirs/<config stem>``)."""
    from mmengine.config import Config
    if '::' in path:
        from mmengine.config.utils import _get_package_and_cfg_path
        from mmengine.utils import get_installed_path, is_installed
        pkg, rel = _get_package_and_cfg_path(path)
        if not is_installed(pkg):
            raise FileNotFoundError(f'{path!r}: package {pkg!r} is not '
                                    'installed.')
        file = osp.join(get_installed_path(pkg), '.mim', 'configs', rel)
    else:
        file = path
    if not osp.isfile(file):
        raise FileNotFoundError(
            f'Config file not found: {path!r}. Give a config path or an '
            'installed package config, e.g. '
            'mmseg::pspnet/pspnet_r18-d8_4xb4-80k_loveda-512x512.py.')
    cfg = Config.fromfile(file)
    if cfg_options:
        # data_root=... moves every path derived from it, as in tools/train.py
        from ovseg_plugins.utils.config_paths import merge_cfg_options
        merge_cfg_options(cfg, cfg_options)
    if work_dir:
        cfg.work_dir = work_dir
    elif not cfg.get('work_dir'):
        cfg.work_dir = osp.join('work_dirs',
                                osp.splitext(osp.basename(file))[0])
    return cfg
