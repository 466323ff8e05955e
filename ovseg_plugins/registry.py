"""Registry nodes of the ``ovseg_plugins`` config scope.

A user's config may inherit our bases from anywhere with
``_base_ = ['ovseg_plugins::segearth/potsdam.py']`` (after ``import
ovseg_plugins``, which registers the scope with mmengine). mmengine then
marks every typed dict of those bases with ``_scope_='ovseg_plugins'`` and
builds it in that scope, importing this module. Our components live in the
mmseg (2D) and mmdet3d (3D) registries, so each node here is a child of one
mmengine root registry that resolves an unscoped type name in the
framework of the running config — the default scope that was active before
mmengine switched to ``ovseg_plugins`` (``mmseg`` or ``mmdet3d``) — then in
the other framework if it is already imported.
"""
import sys
from importlib import import_module
from typing import List, Optional, Type

import mmengine.registry as _mmengine_registry
from mmengine.registry import DefaultScope, Registry

SCOPE = 'ovseg_plugins'
FRAMEWORK_SCOPES = ('mmseg', 'mmdet3d')


def _ambient_scopes() -> List[str]:
    """Scopes to search: the latest default scope other than ours (the
    running config's ``default_scope``), then the imported frameworks."""
    names: List[str] = []
    # DefaultScope keeps its instances in creation order; mmengine's
    # overwrite_default_scope appends the temporary 'ovseg_plugins' one.
    for inst in reversed(list(DefaultScope._instance_dict.values())):
        if inst.scope_name != SCOPE:
            names.append(inst.scope_name)
            break
    for name in FRAMEWORK_SCOPES:
        if name not in names and name in sys.modules:
            names.append(name)
    return names


class ScopeRegistry(Registry):
    """A registry node of the ``ovseg_plugins`` scope that delegates
    unscoped names to the running framework's registry of the same kind."""

    def get(self, key: str) -> Optional[Type]:
        scope, real_key = self.split_scope_key(key)
        if scope is not None and scope != SCOPE:
            return super().get(key)
        root = self._get_root_registry()
        for name in _ambient_scopes():
            try:
                import_module(f'{name}.registry')
            except ImportError:
                continue
            node = root._search_child(name)
            if node is None or node is self:
                continue
            try:
                obj = node.get(real_key)
            except RuntimeError:  # mmengine: "Failed to get <key>"
                obj = None
            if obj is not None:
                return obj
        return super().get(real_key)


def _make_nodes() -> dict:
    nodes = {}
    for attr, reg in vars(_mmengine_registry).items():
        if isinstance(reg, Registry) and reg.parent is None and \
                reg.scope == 'mmengine':
            existing = reg._children.get(SCOPE)
            nodes[attr] = existing if existing is not None else \
                ScopeRegistry(reg.name, parent=reg, scope=SCOPE)
    return nodes


_NODES = _make_nodes()
globals().update(_NODES)
__all__ = ['SCOPE', 'ScopeRegistry'] + sorted(_NODES)
