"""Bad config parameters: each is refused when the component is built, with
the exact error type and a message naming the field, its owner (component)
and the allowed range (docs/bad_inputs.md). Before, most of them gave a
silent wrong result (NaN probabilities labelled 0, every pixel background,
the whole image instead of windows)."""

import numpy as np
import pytest
import torch
import torch.nn as nn

from fixtures.tiny_models import (purify_head, tiny_geopurify_cfg,
                                  tiny_ovclip_segmentor)
from ovseg_plugins.utils.validation import (check_covered,
                                            check_finite_output, check_slide)


def _ovclip(**kw):
    return tiny_ovclip_segmentor(templates='photo', **kw)


class _StubSam3(nn.Module):
    """A grounding backbone stand-in (the checks run before it is used)."""
    image_size = 32

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.zeros(1))


def _sam3(**kw):
    from mmseg.registry import MODELS
    MODELS.register_module('ValidationStubSam3', module=_StubSam3,
                           force=True)
    cfg = dict(type='SAM3Segmentor', backbone=dict(type='ValidationStubSam3'),
               class_names='road;building;tree')
    cfg.update(kw)
    return MODELS.build(cfg)


# field, value, error type, message fragments (besides the owner)
OVCLIP_CASES = {
    'stride_larger_than_crop': (
        dict(test_cfg=dict(mode='slide', crop_size=32, stride=48)),
        ValueError, ['test_cfg.stride=48 is larger than '
                     'test_cfg.crop_size=32', 'no prediction']),
    'crop_negative': (
        dict(test_cfg=dict(mode='slide', crop_size=-32, stride=16)),
        ValueError, ['test_cfg.crop_size=-32 is out of range']),
    'crop_not_integer': (
        dict(test_cfg=dict(mode='slide', crop_size=32.5, stride=16)),
        TypeError, ['test_cfg.crop_size must be an integer', 'float 32.5']),
    'stride_zero': (dict(test_cfg=dict(mode='slide', crop_size=32, stride=0)),
                    ValueError, ['test_cfg.stride=0 is out of range']),
    'prob_thd_negative': (dict(prob_thd=-0.1), ValueError,
                          ['prob_thd=-0.1 is out of range', '[0, 1]']),
    'prob_thd_above_one': (dict(prob_thd=1.5), ValueError,
                           ['prob_thd=1.5 is out of range', '[0, 1]']),
    'prob_thd_nan': (dict(prob_thd=float('nan')), ValueError,
                     ['prob_thd=nan is out of range']),
    'prob_thd_string': (dict(prob_thd='0.5'), TypeError,
                        ['prob_thd must be a number', "str '0.5'"]),
    'bg_idx_float': (dict(bg_idx=1.5), TypeError,
                     ['bg_idx must be an integer', 'float 1.5']),
    'bg_idx_bool': (dict(bg_idx=True), TypeError,
                    ['bg_idx must be an integer', 'bool True']),
    'logit_scale_zero': (dict(logit_scale=0), ValueError,
                         ['logit_scale=0.0 is out of range', '(0, inf]']),
    'logit_scale_negative': (dict(logit_scale=-50), ValueError,
                             ['logit_scale=-50.0 is out of range']),
    'logit_scale_inf': (dict(logit_scale=float('inf')), ValueError,
                        ['logit_scale=inf is out of range']),
    'crop_batch_size_zero': (dict(crop_batch_size=0), ValueError,
                             ['crop_batch_size=0 is out of range']),
}


def _refused(build, owner, kw, exc, frags):
    """``build(**kw)`` raises exactly ``exc`` naming ``owner`` and every
    fragment of ``frags``."""
    with pytest.raises(exc) as e:
        build(**kw)
    assert type(e.value) is exc
    msg = str(e.value)
    assert f'{owner}: ' in msg, msg
    for f in frags:
        assert f in msg, (f, msg)


@pytest.mark.parametrize('case', list(OVCLIP_CASES))
def test_ovclip_segmentor_parameter(mmseg_scope, case):
    _refused(_ovclip, 'OVCLIPSegmentor', *OVCLIP_CASES[case])


SAM3_CASES = {
    'crop_negative': (dict(test_cfg=dict(mode='slide', crop_size=-1)),
                      ValueError, ['test_cfg.crop_size=-1 is out of range']),
    'stride_larger_than_crop': (
        dict(test_cfg=dict(mode='slide', crop_size=32, stride=64)),
        ValueError, ['test_cfg.stride=64 is larger than '
                     'test_cfg.crop_size=32']),
    'prob_thd_above_one': (dict(prob_thd=2), ValueError,
                           ['prob_thd=2.0 is out of range']),
    'bg_idx_float': (dict(bg_idx=0.0), TypeError,
                     ['bg_idx must be an integer']),
}


@pytest.mark.parametrize('case', list(SAM3_CASES))
def test_sam3_segmentor_parameter(mmseg_scope, case):
    _refused(_sam3, 'SAM3Segmentor', *SAM3_CASES[case])


def test_sam3_crop_zero_means_whole_image(mmseg_scope):
    """``slide_crop=0`` (the old alias of ``test_cfg.mode='whole'``, the
    default) is the whole image, not an error."""
    with pytest.warns(FutureWarning, match='old alias'):
        seg = _sam3(slide_crop=0)
    assert seg.test_cfg.mode == 'whole'


TEST_CFG_CASES = {
    'given_twice': (
        _ovclip, dict(slide_crop=64),
        ['OVCLIPSegmentor: slide_crop=64 and test_cfg.crop_size=32 set the '
         'same thing twice; keep test_cfg.crop_size only']),
    'unknown_key': (
        _ovclip, dict(test_cfg=dict(mode='slide', crop=224, stride=112)),
        ["OVCLIPSegmentor: test_cfg has unknown keys ['crop']; it takes "
         "['mode', 'crop_size', 'stride']"]),
    'mode_typo': (
        _ovclip, dict(test_cfg=dict(mode='slid')),
        ["OVCLIPSegmentor: test_cfg.mode='slid'; use 'slide' or 'whole'"]),
    'slide_without_crop': (
        _sam3, dict(test_cfg=dict(mode='slide')),
        ["SAM3Segmentor: test_cfg.mode='slide' needs test_cfg.crop_size"]),
    'whole_alias_contradicts_slide': (
        _sam3, dict(slide_crop=0, test_cfg=dict(mode='slide', crop_size=64)),
        ['SAM3Segmentor: slide_crop=0 (whole image) contradicts '
         "test_cfg.mode='slide'"]),
}


@pytest.mark.parametrize('case', list(TEST_CFG_CASES))
def test_test_cfg_refused(mmseg_scope, case):
    """Windows are set in ``test_cfg`` as in mmseg's EncoderDecoder; a
    setting given twice or unknown was silently ignored in one place."""
    build, kw, frags = TEST_CFG_CASES[case]
    with pytest.raises(ValueError) as e:
        build(**kw)
    for f in frags:
        assert f in str(e.value), (f, str(e.value))


def _geopurify_cfg(tmp_path, **kw):
    torch.save(torch.nn.functional.normalize(torch.randn(3, 8), dim=-1),
               tmp_path / 'text.pt')
    return tiny_geopurify_cfg(tmp_path / 'text.pt',
                              head=dict(knn=4, iterations=1), **kw)


GEOPURIFY_CASES = {
    'knn_zero': (dict(decode_head=purify_head(knn=0)), ValueError,
                 'GeometryGuidedPooling: knn=0'),
    'knn_float': (dict(decode_head=purify_head(knn=4.0)), TypeError,
                  'GeometryGuidedPooling: knn must be an integer'),
    'voxel_size_zero': (dict(voxel_size=0), ValueError,
                        'GeoPurifySegmentor: voxel_size=0.0 is out of range'),
    'voxel_size_negative': (dict(voxel_size=-0.02), ValueError,
                            'GeoPurifySegmentor: voxel_size=-0.02'),
    'normal_knn_too_small': (dict(normal_knn=1), ValueError,
                             'GeoPurifySegmentor: normal_knn=1'),
    'chunk_zero': (dict(decode_head=purify_head(knn=4, chunk=0)), ValueError,
                   'GeometryGuidedPooling: chunk=0'),
    'teacher_channels_negative': (dict(teacher_channels=-8), ValueError,
                                  'GeoPurifySegmentor: teacher_channels=-8'),
    'head_sharpen_zero': (dict(decode_head=purify_head(knn=4, sharpen=0)),
                          ValueError, 'GeometryGuidedPooling: sharpen=0.0'),
    'head_iterations_negative': (dict(decode_head=purify_head(
        knn=4, iterations=-1)), ValueError,
        'GeometryGuidedPooling: iterations=-1'),
}


@pytest.mark.parametrize('case', list(GEOPURIFY_CASES))
def test_geopurify_parameter(tmp_path, case):
    pytest.importorskip('mmdet3d')
    import ovseg_plugins.seg3d  # noqa: F401 - registers the components
    from mmdet3d.registry import MODELS
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet3d')
    kw, exc, frag = GEOPURIFY_CASES[case]
    with pytest.raises(exc) as e:
        MODELS.build(_geopurify_cfg(tmp_path, **kw))
    assert type(e.value) is exc
    assert frag in str(e.value), str(e.value)


def test_point_features_expected_dim_zero():
    pytest.importorskip('mmdet3d')
    from ovseg_plugins.seg3d.datasets.transforms import LoadPointFeatures
    with pytest.raises(ValueError) as e:
        LoadPointFeatures('feats', expected_dim=0)
    assert 'LoadPointFeatures: expected_dim=0 is out of range' in str(e.value)


# ------------------------------------------------- slide windows / merges
def test_slide_windows_stride_larger_than_crop():
    """The window grid itself refuses a gap (other callers than the
    segmentors, e.g. large-raster tiling)."""
    from ovseg_plugins.seg2d.models.utils.slide import slide_windows
    with pytest.raises(ValueError) as e:
        slide_windows(100, 100, (32, 32), (64, 64))
    assert 'slide stride (64, 64) is larger than the crop (32, 32)' in str(
        e.value) and 'test_cfg.stride <= test_cfg.crop_size' in str(e.value)


def test_slide_stride_equal_to_crop_covers_everything():
    """Stride == crop (no overlap) is allowed and covers every pixel."""
    from ovseg_plugins.seg2d.models.utils.slide import slide_windows
    count = np.zeros((100, 70))
    for y1, y2, x1, x2 in slide_windows(100, 70, (32, 32), (32, 32)):
        count[y1:y2, x1:x2] += 1
    assert (count > 0).all()
    assert check_slide(32, 32) == ((32, 32), (32, 32))


def test_merge_with_uncovered_pixels_refused():
    """The guard at the merge of slide windows: a pixel no window covered
    (count 0) would be 0/0 = NaN, labelled 0 by argmax."""
    count = torch.ones(1, 1, 8, 8)
    count[..., 3, 3:5] = 0
    with pytest.raises(RuntimeError) as e:
        check_covered(count, 'OVCLIPSegmentor.slide_inference')
    msg = str(e.value)
    assert 'OVCLIPSegmentor.slide_inference: 2 pixels are covered by no ' \
        'window' in msg and 'test_cfg.stride <= test_cfg.crop_size' in msg


def test_nan_probabilities_never_labelled(mmseg_scope):
    """NaN query logits (e.g. fp16 overflow, broken weights) are refused
    with the image named instead of being argmax-ed to class 0."""
    from mmseg.structures import SegDataSample

    from ovseg_plugins.seg2d.models.segmentors.ov_clip_segmentor import \
        pack_predictions
    logits = torch.zeros(1, 3, 4, 4)
    logits[0, :, 1, 1] = float('nan')
    ds = SegDataSample(metainfo=dict(ori_shape=(4, 4), img_shape=(4, 4),
                                     img_path='tile_07.png'))
    with pytest.raises(FloatingPointError) as e:
        pack_predictions(logits, [ds], torch.arange(3), 3)
    assert 'tile_07.png: seg_logits contains NaN/inf' in str(e.value)
    check_finite_output('seg_logits', torch.zeros(2))  # finite: passes


# The rows of docs/bad_inputs.md (written by tools/misc/bad_inputs_doc.py):
# test (with its parametrize id) -> (section, input, behaviour).
BAD_INPUTS_DOC = {
    'test_ovclip_segmentor_parameter[stride_larger_than_crop]': (
        'params',
        '`OVCLIPSegmentor` `test_cfg.stride` larger than '
        '`test_cfg.crop_size` (48 vs 32) - was NaN probabilities between '
        'windows, labelled 0',
        '`ValueError` at build: "OVCLIPSegmentor: test_cfg.stride=48 is '
        'larger than test_cfg.crop_size=32: the pixels between two windows '
        'would get no prediction. Set test_cfg.stride <= '
        'test_cfg.crop_size"'),
    'test_ovclip_segmentor_parameter[crop_negative]': (
        'params', '`test_cfg.crop_size=-32`',
        '`ValueError`: "OVCLIPSegmentor: test_cfg.crop_size=-32 is out of '
        'range: it must be in [1, inf]"'),
    'test_ovclip_segmentor_parameter[crop_not_integer]': (
        'params', '`test_cfg.crop_size=32.5`',
        '`TypeError`: "OVCLIPSegmentor: test_cfg.crop_size must be an '
        'integer, got float 32.5"'),
    'test_ovclip_segmentor_parameter[stride_zero]': (
        'params', '`test_cfg.stride=0`',
        '`ValueError`: "OVCLIPSegmentor: test_cfg.stride=0 is out of '
        'range"'),
    'test_ovclip_segmentor_parameter[prob_thd_negative]': (
        'params', '`prob_thd=-0.1`',
        '`ValueError`: "OVCLIPSegmentor: prob_thd=-0.1 is out of range: it '
        'must be a finite number in [0, 1]"'),
    'test_ovclip_segmentor_parameter[prob_thd_above_one]': (
        'params',
        '`prob_thd=1.5` - was every pixel silently background',
        'same `ValueError` (`[0, 1]`)'),
    'test_ovclip_segmentor_parameter[prob_thd_nan]': (
        'params', '`prob_thd=nan`', 'same `ValueError`'),
    'test_ovclip_segmentor_parameter[prob_thd_string]': (
        'params', "`prob_thd='0.5'` (a string)",
        '`TypeError`: "OVCLIPSegmentor: prob_thd must be a number, got str '
        '\'0.5\'"'),
    'test_ovclip_segmentor_parameter[bg_idx_float]': (
        'params', '`bg_idx=1.5` - was accepted and truncated',
        '`TypeError`: "OVCLIPSegmentor: bg_idx must be an integer, got '
        'float 1.5; write it without a decimal point or quotes"'),
    'test_ovclip_segmentor_parameter[bg_idx_bool]': (
        'params', '`bg_idx=True`', 'same `TypeError`'),
    'test_ovclip_segmentor_parameter[logit_scale_zero]': (
        'params',
        '`logit_scale=0` - was a uniform softmax, every pixel class 0',
        '`ValueError`: "OVCLIPSegmentor: logit_scale=0.0 is out of range: '
        'it must be a finite number in (0, inf]"'),
    'test_ovclip_segmentor_parameter[logit_scale_negative]': (
        'params', '`logit_scale=-50` (inverted ranking)',
        'same `ValueError`'),
    'test_ovclip_segmentor_parameter[logit_scale_inf]': (
        'params', '`logit_scale=inf` (NaN softmax)', 'same `ValueError`'),
    'test_ovclip_segmentor_parameter[crop_batch_size_zero]': (
        'params', '`crop_batch_size=0` - was silently raised to 1',
        '`ValueError`: "OVCLIPSegmentor: crop_batch_size=0 is out of range"'),
    'test_sam3_segmentor_parameter[crop_negative]': (
        'params',
        '`SAM3Segmentor` `test_cfg.crop_size=-1` - was the whole image '
        'silently',
        '`ValueError`: "SAM3Segmentor: test_cfg.crop_size=-1 is out of '
        'range"'),
    'test_sam3_segmentor_parameter[stride_larger_than_crop]': (
        'params', '`SAM3Segmentor` stride 64 > crop 32',
        '`ValueError`: "SAM3Segmentor: test_cfg.stride=64 is larger than '
        'test_cfg.crop_size=32 ..."'),
    'test_sam3_segmentor_parameter[prob_thd_above_one]': (
        'params', '`SAM3Segmentor` `prob_thd=2`',
        '`ValueError`: "SAM3Segmentor: prob_thd=2.0 is out of range"'),
    'test_sam3_segmentor_parameter[bg_idx_float]': (
        'params', '`SAM3Segmentor` `bg_idx=0.0`',
        '`TypeError`: "SAM3Segmentor: bg_idx must be an integer"'),
    'test_sam3_crop_zero_means_whole_image': (
        'params', '`SAM3Segmentor` `slide_crop=0` (old alias)',
        'handled: the whole image (`test_cfg.mode=\'whole\'`, the '
        'documented default), with a `FutureWarning` naming test_cfg'),
    'test_test_cfg_refused[given_twice]': (
        'params',
        '`OVCLIPSegmentor` window size given as the old `slide_crop` and in '
        '`test_cfg` - before, `test_cfg` was ignored silently',
        '`ValueError`: "OVCLIPSegmentor: slide_crop=64 and '
        'test_cfg.crop_size=32 set the same thing twice; keep '
        'test_cfg.crop_size only (slide_crop is an old alias)."'),
    'test_test_cfg_refused[unknown_key]': (
        'params', '`test_cfg=dict(crop=224, ...)` (a misspelt key)',
        '`ValueError`: "OVCLIPSegmentor: test_cfg has unknown keys '
        '[\'crop\']; it takes [\'mode\', \'crop_size\', \'stride\'] as '
        'mmseg\'s EncoderDecoder does."'),
    'test_test_cfg_refused[mode_typo]': (
        'params', "`test_cfg.mode='slid'`",
        '`ValueError`: "OVCLIPSegmentor: test_cfg.mode=\'slid\'; use '
        '\'slide\' or \'whole\'."'),
    'test_test_cfg_refused[slide_without_crop]': (
        'params', "`SAM3Segmentor` `test_cfg=dict(mode='slide')` without a "
        'crop size',
        '`ValueError`: "SAM3Segmentor: test_cfg.mode=\'slide\' needs '
        'test_cfg.crop_size (and stride) ..."'),
    'test_test_cfg_refused[whole_alias_contradicts_slide]': (
        'params', "`SAM3Segmentor` `slide_crop=0` with `test_cfg.mode="
        "'slide'`",
        '`ValueError`: "SAM3Segmentor: slide_crop=0 (whole image) '
        'contradicts test_cfg.mode=\'slide\'."'),
    'test_geopurify_parameter[knn_zero]': (
        'params', '`GeometryGuidedPooling` `knn=0`',
        '`ValueError`: "GeometryGuidedPooling: knn=0 is out of range"'),
    'test_geopurify_parameter[knn_float]': (
        'params', '`GeometryGuidedPooling` `knn=4.0`',
        '`TypeError`: "GeometryGuidedPooling: knn must be an integer"'),
    'test_geopurify_parameter[voxel_size_zero]': (
        'params', '`voxel_size=0`',
        '`ValueError`: "GeoPurifySegmentor: voxel_size=0.0 is out of range: '
        'it must be a finite number in (0, inf]"'),
    'test_geopurify_parameter[voxel_size_negative]': (
        'params', '`voxel_size=-0.02`', 'same `ValueError`'),
    'test_geopurify_parameter[normal_knn_too_small]': (
        'params', '`normal_knn=1` (a normal needs 3 points)',
        '`ValueError`: "GeoPurifySegmentor: normal_knn=1 is out of range"'),
    'test_geopurify_parameter[chunk_zero]': (
        'params', '`GeometryGuidedPooling` `chunk=0`',
        '`ValueError`: "GeometryGuidedPooling: chunk=0 is out of range"'),
    'test_geopurify_parameter[teacher_channels_negative]': (
        'params', '`teacher_channels=-8`',
        '`ValueError`: "GeoPurifySegmentor: teacher_channels=-8 is out of '
        'range"'),
    'test_geopurify_parameter[head_sharpen_zero]': (
        'params', '`GeometryGuidedPooling` `sharpen=0` (uniform affinities)',
        '`ValueError`: "GeometryGuidedPooling: sharpen=0.0 is out of range"'),
    'test_geopurify_parameter[head_iterations_negative]': (
        'params', '`GeometryGuidedPooling` `iterations=-1`',
        '`ValueError`: "GeometryGuidedPooling: iterations=-1 is out of '
        'range"'),
    'test_point_features_expected_dim_zero': (
        'params', '`LoadPointFeatures(expected_dim=0)`',
        '`ValueError`: "LoadPointFeatures: expected_dim=0 is out of range"'),
    'test_slide_windows_stride_larger_than_crop': (
        'params', 'Window grid with stride > crop (any caller)',
        '`ValueError`: "slide stride (64, 64) is larger than the crop (32, '
        '32): ...; set test_cfg.stride <= test_cfg.crop_size"'),
    'test_slide_stride_equal_to_crop_covers_everything': (
        'params', 'Stride equal to the crop (no overlap)',
        'handled: allowed, every pixel covered'),
    'test_merge_with_uncovered_pixels_refused': (
        'params', 'Merge of slide windows with an uncovered pixel (guard)',
        '`RuntimeError`: "OVCLIPSegmentor.slide_inference: 2 pixels are '
        'covered by no window ...; their prediction would be NaN"'),
    'test_nan_probabilities_never_labelled': (
        'params', 'NaN query logits reaching the post-processing - were '
        'labelled 0',
        '`FloatingPointError` naming the image: "tile_07.png: seg_logits '
        'contains NaN/inf; ... check the image, the checkpoint and '
        'autocast_dtype"'),
}
