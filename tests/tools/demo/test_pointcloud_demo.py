"""tools/demo/pointcloud_demo.py end to end on the generated room."""
import os.path as osp
import re

import numpy as np
import pytest

from conftest import run_py


@pytest.mark.slow
def test_procedural_demo_writes_outputs_and_recovers_labels(tmp_path):
    out = tmp_path / 'out'
    r = run_py(['tools/demo/pointcloud_demo.py', '--procedural',
                str(tmp_path / 'scene'), '--out-dir', str(out),
                '--no-progress'], env=dict(OMP_NUM_THREADS='1'))
    log = r.stdout + r.stderr
    assert r.returncode == 0, log[-3000:]
    assert 'online GeometricTeacher' in log  # no student: said in the log
    m = re.search(r'mIoU against the stored labels: ([0-9.]+)', log)
    assert m and float(m.group(1)) > 80, log[-2000:]  # measured 88.0
    lab = np.load(out / 'room_labels.npy')
    assert len(lab) == len(np.load(out / 'room_scores.npy'))
    for f in ('room_labels.ply', 'room_labels.png'):
        assert osp.isfile(out / f)


@pytest.mark.slow
def test_procedural_demo_in_blocks(tmp_path):
    """--block-size: the room in 4 tiles with context; every point labelled
    once, as well as the whole-scene run."""
    out = tmp_path / 'out'
    r = run_py(['tools/demo/pointcloud_demo.py', '--procedural',
                str(tmp_path / 'scene'), '--out-dir', str(out),
                '--no-progress', '--block-size', '1.6', '--block-overlap',
                '0.5', '--min-visible', '50'],
               env=dict(OMP_NUM_THREADS='1'))
    log = r.stdout + r.stderr
    assert r.returncode == 0, log[-3000:]
    assert 'block 4/4 (tile (1, 1))' in log
    m = re.search(r'mIoU against the stored labels: ([0-9.]+)', log)
    assert m and float(m.group(1)) > 80, log[-2000:]  # measured 88.6
    lab = np.load(out / 'room_labels.npy')
    assert (lab >= 0).all() and len(lab) == len(np.load(
        out / 'room_scores.npy'))


def test_demo_without_a_2d_model_says_what_to_give(tmp_path):
    p = tmp_path / 'c.npy'
    np.save(p, np.zeros((10, 6), np.float32))
    r = run_py(['tools/demo/pointcloud_demo.py', str(p), '--classes',
                'chair;table'])
    assert r.returncode != 0
    assert '--clip' in r.stderr and '--feature-maps' in r.stderr


def test_clip_without_weights_is_refused_naming_the_flags(tmp_path):
    p = tmp_path / 'c.npy'
    np.save(p, np.zeros((10, 6), np.float32))
    r = run_py(['tools/demo/pointcloud_demo.py', str(p), '--classes',
                'chair;table', '--clip', 'ViT-B-16'])
    assert r.returncode != 0
    err = r.stderr.strip().splitlines()
    assert err[-1].startswith('--clip ViT-B-16 needs --clip-weights')
    assert '--random-clip' in err[-1] and len(err) == 1
    r = run_py(['tools/demo/pointcloud_demo.py', str(p), '--classes',
                'chair;table', '--clip', 'ViT-B-16', '--clip-weights',
                str(tmp_path / 'absent.pt')])
    assert r.returncode != 0
    last = r.stderr.strip().splitlines()[-1]
    assert last.startswith('--clip-weights: ') and 'absent.pt' in last
    assert 'give --clip-weights an existing file' in last
    assert 'Traceback' not in r.stderr


def test_cloud_too_small_for_the_view_rule_names_min_visible(tmp_path):
    """A 300-point cloud without images: the demo says it renders views,
    and the error names this tool's own --min-visible (not another
    tool's flag)."""
    p = tmp_path / 'tiny.npy'
    rng = np.random.default_rng(0)
    np.save(p, np.concatenate([rng.uniform(0, 1, (300, 3)),
                               rng.integers(0, 255, (300, 3))], 1))
    r = run_py(['tools/demo/pointcloud_demo.py', str(p), '--classes',
                'chair;table', '--random-clip', '--views', '2', '--size',
                '64', '48', '--no-progress', '--out-dir',
                str(tmp_path / 'out')], env=dict(OMP_NUM_THREADS='1'))
    log = r.stdout + r.stderr
    assert r.returncode != 0
    assert 'no images: rendering 2 views from the coloured points (300 ' \
        'points)' in log
    assert 'the cloud is too small or too sparse for the view rule: 300 ' \
        'points, and no rendered view sees 400 of them' in log
    assert 'Lower --min-visible (e.g. to 15)' in log
    assert 'lift_features.py' not in log
