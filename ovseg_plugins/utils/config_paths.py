"""Top-level path variables of a config that follow ``--cfg-options``.

mmengine substitutes a config's variables (``data_root``, ``fused_root``,
...) into the datasets and pipelines while parsing, so overriding the
variable afterwards (``--cfg-options data_root=/my/data``) changes only the
variable itself. :func:`merge_cfg_options` merges the options and then
moves every string of the config that was derived from an overridden
top-level path variable (equal to its old value, or below it) onto the new
value: ``data_root`` alone relocates every path built from it (points,
fused and teacher features, text embeddings), ``fused_root`` alone moves
the fused features in every pipeline.
"""
import os.path as osp
from typing import Any, Dict, List, Tuple

__all__ = ['merge_cfg_options', 'rebase_paths', 'config_root']

_PACKAGE = osp.dirname(osp.dirname(osp.abspath(__file__)))


def config_root() -> str:
    """The folder of the configs shipped with the package.

    An installed package holds them under ``ovseg_plugins/.mim/configs``
    (the OpenMMLab layout: ``setup.py`` copies ``configs/`` there for wheels
    and links it for editable installs); a source checkout that was never
    installed has them in ``configs/`` beside the package. Inherit them in a
    config of your own by path: ``_base_ = ['<config_root()>/segearth/
    potsdam.py']``.
    """
    mim = osp.join(_PACKAGE, '.mim', 'configs')
    if osp.isdir(mim):
        return mim
    return osp.join(osp.dirname(_PACKAGE), 'configs')


def _under(s: str, old: str) -> bool:
    base = old.rstrip('/')
    return s == old or s == base or s.startswith(base + '/')


def _swap(s: str, old: str, new: str) -> str:
    base = old.rstrip('/')
    if s in (old, base):
        return new
    rest = s[len(base) + 1:]
    return new.rstrip('/') + '/' + rest if new else rest


def rebase_paths(node: Any, moves: List[Tuple[str, str]], skip=()) -> Any:
    """Return ``node`` with strings under an old path moved to the new one
    (most specific old path first); containers are updated in place."""
    if isinstance(node, str):
        for old, new in moves:
            if _under(node, old):
                return _swap(node, old, new)
        return node
    if isinstance(node, dict):
        for k in list(node.keys()):
            if k in skip:
                continue
            node[k] = rebase_paths(node[k], moves)
        return node
    if isinstance(node, list):
        for i, v in enumerate(node):
            node[i] = rebase_paths(v, moves)
        return node
    if isinstance(node, tuple):
        return type(node)(rebase_paths(v, moves) for v in node)
    return node


def merge_cfg_options(cfg, options: Dict[str, Any]) -> List[str]:
    """``cfg.merge_from_dict(options)`` + path variables that follow.

    A top-level key of ``options`` (no dot) whose value in ``cfg`` was a
    non-empty string path is a moved path variable; every other string of
    ``cfg`` equal to or below its old value is rebased.

    Returns:
        list[str]: The moved variables.
    """
    if not options:
        return []
    moves = []
    for k, v in options.items():
        if '.' in k or not isinstance(v, str):
            continue
        old = cfg.get(k)
        if isinstance(old, str) and old and old != v and ('/' in old or
                                                           k.endswith(
                                                               ('root', 'dir',
                                                                'path'))):
            moves.append((old, v))
    cfg.merge_from_dict(options)
    if moves:
        moves.sort(key=lambda m: -len(m[0].rstrip('/')))
        top = {k for k in options if '.' not in k}
        rebase_paths(cfg._cfg_dict, moves, skip=top)
    return [k for k in options if '.' not in k and any(
        cfg.get(k) == new for _, new in moves)]
