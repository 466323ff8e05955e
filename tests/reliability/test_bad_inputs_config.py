"""Bad settings that the frameworks accepted silently: misspelled evaluator
options, one-class vocabularies, a CLIP backbone under another model's
normalisation, a setting given in two places, autocast spellings, pickled
text-embedding arrays. Each case is one ``pytest.param``: its one-line
description (the docs/bad_inputs.md row), the input maker, the exact error
(or warning) type and the strings the message must contain."""
import numpy as np
import pytest
import torch

from fixtures.tiny_models import TINY_BACKBONE, tiny_ovclip_segmentor
from rel_helpers import check_error

IMAGENET = dict(type='SegDataPreProcessor', mean=[123.675, 116.28, 103.53],
                std=[58.395, 57.12, 57.375], bgr_to_rgb=True)


def _evaluator(**cfg):
    from mmengine.config import Config

    from ovseg_plugins.utils.config_checks import check_evaluator_options
    return lambda: check_evaluator_options(Config(cfg))


def _stub_sam3(**kw):
    from reliability.test_bad_inputs_params import _sam3
    return lambda: _sam3(**kw)


def _set_vocabulary(names):
    model = tiny_ovclip_segmentor()
    return lambda: model.set_vocabulary(names)


def _head_npy(tmp_path):
    from mmseg.registry import MODELS
    p = tmp_path / 'text.npy'
    np.save(p, np.array([np.zeros(4), None], dtype=object), allow_pickle=True)
    return lambda: MODELS.build(dict(
        type='CLSRemovalHead', class_names='road;building',
        text_embeddings=str(p), templates='photo'))


def _stock_clip_under_imagenet(tmp_path):
    import copy

    from mmseg.registry import MODELS

    from ovseg_plugins.utils.config_checks import check_clip_normalisation
    torch.manual_seed(0)
    model = MODELS.build(dict(
        type='EncoderDecoder', data_preprocessor=IMAGENET,
        backbone=dict(copy.deepcopy(TINY_BACKBONE), out_image=True),
        neck=dict(type='BilinearUpsampler'),
        decode_head=dict(type='CLSRemovalHead', class_names='road;building',
                         text_embeddings=_unit_rows(tmp_path, 2, 16))))

    def call():
        assert check_clip_normalisation(model)
    return call


def _unit_rows(tmp_path, n, d):
    p = tmp_path / 'unit.npy'
    a = np.random.default_rng(0).normal(size=(n, d)).astype(np.float32)
    np.save(p, a / np.linalg.norm(a, axis=1, keepdims=True))
    return str(p)


CASES = [
    pytest.param('misspelled evaluator option (test_evaluator.iou_metrik): '
                 'was ignored, the run reported plain mIoU',
                 lambda t: _evaluator(test_evaluator=dict(
                     type='IoUMetric', iou_metrik=['mFscore'])),
                 ValueError, ("test_evaluator: IoUMetric has no option "
                              "['iou_metrik']", "'iou_metrics'",
                              'fix its spelling'),
                 id='evaluator_misspelled_option'),
    pytest.param('misspelled option of the second metric of a val_evaluator '
                 'list',
                 lambda t: _evaluator(val_evaluator=[
                     dict(type='IoUMetric'),
                     dict(type='IoUMetric', ignore_idx=0)]),
                 ValueError, ("val_evaluator: IoUMetric has no option "
                              "['ignore_idx']", "'ignore_index'"),
                 id='evaluator_list_misspelled'),
    pytest.param('misspelled option inside Evaluator(metrics=[...])',
                 lambda t: _evaluator(test_evaluator=dict(
                     type='Evaluator', metrics=[dict(type='IoUMetric',
                                                     prefx='x')])),
                 ValueError, ("IoUMetric has no option ['prefx']",
                              "'prefix'"),
                 id='evaluator_metrics_misspelled'),
    pytest.param('one-class vocabulary without prob_thd (OVCLIPSegmentor): '
                 'labelled every pixel with it',
                 lambda t: lambda: tiny_ovclip_segmentor(
                     class_names='building'),
                 ValueError, ("OVCLIPSegmentor: the vocabulary", "one class "
                              "('building')", "'background;building'",
                              'prob_thd'),
                 id='one_class_ovclip'),
    pytest.param('one-class vocabulary switched to with set_vocabulary',
                 lambda t: _set_vocabulary(['water']), ValueError,
                 ("OVCLIPSegmentor: the vocabulary", "one class ('water')"),
                 id='one_class_set_vocabulary'),
    pytest.param('one-class vocabulary without prob_thd (SAM3Segmentor)',
                 lambda t: _stub_sam3(class_names='car'), ValueError,
                 ("SAM3Segmentor: the vocabulary", "one class ('car')"),
                 id='one_class_sam3'),
    pytest.param("autocast_dtype='float16' (OVCLIPSegmentor)",
                 lambda t: lambda: tiny_ovclip_segmentor(
                     autocast_dtype='float16'), ValueError,
                 ('OVCLIPSegmentor: autocast_dtype', "got 'float16'",
                  "write 'fp16' for float16"),
                 id='autocast_float16_ovclip'),
    pytest.param("autocast_dtype='float16' (SAM3Segmentor): was a KeyError",
                 lambda t: _stub_sam3(autocast_dtype='float16'), ValueError,
                 ('SAM3Segmentor: autocast_dtype', "got 'float16'",
                  "write 'fp16' for float16"),
                 id='autocast_float16_sam3'),
    pytest.param("autocast_dtype='bfloat16' (SAM3Segmentor)",
                 lambda t: _stub_sam3(autocast_dtype='bfloat16'),
                 ValueError, ("write 'bf16' for bfloat16", ),
                 id='autocast_bfloat16_sam3'),
    pytest.param('backbone weights given in two places (model.pretrained '
                 'and model.backbone.pretrained differ): one was ignored',
                 lambda t: lambda: tiny_ovclip_segmentor(
                     pretrained='/a/clip.pt', backbone=dict(
                         TINY_BACKBONE, pretrained='/b/clip.pt')),
                 ValueError, ("OVCLIPSegmentor: pretrained='/a/clip.pt' and "
                              "backbone.pretrained='/b/clip.pt' name "
                              'different weights',
                              'set only model.backbone.pretrained'),
                 id='pretrained_two_places'),
    pytest.param('text-embedding .npy holding a pickled object array '
                 "(CLSRemovalHead): numpy's message named no file",
                 _head_npy, ValueError,
                 ('text.npy', 'Python-object (pickled) array',
                  'never loaded', 'np.save'),
                 id='text_embeddings_object_npy'),
]


@pytest.mark.parametrize('desc,make,exc,needles', CASES)
def test_bad_config_setting(mmseg_scope, tmp_path, desc, make, exc,
                            needles):
    call = make(tmp_path)
    with pytest.raises(exc) as e:
        call()
    check_error(e.value, exc, needles, desc)


def test_clip_backbone_under_imagenet_normalisation_warns(mmseg_scope):
    """OVCLIPSegmentor given a stock mmseg (ImageNet) data preprocessor:
    was silent; now a warning with the values to set."""
    with pytest.warns(UserWarning) as w:
        tiny_ovclip_segmentor(data_preprocessor=IMAGENET)
    msg = str(w[0].message)
    assert 'data_preprocessor mean=[123.675, 116.280, 103.530]' in msg
    assert 'mean=[122.771, 116.746, 104.094] std=[68.501, 66.632, 70.323]' \
        in msg
    assert 'set model.data_preprocessor.mean / .std' in msg


def test_stock_segmentor_with_clip_backbone_warns(mmseg_scope, tmp_path):
    """mmseg's stock EncoderDecoder with DenseCLIPViT under ImageNet
    mean/std (what a stock config keeps): the config's input-check hook
    warns before the run with the right values."""
    with pytest.warns(UserWarning, match=r'EncoderDecoder: data_preprocessor '
                      r'mean=\[123\.675'):
        _stock_clip_under_imagenet(tmp_path)()


def test_matching_settings_are_accepted(mmseg_scope):
    """Controls: valid evaluator options, a one-class vocabulary with a
    background rule, CLIP's own normalisation (no warning)."""
    import warnings
    _evaluator(test_evaluator=dict(type='IoUMetric',
                                   iou_metrics=['mIoU', 'mFscore']))()
    tiny_ovclip_segmentor(class_names='building', prob_thd=0.5)
    with warnings.catch_warnings():
        warnings.simplefilter('error')
        tiny_ovclip_segmentor()


BAD_INPUTS_DOC = {
    'test_clip_backbone_under_imagenet_normalisation_warns': (
        'params', '`OVCLIPSegmentor` under a stock (ImageNet) data '
        'preprocessor - was silent',
        '`UserWarning`: "OVCLIPSegmentor: data_preprocessor mean=[123.675, '
        "116.280, 103.530] std=[58.395, 57.120, 57.375] are not the CLIP "
        "backbone's (...): mean=[122.771, 116.746, 104.094] std=[68.501, "
        '66.632, 70.323] (RGB, 0..255) ... set model.data_preprocessor.mean '
        '/ .std to these values"'),
    'test_stock_segmentor_with_clip_backbone_warns': (
        'params', "mmseg's stock `EncoderDecoder` with `DenseCLIPViT` under "
        'ImageNet mean/std - was silent',
        "`UserWarning` from the config's `RunInputChecksHook` before the run: "
        '"EncoderDecoder: data_preprocessor mean=[123.675, ...] are not the '
        "CLIP backbone's ...\""),
    'test_matching_settings_are_accepted': None,
}
