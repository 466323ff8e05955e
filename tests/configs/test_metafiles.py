"""Every ``configs/*/metafile.yaml`` parses in MIM's layout (``Collections``
+ ``Models``), names files that exist, and is listed in ``model-index.yml``."""
import glob
import os.path as osp

import pytest
import yaml

from conftest import REPO_ROOT

METAFILES = sorted(
    osp.relpath(p, REPO_ROOT)
    for p in glob.glob(osp.join(REPO_ROOT, 'configs', '*', 'metafile.yaml')))


def _load(rel):
    with open(osp.join(REPO_ROOT, rel)) as f:
        return yaml.safe_load(f)


def _exists(rel_path, where):
    assert isinstance(rel_path, str) and osp.isfile(
        osp.join(REPO_ROOT, rel_path)), f'{where}: {rel_path!r} does not exist'


def test_there_are_metafiles():
    assert {'configs/segearth/metafile.yaml',
            'configs/simfeatup/metafile.yaml'} <= set(METAFILES)


def test_model_index_lists_every_metafile():
    index = _load('model-index.yml')
    listed = index['Import']
    for rel in listed:
        _exists(rel, 'model-index.yml')
    missing = sorted(set(METAFILES) - set(listed))
    assert not missing, (
        f'model-index.yml does not import {missing}: add them under Import')


@pytest.mark.parametrize('rel', METAFILES)
def test_metafile_layout_and_paths(rel):
    meta = _load(rel)
    assert isinstance(meta, dict) and set(meta) >= {'Collections', 'Models'}, (
        f'{rel}: needs top-level Collections and Models')
    collections = {c['Name'] for c in meta['Collections']}
    for c in meta['Collections']:
        where = f"{rel}: collection {c['Name']!r}"
        if 'README' in c:
            _exists(c['README'], where)
        if 'Paper' in c:
            assert {'Title', 'URL'} <= set(c['Paper']), where
    names = [m['Name'] for m in meta['Models']]
    assert len(names) == len(set(names)), f'{rel}: duplicate model names'
    for m in meta['Models']:
        where = f"{rel}: model {m['Name']!r}"
        assert m.get('In Collection') in collections, (
            f"{where}: In Collection {m.get('In Collection')!r} is not one "
            f'of {sorted(collections)}')
        _exists(m['Config'], where)
        if 'README' in m:
            _exists(m['README'], where)
        results = m.get('Results') or []
        for r in [results] if isinstance(results, dict) else results:
            assert {'Task', 'Dataset', 'Metrics'} <= set(r), where
            # a number, or null where nothing was reported
            assert r['Metrics'] and all(
                v is None or isinstance(v, (int, float))
                for v in r['Metrics'].values()), (
                f'{where}: metrics must be numbers, got {r["Metrics"]}')


@pytest.mark.parametrize('folder', ['configs/segearth', 'configs/simfeatup'])
def test_metafile_covers_every_leaf_config(folder):
    """SegEarth-OV and SimFeatUp list all their leaf configs."""
    rel = f'{folder}/metafile.yaml'
    listed = {m['Config'] for m in _load(rel)['Models']}
    leaves = {osp.relpath(p, REPO_ROOT) for p in glob.glob(
        osp.join(REPO_ROOT, folder, '**', '*.py'), recursive=True)}
    missing = sorted(leaves - listed)
    assert not missing, f'{rel} does not list {missing}'
