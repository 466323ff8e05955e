"""SimFeatUp recipe end to end: tools/train.py with a tiny CLIP on CPU."""
import json
import os.path as osp

import pytest
import torch

from conftest import REPO_ROOT, run_py, shared_data_path
from fixtures.tiny_models import TINY_CLIP_CFG, TINY_CLIP_NAME
from ovseg_plugins.utils.checkpoint import load_torch_file


@pytest.mark.slow
def test_simfeatup_training_config_end_to_end(tmp_path):
    imgs = shared_data_path('rs', 'loveda', 'img_dir', 'val')
    cfg = tmp_path / 'tiny_simfeatup.py'
    base = osp.join(REPO_ROOT, 'configs', 'simfeatup',
                    'simfeatup_vit-b16_million-aid.py')
    featurizer = dict(model_name=TINY_CLIP_NAME, model_cfg=TINY_CLIP_CFG,
                      pretrained=None)
    cfg.write_text(f"""_base_ = [{base!r}]
model = dict(featurizer={featurizer!r}, upsampler=dict(feat_dim=64),
             downsampler=dict(dim=64), seed=0)
train_dataloader = dict(batch_size=2, num_workers=0, persistent_workers=False,
    dataset=dict(data_root={imgs!r}, pipeline=[
        dict(type='LoadImageFromFile'),
        dict(type='RandomPadCrop', crop_size=96, seed=0),
        dict(type='PackSegInputs')]))
train_cfg = dict(max_iters=12)
default_hooks = dict(logger=dict(interval=1), checkpoint=dict(interval=12))
randomness = dict(seed=0)
""")
    wd = tmp_path / 'wd'
    r = run_py(['tools/train.py', str(cfg), '--work-dir', str(wd)])
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    scalars = sorted(wd.glob('*/vis_data/scalars.json'))[-1]
    losses = [json.loads(line)['loss'] for line in scalars.read_text()
              .splitlines() if '"loss"' in line]
    assert len(losses) == 12
    first, last = sum(losses[:3]) / 3, sum(losses[-3:]) / 3
    print(f'\n[simfeatup tiny] loss first 3 iters {first:.4f} -> last 3 '
          f'{last:.4f}')
    assert last < first
    ckpt_path = wd / 'iter_12.pth'
    ck = load_torch_file(ckpt_path)
    keys = ck['state_dict'].keys()
    assert not any(k.startswith('featurizer.') for k in keys)
    assert any(k.startswith('upsampler.up.') for k in keys)
    # the saved weights load into the neck as they are
    from ovseg_plugins.seg2d.models.necks import SimFeatUp
    trained = SimFeatUp(feat_dim=64, checkpoint=str(ckpt_path)).eval()
    trained.ensure_weights()
    for k, v in trained.state_dict().items():
        assert torch.equal(v, ck['state_dict']['upsampler.' + k])
    torch.manual_seed(0)
    fresh = SimFeatUp(feat_dim=64).eval()
    x, img = torch.randn(1, 64, 6, 6), torch.randn(1, 3, 96, 96)
    with torch.no_grad():
        diff = (trained(x, img) - fresh(x, img)).abs().max()
    assert diff > 1e-3
