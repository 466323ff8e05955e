"""A training run killed (SIGKILL) right after a checkpoint and resumed with
``tools/train.py --resume`` ends with the weights, optimizer state and
iteration of an uninterrupted run (deterministic CPU settings)."""
import pytest

from conftest import shared_data_path
from rel_helpers import TINY_FCN, kill_and_resume, kill_config


def _base_config(tmp_path, root):
    base = tmp_path / 'tiny_fcn_det.py'
    base.write_text(
        f'_base_ = [{TINY_FCN!r}]\n'
        f'data_root = {root!r}\n'
        'train_dataloader = dict(dataset=dict(data_root=data_root))\n'
        'val_dataloader = dict(dataset=dict(data_root=data_root))\n'
        'test_dataloader = val_dataloader\n'
        'randomness = dict(seed=0, deterministic=True)\n')
    return str(base)


@pytest.mark.slow
def test_killed_then_resumed_run_equals_uninterrupted(tmp_path):
    base = _base_config(tmp_path, shared_data_path('rs', 'potsdam'))
    kill = kill_config(tmp_path, base, ['ovseg_plugins.seg2d'])
    a, _ = kill_and_resume(tmp_path, base, kill)
    # SGD with momentum: the buffers were compared
    assert all('momentum_buffer' in s for s in a['optimizer']['state'].values())
