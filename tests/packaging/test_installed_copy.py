"""A non-editable install carries its configs the OpenMMLab way
(``ovseg_plugins/.mim/configs``) and its inferencers work from another
directory, with no repository on the path."""
import json
import os
import os.path as osp
import shutil
import subprocess
import sys

from conftest import REPO_ROOT, run_py

SCRIPT = r'''
import json, sys
import numpy as np
import torch
import ovseg_plugins
from ovseg_plugins.apis import GeoPurifyInferencer, OVSegInferencer
from ovseg_plugins.apis.ov_seg_inferencer import resolve_config

site, tiny, part = sys.argv[1], json.loads(sys.argv[2]), sys.argv[3]
assert ovseg_plugins.__file__.startswith(site), ovseg_plugins.__file__
cfg = resolve_config('segearth')
assert cfg.startswith(site), cfg
if part == 'geo':
    cfg = resolve_config('geopurify')
    assert cfg.startswith(site), cfg
backbone = dict(type='DenseCLIPViT', model_name=tiny['name'],
                model_cfg=tiny['cfg'], pretrained=None)
if part == 'ov':
    inf = OVSegInferencer('segearth', device='cpu', classes='road;building',
                          cfg_options={'model.backbone': backbone},
                          random_weights_ok=True)
    rgb = (np.random.default_rng(0).random((64, 64, 3)) * 255).astype('uint8')
    seg = inf(rgb, return_datasamples=True)
    seg = seg[0] if isinstance(seg, list) else seg
    labels = seg.pred_sem_seg.data
    assert labels.shape[-2:] == (64, 64), labels.shape

labels_2d = int(labels.numel()) if part == 'ov' else 0
points = 0
if part == 'geo':
    P = torch.randn(3, 8, generator=torch.Generator().manual_seed(0))

    def image_fn(rgb):
        x = torch.from_numpy(rgb[2::4, 2::4]).float() / 255.
        return (x @ P).permute(2, 0, 1)

    def text_fn(queries):
        return torch.stack([torch.randn(8, generator=torch.Generator(
        ).manual_seed(sum(map(ord, q)))) for q in queries])

    from ovseg_plugins.seg3d.synthetic import procedural_room
    room = procedural_room(seed=0, spacing=0.12)['points']
    geo = GeoPurifyInferencer('wall;floor', feature_model=image_fn,
                              text_embeddings=text_fn, views=2,
                              render_size=(64, 48), show_progress=False,
                              lift_cfg=dict(min_visible=20))
    pred = geo(room)['predictions'][0]
    points = int(len(pred['pts_semantic_mask']))
print(json.dumps(dict(file=ovseg_plugins.__file__, config=cfg,
                      labels_2d=labels_2d, points=points)))
'''


def _repo_copy(dst: str) -> str:
    """The tracked and untracked-but-not-ignored files of the checkout."""
    files = subprocess.run(
        ['git', 'ls-files', '-z', '--cached', '--others',
         '--exclude-standard'], cwd=REPO_ROOT, capture_output=True,
        check=True).stdout.decode().split('\0')
    for f in filter(None, files):
        src = osp.join(REPO_ROOT, f)
        if not osp.isfile(src) or f.startswith(('tests/', 'docs/', 'demo/',
                                                'experiments/')):
            continue
        os.makedirs(osp.dirname(osp.join(dst, f)) or dst, exist_ok=True)
        shutil.copy2(src, osp.join(dst, f))
    return dst


def test_non_editable_install_runs_both_inferencers(tmp_path):
    from fixtures.tiny_models import TINY_CLIP_CFG, TINY_CLIP_NAME
    src = _repo_copy(str(tmp_path / 'src'))
    site = str(tmp_path / 'site')
    r = subprocess.run(
        [sys.executable, '-m', 'pip', 'install', '--no-deps',
         '--no-build-isolation', '--no-index', '--quiet', '--target', site,
         src], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    configs = osp.join(site, 'ovseg_plugins', '.mim', 'configs')
    assert osp.isfile(osp.join(configs, 'segearth', 'potsdam.py'))
    assert not osp.islink(configs)  # a copy, not a link into the source
    shutil.rmtree(src)  # nothing may come from the source tree
    elsewhere = tmp_path / 'elsewhere'
    elsewhere.mkdir()
    (elsewhere / 'run.py').write_text(SCRIPT)
    tiny = json.dumps(dict(name=TINY_CLIP_NAME, cfg=TINY_CLIP_CFG))
    out = {}
    for part in ('ov', 'geo'):  # one process each
        r = run_py([str(elsewhere / 'run.py'), site, tiny, part],
                   cwd=str(elsewhere),
                   env=dict(PYTHONPATH=site, OMP_NUM_THREADS='1'))
        assert r.returncode == 0, (r.stdout + r.stderr)[-4000:]
        out[part] = json.loads(r.stdout.strip().splitlines()[-1])
        assert out[part]['file'].startswith(site)
        assert out[part]['config'].startswith(configs)
    assert out['ov']['labels_2d'] == 64 * 64 and out['geo']['points'] > 0
