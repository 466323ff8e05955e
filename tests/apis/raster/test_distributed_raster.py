"""Window-parallel raster inference with torch.distributed (torchrun,
gloo on CPU, free ports): byte-identical outputs from 1, 2 and 4 processes,
a folder of scenes spread over the processes, resume after kill -9."""
import os
import os.path as osp
import signal
import subprocess
import sys

import numpy as np
import pytest

pytest.importorskip('rasterio')

from conftest import REPO_ROOT, run_py  # noqa: E402
from raster_helpers import write_raster  # noqa: E402

THREADS = dict(OMP_NUM_THREADS='1', MKL_NUM_THREADS='1',
               HF_HUB_OFFLINE='1')
# runs a script with window_job.save_part patched: SIGKILL after the
# OVSEG_TEST_KILL_AT-th part this process saved (only on rank
# OVSEG_TEST_KILL_RANK when set)
KILLER = '''
import os, runpy, signal, sys
import ovseg_plugins.apis.raster.window_job as wj
at, rank = int(os.environ['OVSEG_TEST_KILL_AT']), os.environ.get(
    'OVSEG_TEST_KILL_RANK')
orig, n = wj.save_part, [0]
def save_part(*a, **k):
    orig(*a, **k)
    n[0] += 1
    if n[0] == at and rank in (None, os.environ.get('RANK', '0')):
        os.kill(os.getpid(), signal.SIGKILL)
wj.save_part = save_part
sys.argv = sys.argv[1:]
runpy.run_path(sys.argv[0], run_name='__main__')
'''


@pytest.fixture(scope='module')
def scenes(tmp_path_factory):
    """Two rasters and one picture in a folder, the tiny model config."""
    from PIL import Image

    from fixtures.tiny_configs import tiny_demo_config
    d = tmp_path_factory.mktemp('scenes')
    src = d / 'in'
    src.mkdir()
    rng = np.random.default_rng(0)
    for name, (h, w) in (('a', (300, 260)), ('b', (170, 230))):
        small = rng.integers(0, 256, (3, h // 10 + 1, w // 10 + 1), np.uint8)
        img = np.kron(small, np.ones((1, 10, 10), np.uint8))[:, :h, :w]
        write_raster(src / f'{name}.tif', np.ascontiguousarray(img))
    Image.fromarray(rng.integers(0, 255, (60, 80, 3), np.uint8)).save(
        src / 'c.png')
    return d, tiny_demo_config(d)


def _args(src, cfg, out, *extra):
    return [str(src), '--model', cfg, '--classes', 'road;tree;water',
            '--tile-size', '128', '--scores', '--no-progress', '--out-dir',
            str(out)] + list(extra)


def _dist(nproc, args, killer=None, env=None):
    e = dict(os.environ, PYTHONUNBUFFERED='1', **THREADS, **(env or {}))
    if killer is None:
        cmd = ['bash', osp.join(REPO_ROOT, 'tools', 'dist_infer.sh'),
               str(nproc)] + args
        e.update(PORT='0', PYTHON=sys.executable)
    else:
        cmd = [sys.executable, '-m', 'torch.distributed.run', '--standalone',
               f'--nproc_per_node={nproc}', str(killer),
               'tools/demo/image_demo.py'] + args + ['--launcher', 'pytorch']
    return subprocess.run(cmd, cwd=REPO_ROOT, env=e, capture_output=True,
                          text=True, timeout=600)


def _bytes(out, names=('a_labels.tif', 'a_scores.tif', 'b_labels.tif',
                       'b_scores.tif', 'c_labels.png')):
    return {n: (out / n).read_bytes() for n in names}


def _ok(r):
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-5000:]


@pytest.fixture(scope='module')
def reference(scenes):
    """The outputs of one process on the folder."""
    d, cfg = scenes
    one = d / 'one'
    _ok(run_py(['tools/demo/image_demo.py'] + _args(d / 'in', cfg, one),
               env=THREADS))
    return _bytes(one)


def test_1_2_4_processes_give_byte_identical_outputs(scenes, reference):
    """A folder of 2 rasters + 1 image: 1 process; 2 processes (each takes
    whole rasters); 4 processes (each takes a share of every raster's
    windows; the image goes to one of them)."""
    d, cfg = scenes
    ref = reference
    for n in (2, 4):
        out = d / f'p{n}'
        r = _dist(n, _args(d / 'in', cfg, out))
        _ok(r)
        assert _bytes(out) == ref, n
        assert f'{n} process(es)' in r.stdout or n == 2
        assert not (out / '.ovseg_parts').exists()
        assert not [f for f in os.listdir(out) if f.startswith('.tmp_')]


def test_resume_after_kill_9_is_byte_identical(scenes, reference, tmp_path):
    """kill -9 after 3 windows; the same command refuses to start over
    silently; --resume computes only the missing windows."""
    d, cfg = scenes
    a = d / 'in' / 'a.tif'
    killer = tmp_path / 'killer.py'
    killer.write_text(KILLER)
    cut = tmp_path / 'cut'
    r = run_py([str(killer), 'tools/demo/image_demo.py'] +
               _args(a, cfg, cut),
               env=dict(THREADS, OVSEG_TEST_KILL_AT='3'))
    assert r.returncode == -signal.SIGKILL, r.stderr[-3000:]
    assert not (cut / 'a_labels.tif').exists()
    parts = os.listdir(cut / '.ovseg_parts' / 'a')
    assert sorted(parts)[:3] == ['job.json', 'w0000000.npz', 'w0000001.npz']
    r = run_py(['tools/demo/image_demo.py'] + _args(a, cfg, cut),
               env=THREADS)
    assert r.returncode != 0 and 'Add --resume to finish it' in r.stderr
    r = run_py(['tools/demo/image_demo.py'] + _args(a, cfg, cut, '--resume'),
               env=THREADS)
    _ok(r)
    names = ('a_labels.tif', 'a_scores.tif')
    assert _bytes(cut, names) == {n: reference[n] for n in names}
    import json
    summary = json.loads((cut / 'a_summary.json').read_text())
    assert summary['resumed_windows'] == 3
    assert summary['computed_windows'] == summary['windows'] - 3


def test_a_rank_that_dies_is_resumed(scenes, reference, tmp_path):
    """Rank 1 of 2 is killed after its 2nd window: torchrun stops the job;
    --resume on 2 processes finishes it, byte-identical."""
    d, cfg = scenes
    a = d / 'in' / 'a.tif'
    killer = tmp_path / 'killer.py'
    killer.write_text(KILLER)
    cut = tmp_path / 'cut'
    r = _dist(2, _args(a, cfg, cut), killer,
              env=dict(OVSEG_TEST_KILL_AT='2', OVSEG_TEST_KILL_RANK='1'))
    assert r.returncode != 0
    assert not (cut / 'a_labels.tif').exists()
    _ok(_dist(2, _args(a, cfg, cut, '--resume')))
    names = ('a_labels.tif', 'a_scores.tif')
    assert _bytes(cut, names) == {n: reference[n] for n in names}
