"""mmdet3d's own inference API on configs/geopurify/scannet.py, unchanged,
from a plain script that imports nothing of ours (only the config's
``custom_imports`` does): 0 added lines, given the weights' paths.

The script runs in a folder laid out as the config expects (``data_root =
'data/scannet/'``: points, the fused 2D features and the text embeddings
under it), with random weights of the config's full-size student saved to a
temp file as a Runner checkpoint (with mmengine's message hub, which torch's
``weights_only`` loading accepts only through the config's imports). Its
labels equal ``tools/test.py`` on the same config, checkpoint and scene.
"""
import os.path as osp
import pickle
import shutil

import numpy as np
import pytest
import torch

from conftest import REPO_ROOT, run_py, shared_data_path

pytest.importorskip('mmdet3d')

CONFIG = osp.join(REPO_ROOT, 'configs', 'geopurify', 'scannet.py')

PLAIN_SCRIPT = '''\
import sys

import numpy as np
from mmdet3d.apis import inference_segmentor, init_model

config, checkpoint, pcd, out = sys.argv[1:]
before = sorted(m for m in sys.modules if m.startswith('ovseg_plugins'))
model = init_model(config, checkpoint, device='cpu')
result, _ = inference_segmentor(model, pcd)
np.save(out, result.pred_pts_seg.pts_semantic_mask.cpu().numpy())
print('OURS BEFORE', before)
print('CLASSES', list(model.dataset_meta['classes']))
'''


def _scene_folder(tmp_path):
    """``tmp_path/data/scannet``: the real ScanNet sample's points, mask and
    infos, 512-d fused features and 20 text embeddings (random)."""
    src = shared_data_path('scannet')
    root = tmp_path / 'data' / 'scannet'
    for sub in ('points', 'semantic_mask', 'instance_mask'):
        shutil.copytree(osp.join(src, sub), root / sub)
    with open(osp.join(src, 'scannet_infos.pkl'), 'rb') as f:
        infos = pickle.load(f)
    with open(root / 'scannet_infos_val.pkl', 'wb') as f:
        pickle.dump(infos, f)
    n = len(np.fromfile(root / 'points' / 'scene0000_00.bin',
                        np.float32)) // 6
    rng = np.random.default_rng(0)
    (root / 'geopurify_fused').mkdir()
    np.savez(root / 'geopurify_fused' / 'scene0000_00.npz',
             feat=rng.normal(size=(n, 512)).astype(np.float16),
             mask=np.ones(n, bool))
    torch.save(torch.from_numpy(rng.normal(size=(20, 512)).astype(
        np.float32)), root / 'text_embeds_scannet20.pt')
    return root, n


def _random_checkpoint(tmp_path, root):
    """The config's model (full size) with random weights, saved as a
    Runner checkpoint: state_dict, meta with dataset_meta, and a
    message_hub holding an mmengine HistoryBuffer (numpy inside), which
    torch >= 2.6's weights_only loading refuses unless allow-listed."""
    from mmdet3d.registry import MODELS
    from mmengine.config import Config
    from mmengine.logging import HistoryBuffer
    from mmengine.registry import DefaultScope
    cfg = Config.fromfile(CONFIG)
    cfg.model.text_embeddings = str(root / 'text_embeds_scannet20.pt')
    torch.manual_seed(0)
    with DefaultScope.overwrite_default_scope('mmdet3d'):
        model = MODELS.build(cfg.model)
    ckpt = tmp_path / 'geopurify_random.pth'
    loss = HistoryBuffer()
    loss.update(0.5)
    torch.save(dict(state_dict=model.state_dict(), meta=dict(
        dataset_meta=dict(classes=list(cfg.class_names)), epoch=1, iter=4),
        message_hub=dict(log_scalars={'train/loss': loss},
                         runtime_info=dict(epoch=1), resumed_keys={})),
        ckpt)
    return str(ckpt)


@pytest.mark.slow
def test_init_model_and_inference_segmentor_with_0_added_lines(tmp_path):
    root, n = _scene_folder(tmp_path)
    ckpt = _random_checkpoint(tmp_path, root)
    script = tmp_path / 'plain.py'
    script.write_text(PLAIN_SCRIPT)
    env = dict(PYTHONPATH=REPO_ROOT, OMP_NUM_THREADS='1')
    r = run_py([str(script), CONFIG, ckpt, 'data/scannet/points/'
                'scene0000_00.bin', str(tmp_path / 'plain_labels.npy')],
               cwd=str(tmp_path), env=env)
    log = r.stdout + r.stderr
    assert r.returncode == 0, log[-4000:]
    assert 'OURS BEFORE []' in log  # only custom_imports brings ours in
    # the model's vocabulary: the config's class-name file
    with open(osp.join(REPO_ROOT, 'configs', 'geopurify', 'class_names',
                       'scannet20.txt')) as f:
        vocabulary = [line.strip() for line in f if line.strip()]
    assert f'CLASSES {vocabulary}' in log
    # control: without the config's custom_imports (our allow-list of
    # mmengine's HistoryBuffer) torch refuses this checkpoint
    c = run_py(['-c', f'import torch; torch.load({ckpt!r})'],
               cwd=str(tmp_path))
    assert c.returncode != 0 and 'HistoryBuffer' in c.stderr, c.stderr[-2000:]
    plain = np.load(tmp_path / 'plain_labels.npy')
    assert plain.shape == (n, ) and 0 <= plain.min() <= plain.max() < 20
    # the same config and checkpoint through tools/test.py: same labels
    t = run_py([osp.join(REPO_ROOT, 'tools', 'test.py'), CONFIG, ckpt,
                '--out', str(tmp_path / 'out'), '--work-dir',
                str(tmp_path / 'work')], cwd=str(tmp_path), env=env)
    assert t.returncode == 0, (t.stdout + t.stderr)[-4000:]
    np.testing.assert_array_equal(
        plain, np.load(tmp_path / 'out' / 'scene0000_00.npy'))
