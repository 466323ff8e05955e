"""tools/geopurify/select_scenes.py on hand-checkable synthetic label sets
and on the real tiny ScanNet scene."""
import importlib.util
import os.path as osp

import numpy as np
import pytest
import torch

from conftest import REPO_ROOT, shared_data_path


@pytest.fixture(scope='module')
def tool():
    spec = importlib.util.spec_from_file_location(
        'select_scenes',
        osp.join(REPO_ROOT, 'tools', 'geopurify', 'select_scenes.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def lab(**counts):
    """labels from class counts, e.g. lab(c0=50, c1=50)."""
    return np.concatenate([np.full(n, int(k[1:])) for k, n in counts.items()])


# Two room types over 4 classes: A rooms mostly 0/1, B rooms mostly 2/3.
SCENES = {
    'a1': lab(c0=50, c1=50),                    # Nc 2, Hc 1
    'a2': lab(c0=60, c1=30, c2=10),             # Nc 3, Hc 1.295
    'a3': lab(c0=40, c1=40, c2=10, c3=10),      # Nc 4, Hc 1.722
    'b1': lab(c2=50, c3=50),                    # Nc 2, Hc 1
    'b2': lab(c2=45, c3=45, c0=10),             # Nc 3, Hc 1.369
    'b3': lab(c2=40, c3=40, c0=10, c1=10),      # Nc 4, Hc 1.722
}


def test_statistics_by_hand(tool):
    s = tool.scene_statistics(SCENES['a2'], 4)
    assert s['Nc'] == 3
    assert s['Hc'] == pytest.approx(-(.6 * np.log2(.6) + .3 * np.log2(.3) +
                                      .1 * np.log2(.1)))
    assert s['hist'].tolist() == [60, 30, 10, 0]


def test_median_filter_clusters_and_scores(tool):
    # medians: Nc 3, Hc (1.295 + 1.369) / 2 -> kept a3, b2, b3 (a2 fails
    # Hc); clusters {a3}, {b2, b3}; scores a3 = b3 = 2, b2 = 0
    stats = [tool.scene_statistics(v, 4) for v in SCENES.values()]
    recs = tool.select_scenes(list(SCENES), stats, n_clusters=2, gamma=1.0)
    assert sorted(r['name'] for r in recs) == ['a3', 'b2', 'b3']
    by = {r['name']: r for r in recs}
    assert by['b2']['cluster'] == by['b3']['cluster'] != by['a3']['cluster']
    assert by['a3']['score'] == pytest.approx(2.0)
    assert by['b2']['score'] == pytest.approx(0.0)
    assert sorted(r['name'] for r in recs if r['selected']) == ['a3', 'b3']


def test_gamma_trades_entropy_against_class_count(tool):
    scenes = {
        'x': lab(c0=85, c1=5, c2=5, c3=5),  # Nc 4, Hc 0.848 (low)
        'y': lab(c0=50, c1=50),             # Nc 2, Hc 1.0 (high)
        'z': lab(c0=80, c1=10, c2=10),      # Nc 3, Hc 0.922
    }
    stats = [tool.scene_statistics(v, 4) for v in scenes.values()]

    def pick(gamma):
        recs = tool.select_scenes(list(scenes), stats, n_clusters=1,
                                  gamma=gamma, median_filter=False)
        return [r['name'] for r in recs if r['selected']]

    # minmax Hc: x 0, y 1, z 0.487; minmax Nc: x 1, y 0, z 0.5
    assert pick(0.5) == ['y']   # y 1.0 > z 0.737 > x 0.5
    assert pick(3.0) == ['x']   # x 3.0 > z 1.987 > y 1.0


def test_cli_on_openscene_pth_and_txt(tool, tmp_path, capsys):
    d = tmp_path / 'scannet_3d'
    d.mkdir()
    for name, v in SCENES.items():
        # OpenScene 3-tuples; 255 = unlabelled must not count as a class
        v = np.concatenate([v, np.full(7, 255)])
        n = len(v)
        torch.save((np.zeros((n, 3), np.float32),
                    np.zeros((n, 3), np.float32), v),
                   str(d / f'{name}_vh_clean_2.pth'))
    out = tmp_path / 'list.txt'
    recs = tool.main([str(d), '--clusters', '2', '--out', str(out)])
    assert sorted(r['name'] for r in recs if r['selected']) == ['a3', 'b3']
    lines = out.read_text().splitlines()
    assert lines[0].startswith('# ') and 'gamma=1.0' in lines[0]
    assert sorted(lines[1:]) == ['a3', 'b3']
    text = capsys.readouterr().out
    assert 'K=4 classes' in text and 'a3' in text
    # the written list is a valid scene list for the datasets
    from ovseg_plugins.seg3d.datasets.scene_list import read_scene_list
    assert sorted(read_scene_list(str(out))) == ['a3', 'b3']

    t = tmp_path / 'txt'
    t.mkdir()
    for name in ('a3', 'b1'):
        np.savetxt(t / f'{name}.txt', SCENES[name], fmt='%d')
    recs = tool.main([str(t), '--clusters', '5', '--no-filter',
                      '--num-classes', '4'])
    assert sorted(r['name'] for r in recs if r['selected']) == ['a3', 'b1']
    with pytest.raises(FileNotFoundError, match='zz'):
        lst = tmp_path / 'only.txt'
        lst.write_text('a3\nzz\n')
        tool.main([str(t), '--scene-list', str(lst)])


def test_real_tiny_scannet_scene(tool, tmp_path, capsys):
    root = shared_data_path('scannet', 'semantic_mask')
    out = tmp_path / 'sel.txt'
    recs = tool.main([root, '--label-map', 'nyu40-scannet20', '--out',
                      str(out)])
    # README: 73 valid points covering 11 of the 20 classes
    assert [(r['name'], r['Nc'], r['selected']) for r in recs] == [
        ('scene0000_00', 11, True)]
    raw = np.fromfile(osp.join(root, 'scene0000_00.bin'), np.int64)
    lut, K = tool.id_mapping('nyu40-scannet20', None)
    assert len(tool.to_classes(raw, lut, K)) == 73
    assert out.read_text().splitlines()[1:] == ['scene0000_00']
