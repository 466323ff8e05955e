"""tools/train.py, tools/test.py, --resume and mmseg's own test.py, end to end."""
import glob
import os.path as osp
import re

import pytest
import torch

from conftest import REPO_ROOT, run_py, shared_data_path
from fixtures.tiny_configs import tiny_segearth_config
from fixtures.tiny_sam3 import TINY_SAM3_OVERRIDES
from ovseg_plugins.utils.checkpoint import load_torch_file

TINY_FCN = osp.join(REPO_ROOT, 'tests', 'fixtures', 'configs',
                    'tiny_fcn_potsdam.py')


def _ok(r):
    assert r.returncode == 0, (r.stdout[-4000:] + '\n' + r.stderr[-6000:])
    return r.stdout + r.stderr


def _miou(text):
    m = re.findall(r'mIoU:\s*([0-9.]+)', text)
    assert m, f'no mIoU in output:\n{text[-3000:]}'
    return float(m[-1])


@pytest.mark.slow
def test_train_checkpoint_loads_in_test_and_resume(tmp_path):
    root = shared_data_path('rs', 'potsdam')
    opts = [
        '--cfg-options', f'train_dataloader.dataset.data_root={root}',
        f'test_dataloader.dataset.data_root={root}',
        f'val_dataloader.dataset.data_root={root}'
    ]
    wd = str(tmp_path / 'wd')
    out = _ok(run_py(['tools/train.py', TINY_FCN, '--work-dir', wd] + opts))
    ckpt2, ckpt4 = osp.join(wd, 'iter_2.pth'), osp.join(wd, 'iter_4.pth')
    assert osp.isfile(ckpt2) and osp.isfile(ckpt4), out[-2000:]
    # the Runner checkpoint (HistoryBuffer inside) loads in tools/test.py
    out = _ok(run_py(['tools/test.py', TINY_FCN, ckpt4, '--work-dir',
                      str(tmp_path / 'test')] + opts))
    miou = _miou(out)
    assert 0.0 <= miou <= 100.0
    # resume from iter 2 with an explicit path, and auto-resume
    wd2 = str(tmp_path / 'wd2')
    out = _ok(run_py(['tools/train.py', TINY_FCN, '--work-dir', wd2,
                      '--resume', ckpt2] + opts))
    assert 'resumed' in out.lower() or 'Resuming' in out, out[-2000:]
    assert osp.isfile(osp.join(wd2, 'iter_4.pth'))
    assert not osp.isfile(osp.join(wd2, 'iter_2.pth'))
    out = _ok(run_py(['tools/train.py', TINY_FCN, '--work-dir', wd2,
                      '--resume', '--cfg-options', 'train_cfg.max_iters=6',
                      f'train_dataloader.dataset.data_root={root}',
                      f'val_dataloader.dataset.data_root={root}',
                      f'test_dataloader.dataset.data_root={root}']))
    ck = load_torch_file(osp.join(wd2, 'iter_6.pth'))
    assert ck['meta']['iter'] == 6


@pytest.mark.slow
@pytest.mark.parametrize('name,n_tiles', [('potsdam', 1), ('vaihingen', 1),
                                          ('loveda', 3)])
def test_segearth_config_on_real_tiles(tmp_path, name, n_tiles):
    root = shared_data_path('rs', name)
    cfg = tiny_segearth_config(tmp_path, f'configs/segearth/{name}.py')
    out = _ok(run_py(['tools/test.py', cfg, '--work-dir',
                      str(tmp_path / 'wd'), '--out', str(tmp_path / 'pred'),
                      '--cfg-options',
                      f'test_dataloader.dataset.data_root={root}']))
    assert 0.0 <= _miou(out) <= 100.0
    preds = glob.glob(str(tmp_path / 'pred' / '*.png'))
    assert len(preds) == n_tiles


@pytest.mark.slow
def test_mmseg_own_test_script_runs_our_config(tmp_path):
    import mmseg
    script = osp.join(osp.dirname(mmseg.__file__), '.mim', 'tools', 'test.py')
    if not osp.isfile(script):
        pytest.skip(f'mmseg has no bundled tools at {script}')
    root = shared_data_path('rs', 'potsdam')
    cfg = tiny_segearth_config(tmp_path, 'configs/segearth/potsdam.py')
    # mmseg's test.py requires a checkpoint argument: give an empty one
    ckpt = tmp_path / 'empty.pth'
    torch.save({'state_dict': {}, 'meta': {}}, ckpt)
    r = run_py([script, cfg, str(ckpt), '--work-dir', str(tmp_path / 'wd'),
                '--cfg-options', f'test_dataloader.dataset.data_root={root}'],
               env={'PYTHONPATH': REPO_ROOT})
    assert 0.0 <= _miou(_ok(r)) <= 100.0


@pytest.mark.slow
def test_segearth_ov3_potsdam_with_tiny_sam3(tmp_path):
    root = shared_data_path('rs', 'potsdam')
    p = tmp_path / 'tiny_ov3.py'
    leaf = osp.join(REPO_ROOT, 'configs', 'segearth_ov3', 'potsdam.py')
    p.write_text(f"_base_ = [{leaf!r}]\n"
                 f"model = dict(backbone=dict(pretrained=None, "
                 f"config_overrides={TINY_SAM3_OVERRIDES!r}))\n")
    out = _ok(run_py(['tools/test.py', str(p), '--work-dir',
                      str(tmp_path / 'wd'), '--cfg-options',
                      f'test_dataloader.dataset.data_root={root}']))
    assert 0.0 <= _miou(out) <= 100.0
    assert re.search(r'mFscore:\s*[0-9.]+', out)
