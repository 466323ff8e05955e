"""A training run killed (SIGKILL) right after a checkpoint and resumed with
``tools/train.py --resume`` ends with the weights, optimizer state and
iteration of an uninterrupted run (deterministic CPU settings)."""
import signal

import pytest
import torch

from conftest import shared_data_path
from rel_helpers import KILL_HOOK, TINY_FCN, ok, run_tool



def _configs(tmp_path, root):
    (tmp_path / 'rel_kill_hook.py').write_text(KILL_HOOK)
    base = tmp_path / 'tiny_fcn_det.py'
    base.write_text(
        f'_base_ = [{TINY_FCN!r}]\n'
        f'data_root = {root!r}\n'
        'train_dataloader = dict(dataset=dict(data_root=data_root))\n'
        'val_dataloader = dict(dataset=dict(data_root=data_root))\n'
        'test_dataloader = val_dataloader\n'
        'randomness = dict(seed=0, deterministic=True)\n')
    kill = tmp_path / 'tiny_fcn_killed.py'
    kill.write_text(
        "_base_ = ['./tiny_fcn_det.py']\n"
        "custom_imports = dict(imports=['ovseg_plugins.seg2d', "
        "'rel_kill_hook'], allow_failed_imports=False)\n"
        # a default hook: the config's own custom_hooks stay as they are
        "default_hooks = dict(kill=dict(type='KillAfterIterHook', at=3))\n")
    return str(base), str(kill)


def _load(p):
    return torch.load(p, map_location='cpu', weights_only=False)


@pytest.mark.slow
def test_killed_then_resumed_run_equals_uninterrupted(tmp_path):
    root = shared_data_path('rs', 'potsdam')
    base, kill = _configs(tmp_path, root)
    env = dict(PYTHONPATH=str(tmp_path))
    full, cut = tmp_path / 'full', tmp_path / 'cut'
    ok(run_tool(['tools/train.py', base, '--work-dir', str(full)], env=env))
    # killed during iteration 3, after the iter-2 checkpoint was written
    r = run_tool(['tools/train.py', kill, '--work-dir', str(cut)], env=env)
    assert r.returncode == -signal.SIGKILL, r.stderr[-3000:]
    assert (cut / 'iter_2.pth').is_file()
    assert not (cut / 'iter_4.pth').exists()
    # auto-resume (latest checkpoint of the work_dir), unchanged config
    out = ok(run_tool(['tools/train.py', base, '--work-dir', str(cut),
                       '--resume'], env=env))
    assert 'resumed' in out.lower() or 'Resuming' in out, out[-2000:]
    a, b = _load(full / 'iter_4.pth'), _load(cut / 'iter_4.pth')
    assert a['meta']['iter'] == b['meta']['iter'] == 4
    assert a['state_dict'].keys() == b['state_dict'].keys()
    for k, v in a['state_dict'].items():
        assert torch.equal(v, b['state_dict'][k]), f'{k} differs'
    # the optimizer (SGD momentum buffers) and scheduler state too
    sa, sb = a['optimizer']['state'], b['optimizer']['state']
    assert sa.keys() == sb.keys() and sa
    for k in sa:
        assert torch.equal(sa[k]['momentum_buffer'], sb[k]['momentum_buffer'])
    assert a['param_schedulers'] == b['param_schedulers']
    # and the interrupted run was really different before resuming
    mid = _load(cut / 'iter_2.pth')['state_dict']
    assert any(not torch.equal(v, mid[k])
               for k, v in a['state_dict'].items() if v.is_floating_point())
