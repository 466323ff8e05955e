"""Bad 3D model descriptions: a GeoPurify config, checkpoint or stored model
config (``meta['model_cfg']``) that cannot build the model is refused with
the file and the key named; a setting given in two places is refused, not
silently ignored in one of them."""
import re

import pytest
import torch

pytest.importorskip('mmdet3d')

CLASSES = 'wall;floor'


def _student(**pooling):
    """A tiny student of the training configs' base: (state dict, cfg)."""
    from mmdet3d.registry import MODELS
    from mmengine.registry import init_default_scope

    import ovseg_plugins.seg3d  # noqa: F401
    from fixtures.tiny_models import tiny_student_cfg
    init_default_scope('mmdet3d')
    m = tiny_student_cfg(16, **pooling)
    torch.manual_seed(0)
    model = MODELS.build(dict(m, class_names=['a'],
                              text_embeddings=torch.randn(1, 16)))
    return model.state_dict(), m


def _ckpt(tmp_path, model_cfg, name='epoch_1.pth', state_dict=None):
    p = tmp_path / name
    torch.save(dict(state_dict=state_dict or _student()[0],
                    meta=dict(model_cfg=model_cfg)), p)
    return str(p)


def _inferencer(tmp_path, **kw):
    from ovseg_plugins.apis import GeoPurifyInferencer
    maps = tmp_path / 'maps'
    maps.mkdir(exist_ok=True)
    return GeoPurifyInferencer(CLASSES, feature_maps=str(maps),
                               text_embeddings=torch.randn(2, 16),
                               show_progress=False, **kw)


def _stored_refused(tmp_path, model_cfg, key):
    """The TypeError of a checkpoint storing ``model_cfg``; asserts that
    it names the file, meta['model_cfg'] and ``key``."""
    ck = _ckpt(tmp_path, model_cfg)
    with pytest.raises(TypeError) as e:
        _inferencer(tmp_path, weights=ck)
    msg = str(e.value)
    assert msg.startswith(f"{ck}: meta['model_cfg']: {key} cannot be "
                          'built: '), msg
    return msg


def test_stored_model_config_of_another_model(tmp_path):
    """A checkpoint whose meta['model_cfg'] describes another model type."""
    _, m = _student()
    ck = _ckpt(tmp_path, dict(m, type='EncoderDecoder3D'))
    with pytest.raises(ValueError) as e:
        _inferencer(tmp_path, weights=ck)
    msg = str(e.value)
    assert f"{ck}: meta['model_cfg']: model.type is 'EncoderDecoder3D'" in msg
    assert 'GeoPurifySegmentor' in msg


def test_stored_model_config_not_a_dict(tmp_path):
    """A checkpoint whose meta['model_cfg'] is text, not the config as
    data (it used to be ignored silently for the base config)."""
    ck = _ckpt(tmp_path, "model = dict(type='GeoPurifySegmentor')")
    with pytest.raises(TypeError) as e:
        _inferencer(tmp_path, weights=ck)
    assert str(e.value) == (
        f"{ck}: meta['model_cfg'] is a str, expected the model config as a "
        'dict (written by StoreModelConfigHook); give the training config '
        'as model=.')


def test_stored_model_config_with_an_unknown_argument(tmp_path):
    """A stored model config with a misspelt backbone argument."""
    _, m = _student()
    m['backbone']['hiden_channels'] = m['backbone'].pop('hidden_channels')
    msg = _stored_refused(tmp_path, m, 'model.backbone')
    assert 'hiden_channels' in msg


def test_stored_model_config_pooling_setting_on_the_head(tmp_path):
    """A stored model config that sets knn on the head besides its
    pooling (two places): refused, naming the one place."""
    _, m = _student()
    m['decode_head']['knn'] = 7
    msg = _stored_refused(tmp_path, m, 'model.decode_head')
    assert 'AffinityPurifyHead: knn is not set here (one place per ' \
        'setting): knn -> decode_head.pooling.knn' in msg


def test_config_file_pooling_setting_on_the_segmentor(tmp_path):
    """A user's GeoPurify config that sets knn on the segmentor besides
    decode_head.pooling (two places)."""
    _, m = _student()
    leaf = tmp_path / 'leaf.py'
    m['knn'] = 7
    leaf.write_text(f'model = {m!r}\n')
    with pytest.raises(TypeError) as e:
        _inferencer(tmp_path, model=str(leaf))
    msg = str(e.value)
    assert msg.startswith(f'{leaf}: model cannot be built: ')
    assert 'GeoPurifySegmentor: knn is not set here (one place per ' \
        'setting): knn -> model.decode_head.pooling.knn (pooling) or ' \
        'model.loss.knn' in msg


def test_stored_model_config_sizes_other_than_the_weights(tmp_path):
    """A stored model config whose student is wider than the checkpoint's
    weights."""
    sd, m = _student()
    m['backbone']['hidden_channels'] = 12
    ck = _ckpt(tmp_path, m, state_dict=sd)
    with pytest.raises(KeyError) as e:
        _inferencer(tmp_path, weights=ck)
    msg = str(e.value)
    assert f"student checkpoint {ck!r} does not match GeoPurifySegmentor" \
        in msg
    assert 'shape mismatches: backbone.' in msg
    assert re.search(r'backbone\.\S+: checkpoint \([^)]*8,?\) vs model '
                     r'\([^)]*12,?\)', msg), msg


def test_stored_model_config_for_other_2d_features(tmp_path):
    """A stored model config for 32-d 2D features, used with a 16-d 2D
    source."""
    _, m = _student()
    ck = _ckpt(tmp_path, dict(m, fused_channels=32))
    with pytest.raises(ValueError) as e:
        _inferencer(tmp_path, weights=ck)
    assert f"{ck}: meta['model_cfg']: model.fused_channels=32 but the 2D " \
        'source gives 16-d features' in str(e.value)


def test_config_without_a_model(tmp_path):
    """A config file given as model= that has no `model` key."""
    leaf = tmp_path / 'no_model.py'
    leaf.write_text('data_root = "data/scannet/"\n')
    with pytest.raises(KeyError) as e:
        _inferencer(tmp_path, model=str(leaf))
    assert f'{leaf}: no `model` key' in str(e.value)



@pytest.mark.parametrize('case', ['another_model', 'other_sizes'])
def test_mmengine_load_checkpoint_of_another_student(tmp_path, case):
    """mmengine's non-strict load_checkpoint (mmdet3d.apis.init_model,
    Runner load_from) given weights without this student, or of other
    sizes - only warned and kept a random student."""
    from mmdet3d.registry import MODELS
    from mmengine.runner import load_checkpoint
    sd, m = _student()
    if case == 'another_model':
        sd = {'backbone.conv1.weight': torch.zeros(8, 3)}
        frag = "missing ['backbone.blocks.0.bn1.bias'"
    else:
        m['backbone']['hidden_channels'] = 12
        frag = 'shape mismatches: backbone.'
    ck = tmp_path / 'other.pth'
    torch.save(dict(state_dict=sd, meta={}), ck)
    model = MODELS.build(dict(m, class_names=['a'],
                              text_embeddings=torch.randn(1, 16)))
    with pytest.raises(KeyError) as e:
        load_checkpoint(model, str(ck), map_location='cpu')
    msg = str(e.value)
    assert 'StudentAffinityNet: the weights loaded into backbone.* do not ' \
        'hold this student (' in msg and frag in msg


BAD_INPUTS_DOC = {
    'test_stored_model_config_of_another_model': (
        '3d', "GeoPurifyInferencer checkpoint whose meta['model_cfg'] "
        'describes another model type',
        "`ValueError`: \"<ckpt>: meta['model_cfg']: model.type is "
        "'EncoderDecoder3D'; GeoPurifyInferencer needs a GeoPurifySegmentor "
        'config"'),
    'test_stored_model_config_not_a_dict': (
        '3d', "Checkpoint whose meta['model_cfg'] is text, not the config as "
        'data - was ignored silently (base config used)',
        "`TypeError`: \"<ckpt>: meta['model_cfg'] is a str, expected the "
        'model config as a dict (written by StoreModelConfigHook); give the '
        'training config as model=."'),
    'test_stored_model_config_with_an_unknown_argument': (
        '3d', "Stored model config (meta['model_cfg']) with a misspelt "
        'backbone argument (`hiden_channels`)',
        "`TypeError`: \"<ckpt>: meta['model_cfg']: model.backbone cannot be "
        "built: StudentAffinityNet.__init__() got an unexpected keyword "
        "argument 'hiden_channels'\""),
    'test_stored_model_config_pooling_setting_on_the_head': (
        '3d', 'Stored model config setting `knn` on the head besides '
        '`decode_head.pooling` (a setting in two places)',
        "`TypeError`: \"<ckpt>: meta['model_cfg']: model.decode_head cannot "
        'be built: AffinityPurifyHead: knn is not set here (one place per '
        'setting): knn -> decode_head.pooling.knn"'),
    'test_config_file_pooling_setting_on_the_segmentor': (
        '3d', 'GeoPurify config (model=) setting `knn` on the segmentor '
        'besides `decode_head.pooling` (a setting in two places)',
        '`TypeError`: "<config>: model cannot be built: GeoPurifySegmentor: '
        'knn is not set here (one place per setting): knn -> '
        'model.decode_head.pooling.knn (pooling) or model.loss.knn ..."'),
    'test_stored_model_config_sizes_other_than_the_weights': (
        '3d', 'Stored model config whose student is wider than the '
        "checkpoint's weights",
        "`KeyError`: \"student checkpoint '<ckpt>' does not match "
        'GeoPurifySegmentor: shape mismatches: backbone.<key>: checkpoint '
        '(..., 8) vs model (..., 12) ..."'),
    'test_stored_model_config_for_other_2d_features': (
        '3d', 'Stored model config for 32-d 2D features with a 16-d 2D '
        'source',
        "`ValueError`: \"<ckpt>: meta['model_cfg']: model.fused_channels=32 "
        'but the 2D source gives 16-d features: use the 2D model the student '
        'was trained with ..."'),
    'test_mmengine_load_checkpoint_of_another_student[another_model]': (
        '3d', "mmengine's `load_checkpoint` (used by `mmdet3d.apis."
        'init_model` and `load_from`) of weights without the GeoPurify '
        'student - was a warning, the student stayed random',
        "`KeyError`: \"StudentAffinityNet: the weights loaded into "
        "backbone.* do not hold this student (missing [...] (N keys)); give "
        'a checkpoint of this GeoPurify config ..."'),
    'test_mmengine_load_checkpoint_of_another_student[other_sizes]': (
        '3d', "mmengine's `load_checkpoint` of a student of other sizes - "
        'was a warning, the student stayed random',
        '`KeyError`: "StudentAffinityNet: ... (shape mismatches: '
        'backbone.<key>: weights (...) vs model (...)); ..."'),
    'test_config_without_a_model': (
        '3d', 'Config file given as model= without a `model` key',
        '`KeyError`: "<config>: no `model` key; give a GeoPurify config '
        '(e.g. configs/geopurify/scannet.py)."'),
}
