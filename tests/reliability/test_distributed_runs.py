"""Multi-process runs: tools/dist_train.sh and tools/dist_test.sh with 2 CPU
processes (torchrun, launcher pytorch, gloo) give the metrics of the
single-process runs."""
import filecmp
import os

import pytest
import torch

from conftest import shared_data_path
from rel_helpers import (TINY_FCN, final_metrics, ok, per_class_table,
                         run_dist, run_tool, tiny_geopurify_config,
                         tiny_segearth_config)
from ovseg_plugins.utils.checkpoint import load_torch_file


def _data_opts(root):
    return ['--cfg-options'] + [
        f'{s}_dataloader.dataset.data_root={root}'
        for s in ('train', 'val', 'test')
    ]


@pytest.mark.slow
def test_dist_train_2proc_then_metrics_equal_single_process(tmp_path):
    """2-process training (DDP on gloo) trains, saves rank-0 checkpoints and
    validates; its distributed validation equals tools/test.py (1 process)
    on the checkpoint it saved (1 Potsdam tile: the sampler pads rank 1 with
    a duplicate that collect_results must drop)."""
    root = shared_data_path('rs', 'potsdam')
    wd = tmp_path / 'dist_wd'
    out = ok(run_dist('dist_train.sh', [TINY_FCN, '--work-dir', str(wd)]
                      + _data_opts(root) + ['train_cfg.val_interval=4']))
    assert 'Distributed training: True' in out
    assert "'backend': 'gloo'" in out or '"backend": "gloo"' in out or \
        "backend='gloo'" in out
    ckpt = wd / 'iter_4.pth'
    assert ckpt.is_file(), out[-3000:]
    state = load_torch_file(ckpt)
    assert state['meta']['iter'] == 4
    # DDP keys are unwrapped (loadable by a single-process model)
    assert not any(k.startswith('module.') for k in state['state_dict'])
    dist_val = final_metrics(out)
    dist_table = per_class_table(out)
    single = ok(run_tool(['tools/test.py', TINY_FCN, str(ckpt), '--work-dir',
                          str(tmp_path / 'single')] + _data_opts(root)))
    assert final_metrics(single) == dist_val
    assert per_class_table(single) == dist_table


def _same_pngs(a, b):
    fa, fb = sorted(os.listdir(a)), sorted(os.listdir(b))
    assert fa == fb and fa, (fa, fb)
    _, mismatch, errors = filecmp.cmpfiles(a, b, fa, shallow=False)
    assert not mismatch and not errors, (mismatch, errors)


@pytest.mark.slow
def test_dist_test_2d_equals_single_process(tmp_path):
    """SegEarth-OV (tiny CLIP, seed 0) on the 3 LoveDA tiles: 2 ranks get
    2 + 1(+1 padding) tiles; metrics, per-class table and every predicted
    label map equal the single-process run."""
    root = shared_data_path('rs', 'loveda')
    cfg = tiny_segearth_config(tmp_path)
    opts = ['--cfg-options', f'test_dataloader.dataset.data_root={root}']
    single = ok(run_tool(['tools/test.py', cfg, '--work-dir',
                          str(tmp_path / 'w1'), '--out',
                          str(tmp_path / 'p1')] + opts))
    dist = ok(run_dist('dist_test.sh', [cfg, 'none', '--work-dir',
                                        str(tmp_path / 'w2'), '--out',
                                        str(tmp_path / 'p2')] + opts))
    assert 'Distributed launcher: pytorch' in dist
    assert final_metrics(dist) == final_metrics(single)
    assert per_class_table(dist) == per_class_table(single)
    _same_pngs(tmp_path / 'p1', tmp_path / 'p2')
    assert len(os.listdir(tmp_path / 'p1')) == 3


@pytest.mark.slow
def test_dist_test_3d_equals_single_process(tmp_path):
    """GeoPurify (tiny student, seed 0, oracle features) on the real ScanNet
    sample: 2-process tools/test.py equals the single-process run."""
    from fixtures.tiny_configs import write_oracle_features
    root = shared_data_path('scannet')
    write_oracle_features(root, tmp_path)
    cfg = tiny_geopurify_config(tmp_path, root)
    single = ok(run_tool(['tools/test.py', cfg, '--work-dir',
                          str(tmp_path / 'w1')]))
    dist = ok(run_dist('dist_test.sh', [cfg, 'none', '--work-dir',
                                        str(tmp_path / 'w2')]))
    assert 'Distributed launcher: pytorch' in dist
    m = final_metrics(single)
    assert any(k.lower() == 'miou' for k in m), m
    assert final_metrics(dist) == m
    table = per_class_table(single)
    assert per_class_table(dist) == table
    if 'scenes):' in table:  # PointSegMetric: the padding was dropped
        assert '1 scenes' in table, table


def test_nccl_config_on_cpu_only_machine_uses_gloo(monkeypatch):
    """A config asking for nccl (mmseg's default) under --launcher pytorch
    on a machine without CUDA: the process group is made with gloo and DDP
    gets no device_ids (both would fail in mmengine otherwise)."""
    import sys

    import torch.distributed as dist
    from mmengine.config import Config

    from conftest import REPO_ROOT
    if torch.cuda.is_available():
        pytest.skip('CUDA machine: nccl stays')
    sys.path.insert(0, os.path.join(REPO_ROOT, 'tools'))
    from _bootstrap import setup_cpu_distributed
    # MASTER_PORT 0: rank 0's store binds a free port itself (world size 1:
    # nobody else needs to know it), no port picked in advance to race for
    for k, v in dict(MASTER_ADDR='127.0.0.1', MASTER_PORT='0',
                     RANK='0', WORLD_SIZE='1', LOCAL_RANK='0').items():
        monkeypatch.setenv(k, v)
    cfg = Config(dict(launcher='pytorch', env_cfg=dict(
        dist_cfg=dict(backend='nccl', timeout=60))))
    assert not dist.is_initialized()
    try:
        setup_cpu_distributed(cfg)
        assert dist.get_backend() == 'gloo'
        assert cfg.env_cfg.dist_cfg.backend == 'gloo'
        assert cfg.model_wrapper_cfg.type == 'MMDistributedDataParallel'
        assert cfg.model_wrapper_cfg.device_ids is None
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


# The rows of docs/bad_inputs.md (written by tools/misc/bad_inputs_doc.py):
# test (with its parametrize id) -> (section, input, behaviour).
BAD_INPUTS_DOC = {
    'test_nccl_config_on_cpu_only_machine_uses_gloo': (
        'tools',
        '`--launcher pytorch` (torchrun, `tools/dist_*.sh`) on a machine '
        'without CUDA, config asking for nccl',
        'handled: the process group is made with gloo, DDP without '
        '`device_ids` (mmengine would call `torch.cuda.set_device` and '
        'fail)'),
}
