"""OVSegInferencer on a tiny random SegEarth-OV-architecture model."""
import copy

import numpy as np
import pytest
import torch

from conftest import shared_data_path
from fixtures.tiny_models import TINY_BACKBONE

A = 'road,parking lot;building,roof;tree'
B = 'water;boat,ship'


def tiny_cfg(classes=A):
    return dict(model=dict(
        type='OVCLIPSegmentor', backbone=copy.deepcopy(TINY_BACKBONE),
        class_names=classes, templates='simple_imagenet', 
        test_cfg=dict(mode='slide', crop_size=64, stride=32)), default_scope='mmseg')


def make(classes=A, **kw):
    from ovseg_plugins.apis import OVSegInferencer
    torch.manual_seed(0)
    return OVSegInferencer(tiny_cfg(classes), device='cpu', **kw)


def test_import_pulls_no_mmdet3d():
    from conftest import run_py
    r = run_py(['-c', "import ovseg_plugins.apis as a, sys; "
                "a.OVSegInferencer; bad = [m for m in sys.modules if "
                "m.startswith(('mmdet3d', 'ovseg_plugins.seg3d'))]; "
                "assert not bad, bad"])
    assert r.returncode == 0, r.stderr


def test_classes_change_without_rebuild_equals_fresh_build(tmp_path):
    rng = np.random.default_rng(0)
    img = rng.integers(0, 255, (90, 120, 3), dtype=np.uint8)
    inf = make(A)
    model = inf.model
    out_a = inf(img, return_vis=True)
    assert out_a['predictions'].shape == (90, 120)
    out_b = inf(img, classes=B, return_vis=True, out_dir=str(tmp_path))
    assert inf.model is model  # no rebuild
    fresh = make(B)(img)
    assert np.array_equal(out_b['predictions'], fresh['predictions'])
    # the stock visualiser drew with the call's names and palette
    assert inf.visualizer.dataset_meta['classes'] == ['water', 'boat']
    # ... and the call's vocabulary did not outlive the call
    assert inf.classes == make(A).classes
    assert np.array_equal(inf(img)['predictions'], out_a['predictions'])
    inf.set_vocabulary(B)  # switching for good is set_vocabulary
    assert inf.classes == ['water', 'boat']
    assert out_b['visualization'].shape[:2] == (90, 120)
    assert len(list((tmp_path / 'pred').glob('*_pred.png'))) == 1
    assert len(list((tmp_path / 'vis').glob('*_vis.jpg'))) == 1
    assert not list(tmp_path.rglob('.tmp_*'))  # atomic writes left nothing


def test_inputs_path_list_folder_and_errors(tmp_path):
    from PIL import Image
    rng = np.random.default_rng(1)
    for k in range(2):
        Image.fromarray(rng.integers(0, 255, (70, 80, 3), dtype=np.uint8)
                        ).save(tmp_path / f'{k}.png')
    (tmp_path / 'notes.txt').write_text('not an image')
    inf = make()
    out = inf(str(tmp_path))
    assert len(out['predictions']) == 2
    assert out['predictions'][0].shape == (70, 80)
    one = inf(str(tmp_path / '1.png'))['predictions']
    assert np.array_equal(one, out['predictions'][1])
    with pytest.raises(FileNotFoundError, match='nope.png'):
        inf(str(tmp_path / 'nope.png'))


def test_config_names_resolve():
    from ovseg_plugins.apis import resolve_config
    assert resolve_config('segearth/potsdam').endswith(
        'configs/segearth/potsdam.py')
    assert resolve_config('sclip_potsdam').endswith(
        'segearth/baselines/sclip_potsdam.py')
    assert resolve_config('segearth_ov3').endswith('segearth_ov3_sam3.py')
    with pytest.raises(ValueError, match='ambiguous'):
        resolve_config('potsdam')
    with pytest.raises(FileNotFoundError, match='no_such_cfg'):
        resolve_config('no_such_cfg')


def test_named_config_builds_offline_with_random_fallback():
    from ovseg_plugins.apis import OVSegInferencer
    from ovseg_plugins.utils import WeightsNotFoundError
    opts = {'model.backbone': copy.deepcopy(TINY_BACKBONE)}
    opts['model.backbone']['pretrained'] = 'openai'
    with pytest.raises(WeightsNotFoundError):
        OVSegInferencer('segearth/baselines/sclip_potsdam', device='cpu',
                        cfg_options=opts)
    inf = OVSegInferencer('segearth/baselines/sclip_potsdam', device='cpu',
                          cfg_options=opts, random_weights_ok=True)
    assert inf.random_weights
    assert inf.classes[0] == 'road' and inf.model.bg_idx == 5
    assert inf.model.backbone.attn_mode == 'sclip'


def test_segmentor_checkpoint_as_weights(tmp_path):
    img = np.random.default_rng(2).integers(0, 255, (64, 64, 3), np.uint8)
    torch.manual_seed(7)
    donor = make()
    for p in donor.model.parameters():
        p.data.add_(0.01 * torch.randn_like(p))
    torch.save(dict(state_dict=donor.model.state_dict(), meta={}),
               tmp_path / 'seg.pth')
    donor.model.__dict__.pop('_text_memo', None)
    donor.model.set_vocabulary(A)  # text of the perturbed weights
    loaded = make(weights=str(tmp_path / 'seg.pth'))
    torch.testing.assert_close(loaded.model.text_embeds,
                               donor.model.text_embeds)
    assert np.array_equal(loaded(img)['predictions'],
                          donor(img)['predictions'])


def test_segment_raster_real_geotiff(tmp_path):
    rasterio = pytest.importorskip('rasterio')
    src = shared_data_path('rs', 'openearthmap_demo', 'oem_koeln_50.tif')
    inf = make()
    res = inf.segment_raster(src, str(tmp_path / 'l.tif'), tile_size=512,
                             progress=False)  # 3 x 3 windows of 448 px
    with rasterio.open(src) as a, rasterio.open(tmp_path / 'l.tif') as b:
        assert (a.crs, a.transform, a.shape) == (b.crs, b.transform, b.shape)
        labels = b.read(1)
    assert res['windows'] == 9 and labels.max() < 3
    assert abs(sum(res['class_fraction'].values()) - 1) < 1e-9


def test_no_seams_on_constant_features(tmp_path, monkeypatch):
    """Zero positional embeddings + a constant image = identical patch
    features everywhere: one label across every window border."""
    pytest.importorskip('rasterio')
    import os.path as osp
    monkeypatch.syspath_prepend(osp.join(osp.dirname(__file__), 'raster'))
    from raster_helpers import write_raster
    inf = make()
    inf.model.backbone.visual.positional_embedding.data.zero_()
    data = np.full((3, 300, 260), 120, np.uint8)
    write_raster(tmp_path / 'c.tif', data)
    res = inf.segment_raster(str(tmp_path / 'c.tif'), str(tmp_path / 'o.tif'),
                             tile_size=128, progress=False)
    import rasterio
    with rasterio.open(tmp_path / 'o.tif') as ds:
        labels = ds.read(1)
    assert res['windows'] == 25
    assert len(np.unique(labels)) == 1 and labels[0, 0] != 255


def test_segearth_ov3_model_and_vocabulary_switch():
    from fixtures.tiny_sam3 import TINY_SAM3_BACKBONE

    from ovseg_plugins.apis import OVSegInferencer
    cfg = dict(model=dict(
        type='SAM3Segmentor', backbone=copy.deepcopy(TINY_SAM3_BACKBONE),
        class_names='road;building,house',
        decode_head=dict(type='DualHeadFusionDecoder',
                         confidence_threshold=0.0)))
    img = np.random.default_rng(3).integers(0, 255, (48, 64, 3), np.uint8)
    torch.manual_seed(0)
    inf = OVSegInferencer(cfg, device='cpu')
    assert inf.random_weights
    out = inf(img, classes='tree;car;water', return_datasamples=True)
    assert out.seg_logits.data.shape == (3, 48, 64)
    assert inf.classes == ['road', 'building']  # for that call only


def test_no_vocabulary_is_a_clear_error():
    from ovseg_plugins.apis import OVSegInferencer
    cfg = tiny_cfg()
    cfg['model']['class_names'] = None
    with pytest.raises(ValueError, match='classes='):
        OVSegInferencer(cfg, device='cpu')


def test_own_classes_switch_the_configs_background_rule_off(monkeypatch):
    """A config's background rule (prob_thd > 0 -> its class bg_idx, e.g.
    Potsdam's clutter = 5) names one of ITS classes: with other classes it
    is switched off, in the log, unless bg_idx / prob_thd are given."""
    import ovseg_plugins.apis.ov_seg_inferencer as mod
    from ovseg_plugins.apis import OVSegInferencer
    logged = []
    monkeypatch.setattr(mod, 'print_log', lambda msg, *a, **k:
                        logged.append(msg))
    cfg = tiny_cfg('a;b;c;d;e;clutter')
    cfg['model'].update(prob_thd=0.1, bg_idx=5)
    torch.manual_seed(0)
    inf = OVSegInferencer(copy.deepcopy(cfg), classes='road;tree',
                          device='cpu')
    assert (inf.model.prob_thd, inf.model.bg_idx) == (0., 0)
    log = '\n'.join(logged)
    assert 'prob_thd=0.1 -> their class 5) is off' in log
    assert '--bg-idx, --prob-thd' in log
    own = OVSegInferencer(copy.deepcopy(cfg), classes='road;tree;other',
                          bg_idx=2, prob_thd=0.2, device='cpu')
    assert (own.model.prob_thd, own.model.bg_idx) == (0.2, 2)
    # the config's own classes keep the rule; a call with new classes
    # switches it off the same way for that call (was: bg_idx=5 is outside
    # 2 classes), and the rule is back afterwards
    same = OVSegInferencer(copy.deepcopy(cfg), device='cpu')
    assert (same.model.prob_thd, same.model.bg_idx) == (0.1, 5)
    img = np.zeros((40, 50, 3), np.uint8)
    seen = []
    orig = same.model.predict
    same.model.predict = lambda *a, **k: seen.append(
        (same.model.prob_thd, same.model.bg_idx, same.classes)) or orig(
            *a, **k)
    out = same(img, classes='water;boat,ship')
    assert out['predictions'].shape == (40, 50)
    assert seen == [(0., 0, ['water', 'boat'])]
    assert (same.model.prob_thd, same.model.bg_idx) == (0.1, 5)
    assert same.classes[-1] == 'clutter'
