"""Every config parses, and every ``type=`` resolves in the registries."""
import glob
import os.path as osp

import pytest

from conftest import REPO_ROOT

CONFIGS = sorted(
    p for p in glob.glob(osp.join(REPO_ROOT, 'configs', '**', '*.py'),
                         recursive=True) if '/_base_/' not in p)


def _types(obj, path=''):
    if isinstance(obj, dict):
        if 'type' in obj and isinstance(obj['type'], str):
            yield path, obj['type'], obj.get('_scope_')
        for k, v in obj.items():
            yield from _types(v, f'{path}.{k}' if path else str(k))
    elif isinstance(obj, (list, tuple)):
        for i, v in enumerate(obj):
            yield from _types(v, f'{path}[{i}]')


def _registries(scope):
    import importlib

    from mmengine.registry import Registry
    mod = importlib.import_module(f'{scope}.registry')
    return [v for v in vars(mod).values() if isinstance(v, Registry)]


def test_there_are_configs():
    assert CONFIGS, 'no leaf configs found under configs/'


@pytest.mark.parametrize('cfg_path', CONFIGS,
                         ids=[osp.relpath(p, REPO_ROOT) for p in CONFIGS])
def test_config_parses_and_types_resolve(cfg_path):
    from mmengine.config import Config
    from mmengine.registry import DefaultScope
    cfg = Config.fromfile(cfg_path)  # runs custom_imports
    scope = cfg.get('default_scope')
    assert scope in ('mmseg', 'mmdet3d'), f'default_scope is {scope!r}'
    assert cfg.get('custom_imports'), 'config has no custom_imports'
    assert cfg.custom_imports.get('allow_failed_imports') is False
    with DefaultScope.overwrite_default_scope(scope):
        missing = []
        for path, t, sc in _types(cfg.to_dict()):
            regs = _registries(sc or scope)
            if '.' in t:  # cross-scope 'mmdet.X'
                sc2, name = t.split('.', 1)
                regs, t = _registries(sc2), name
            if not any(r.get(t) is not None for r in regs):
                missing.append(f'{path}: {t}')
    assert not missing, f'unresolved types: {missing}'
