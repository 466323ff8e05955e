"""Bad inputs of the 2D side: images, datasets, class counts, checkpoints.
Each case asserts the exact error type and that the message names the input
and the fix, or asserts the documented handling (docs/bad_inputs.md)."""
import copy

import cv2
import numpy as np
import pytest
import torch
import torch.nn as nn

from fixtures.tiny_models import TINY_BACKBONE, tiny_ovclip_segmentor
from ovseg_plugins.utils import WeightsNotFoundError, load_state_dict_strict
from ovseg_plugins.utils.run_checks import (check_checkpoint_matches,
                                            check_class_count)


def _segmentor(**kw):
    return tiny_ovclip_segmentor(**kw)


def _load(path):
    from mmcv.transforms import LoadImageFromFile
    return LoadImageFromFile()(dict(img_path=str(path)))['img']


# ----------------------------------------------------------------- images
def test_grey_1channel_image_loaded_as_3_channels(tmp_path):
    p = tmp_path / 'grey.png'
    cv2.imwrite(str(p), np.full((20, 30), 7, np.uint8))
    img = _load(p)
    assert img.shape == (20, 30, 3) and (img == 7).all()


def test_rgba_4channel_image_alpha_dropped(tmp_path):
    p = tmp_path / 'rgba.png'
    a = np.zeros((20, 30, 4), np.uint8)
    a[..., :3], a[..., 3] = (10, 20, 30), 0  # fully transparent
    cv2.imwrite(str(p), a)
    img = _load(p)
    assert img.shape == (20, 30, 3)
    assert img[0, 0].tolist() == [10, 20, 30]  # colours kept, alpha ignored


def test_16bit_tiff_scaled_to_8bit(tmp_path):
    p = tmp_path / 'img16.tif'
    a = np.zeros((20, 30, 3), np.uint16)
    a[0, 0], a[0, 1], a[0, 2] = 65535, 1000, 255
    cv2.imwrite(str(p), a)
    img = _load(p)
    assert img.dtype == np.uint8 and img.shape == (20, 30, 3)
    # value / 256, rounded: 12-bit data (0..4095) ends up in 0..16
    assert img[0, 0, 0] == 255 and img[0, 1, 0] == 4 and img[0, 2, 0] == 1


@pytest.mark.parametrize('kind', ['random_bytes', 'truncated_png'])
def test_corrupt_image_file(tmp_path, kind):
    p = tmp_path / f'{kind}.png'
    good = tmp_path / 'good.png'
    cv2.imwrite(str(good), np.zeros((40, 40, 3), np.uint8))
    p.write_bytes({'random_bytes': b'\x89PNG\r\n\x1a\n not a png',
                   'truncated_png': good.read_bytes()[:40]}[kind])
    with pytest.raises(AssertionError) as e:
        _load(p)
    assert f'failed to load image: {p}' in str(e.value)


def test_zero_byte_image_file_upstream_error(tmp_path):
    """Known limitation (mmcv's LoadImageFromFile): a 0-byte file fails in
    cv2.imdecode without naming the file (docs/bad_inputs.md gives the
    fix: find such files with `find DIR -size 0`)."""
    p = tmp_path / 'empty.png'
    p.write_bytes(b'')
    with pytest.raises(cv2.error) as e:
        _load(p)
    assert '!buf.empty()' in str(e.value)


@pytest.mark.parametrize('channels', [1, 4], ids=['1ch', '4ch'])
def test_non_rgb_tensor_to_clip_backbone(mmseg_scope, channels):
    from mmseg.registry import MODELS
    torch.manual_seed(0)
    bb = MODELS.build(copy.deepcopy(TINY_BACKBONE))
    with pytest.raises(ValueError) as e:
        bb(torch.zeros(1, channels, 32, 32))
    msg = str(e.value)
    assert f'(1, {channels}, 32, 32)' in msg
    assert 'convert grey/RGBA/multispectral inputs to 3 channels' in msg


def test_image_smaller_than_slide_crop(mmseg_scope):
    seg = _segmentor()
    x = torch.randn(1, 3, 20, 27)  # smaller than the 32 px window
    out = seg.predict(x)
    assert out[0].pred_sem_seg.data.shape == (1, 20, 27)
    assert out[0].seg_logits.data.shape == (3, 20, 27)


def test_image_smaller_than_train_crop_is_padded(mmseg_scope):
    from mmseg.datasets.transforms import RandomCrop
    from mmseg.models.data_preprocessor import SegDataPreProcessor
    from mmseg.structures import SegDataSample
    from mmengine.structures import PixelData
    res = dict(img=np.full((24, 40, 3), 5, np.uint8),
               gt_seg_map=np.ones((24, 40), np.uint8),
               seg_fields=['gt_seg_map'])
    res = RandomCrop(crop_size=(64, 64), cat_max_ratio=1.0)(res)
    assert res['img'].shape == (24, 40, 3)  # crop clipped to the image
    ds = SegDataSample(gt_sem_seg=PixelData(
        data=torch.from_numpy(res['gt_seg_map'][None]).long()))
    pre = SegDataPreProcessor(size=(64, 64), pad_val=0, seg_pad_val=255)
    out = pre(dict(inputs=[torch.from_numpy(res['img']).permute(2, 0, 1)],
                   data_samples=[ds]), training=True)
    assert out['inputs'].shape == (1, 3, 64, 64)
    seg = out['data_samples'][0].gt_sem_seg.data
    assert (seg[:, 24:] == 255).all() and (seg[:, :24, :40] == 1).all()


# ----------------------------------------------------------------- data
def _potsdam(tmp_path, lazy=False):
    from mmseg.datasets import PotsdamDataset
    return PotsdamDataset(data_root=str(tmp_path), data_prefix=dict(
        img_path='img_dir/val', seg_map_path='ann_dir/val'), pipeline=[],
        lazy_init=lazy)


def test_empty_image_folder(mmseg_scope, tmp_path):
    """An existing but empty image folder (our dataset configs do not
    serialise the data list, so mmengine's "need at least one array to
    concatenate" never comes first): the configs' input-check hook names the
    dataset before the run."""
    from rel_helpers import run_input_checks
    (tmp_path / 'img_dir' / 'val').mkdir(parents=True)
    cfg = dict(batch_size=1, num_workers=0,
               sampler=dict(type='DefaultSampler', shuffle=False),
               dataset=dict(type='PotsdamDataset', data_root=str(tmp_path),
                            data_prefix=dict(img_path='img_dir/val',
                                             seg_map_path='ann_dir/val'),
                            pipeline=[], serialize_data=False))
    with pytest.raises(FileNotFoundError) as e:
        run_input_checks(cfg)
    msg = str(e.value)
    assert 'The test dataset is empty: PotsdamDataset' in msg
    assert str(tmp_path) in msg and 'img_dir/val' in msg
    assert 'data_root / data_prefix' in msg


def test_missing_image_folder(tmp_path):
    """mmseg's own error names the folder (fix: data_root/data_prefix)."""
    with pytest.raises(FileNotFoundError) as e:
        _potsdam(tmp_path / 'nowhere')
    assert str(tmp_path / 'nowhere' / 'img_dir' / 'val') in str(e.value)


@pytest.mark.parametrize('names', ['road;building;tree',
                                   'a;b;c;d;e;f;g'],
                         ids=['fewer_classes', 'more_classes'])
def test_class_count_differs_from_dataset(mmseg_scope, tmp_path, names):
    p = tmp_path / 'classes.txt'
    p.write_text(names.replace(';', '\n'))
    seg = _segmentor(class_names=str(p))
    ds = _potsdam(tmp_path, lazy=True)  # 6 classes
    with pytest.raises(ValueError) as e:
        check_class_count(seg, ds, 'test')
    msg = str(e.value)
    n = len(names.split(';'))
    assert f'{p} has {n} classes' in msg and 'PotsdamDataset has 6' in msg
    assert "one line per dataset class, in the dataset's order" in msg


def test_class_count_equal_passes(mmseg_scope, tmp_path):
    seg = _segmentor(class_names='a;b;c;d;e;f')
    check_class_count(seg, _potsdam(tmp_path, lazy=True), 'test')


def test_bg_idx_outside_classes(mmseg_scope):
    with pytest.raises(ValueError) as e:
        _segmentor(bg_idx=3)
    assert 'bg_idx=3 is outside the 3 classes' in str(e.value)
    assert "'road;building;tree'" in str(e.value)


def test_slide_crop_not_positive(mmseg_scope):
    with pytest.raises(ValueError) as e:
        _segmentor(test_cfg=dict(mode='slide', crop_size=0, stride=16))
    assert 'OVCLIPSegmentor: test_cfg.crop_size=0 is out of range' in str(
        e.value)


# ----------------------------------------------------------- checkpoints
class _Net(nn.Module):

    def __init__(self, c=8):
        super().__init__()
        self.conv = nn.Conv2d(3, c, 3)
        self.bn = nn.BatchNorm2d(c)


def test_checkpoint_of_another_architecture_no_common_keys(tmp_path):
    p = tmp_path / 'other.pth'
    torch.save({'state_dict': {'fc.weight': torch.zeros(2, 2)}}, p)
    with pytest.raises(KeyError) as e:
        check_checkpoint_matches(_Net(), str(p))
    msg = str(e.value)
    assert str(p) in msg and 'none of its 1 tensors' in msg
    assert 'another architecture' in msg and 'tools/model_converters' in msg


def test_checkpoint_of_another_architecture_shape_mismatch(tmp_path):
    p = tmp_path / 'wider.pth'
    torch.save({'state_dict': {'module.' + k: v for k, v in
                               _Net(16).state_dict().items()}}, p)
    with pytest.raises(KeyError) as e:
        check_checkpoint_matches(_Net(8), str(p))
    msg = str(e.value)
    assert str(p) in msg and 'bn.bias: checkpoint (16,) vs model (8,)' in \
        msg and 'another architecture' in msg
    # fine-tuning (train.py load_from) may change a head's shape
    check_checkpoint_matches(_Net(8), str(p), allow_shape_mismatch=True)
    # the matching checkpoint (DDP 'module.' prefix) passes
    torch.save({'state_dict': {'module.' + k: v for k, v in
                               _Net(8).state_dict().items()}}, p)
    check_checkpoint_matches(_Net(8), str(p))


def test_truncated_checkpoint(tmp_path):
    p = tmp_path / 'iter_4.pth'
    torch.save({'state_dict': _Net().state_dict()}, p)
    p.write_bytes(p.read_bytes()[:200])
    with pytest.raises(ValueError) as e:
        check_checkpoint_matches(_Net(), str(p))
    msg = str(e.value)
    assert str(p) in msg and 'truncated' in msg and 'download or convert ' \
        'it again' in msg


def test_checkpoint_missing(tmp_path):
    p = tmp_path / 'nope.pth'
    with pytest.raises(WeightsNotFoundError) as e:
        check_checkpoint_matches(_Net(), str(p))
    assert str(p) in str(e.value) and 'existing file' in str(e.value)


def test_strict_loader_of_another_architecture():
    """The loader of the necks' / converters' weights (load_state_dict_strict)
    names missing, unexpected and mis-shaped keys."""
    sd = _Net(16).state_dict()
    sd['extra.weight'] = torch.zeros(1)
    del sd['bn.bias']
    with pytest.raises(KeyError) as e:
        load_state_dict_strict(_Net(8), sd, source='upsampler.ckpt')
    msg = str(e.value)
    for f in ('upsampler.ckpt does not match _Net', 'missing keys: bn.bias',
              'unexpected keys: extra.weight', 'conv.weight: checkpoint '
              '(16, 3, 3, 3) vs model (8, 3, 3, 3)', 'another architecture'):
        assert f in msg, msg


# The rows of docs/bad_inputs.md (written by tools/misc/bad_inputs_doc.py):
# test (with its parametrize id) -> (section, input, behaviour).
BAD_INPUTS_DOC = {
    'test_class_count_equal_passes': None,  # control
    'test_class_count_differs_from_dataset[fewer_classes]': (
        'text',
        "Class count fewer than the dataset's (3 names, Potsdam has 6) — "
        'was a silently wrong metric',
        '`ValueError` before the run: "Class-name source <path> has 3 '
        'classes but the test dataset PotsdamDataset has 6 (...). Give '
        "model.class_names one line per dataset class, in the dataset's "
        'order, ..." (new run check)'),
    'test_class_count_differs_from_dataset[more_classes]': (
        'text',
        "Class count more than the dataset's (7 vs 6)",
        'same `ValueError` (new run check)'),
    'test_bg_idx_outside_classes': (
        'text',
        '`bg_idx` outside the classes',
        '`ValueError`: "bg_idx=3 is outside the 3 classes of '
        '\'<vocabulary>\'"'),
    'test_grey_1channel_image_loaded_as_3_channels': (
        '2d',
        '1-channel (grey) image',
        "handled: `LoadImageFromFile` (`color_type='color'`) replicates it "
        'to 3 channels'),
    'test_rgba_4channel_image_alpha_dropped': (
        '2d',
        '4-channel RGBA PNG',
        'handled: alpha dropped, colours kept (transparent pixels keep '
        'their RGB)'),
    'test_16bit_tiff_scaled_to_8bit': (
        '2d',
        '16-bit TIFF',
        'handled: converted to 8 bit as value/256 (65535 → 255). 12-bit '
        'data (0..4095) becomes dark (0..16): rescale such images to 8 bit '
        'before evaluating'),
    'test_corrupt_image_file[random_bytes]': (
        '2d',
        'Corrupt image file (random bytes with a PNG name)',
        '`AssertionError` from mmcv: "failed to load image: <path>" — fix: '
        're-export or remove the file'),
    'test_corrupt_image_file[truncated_png]': (
        '2d',
        'Truncated PNG',
        'same `AssertionError` naming the file'),
    'test_zero_byte_image_file_upstream_error': (
        '2d',
        '0-byte image file',
        'known upstream limitation: `cv2.error` "!buf.empty()" without the '
        "file name (mmcv's loader). Find such files with `find DATA -size "
        '0`'),
    'test_non_rgb_tensor_to_clip_backbone[1ch]': (
        '2d',
        '1-channel tensor given to the CLIP backbone (custom pipeline)',
        '`ValueError`: "DenseCLIPViT expects (B, 3, H, W) images, got (1, '
        '1, 32, 32); convert grey/RGBA/multispectral inputs to 3 channels '
        'in the pipeline"'),
    'test_non_rgb_tensor_to_clip_backbone[4ch]': (
        '2d',
        '4-channel tensor given to the CLIP backbone '
        "(`color_type='unchanged'`)",
        'same `ValueError`'),
    'test_image_smaller_than_slide_crop': (
        '2d',
        'Image smaller than the slide window (20×27 vs 32)',
        'handled: the window is clipped to the image; predictions at the '
        'input size'),
    'test_image_smaller_than_train_crop_is_padded': (
        '2d',
        'Image smaller than the training crop (24×40 vs 64×64)',
        'handled: `RandomCrop` keeps the whole image, the data preprocessor '
        'pads to 64×64 (labels padded with 255 = ignored)'),
    'test_empty_image_folder': (
        '2d',
        'Image folder exists but is empty (or wrong suffix) — was '
        'mmengine\'s "need at least one array to concatenate"',
        '`FileNotFoundError`: "A dataset is empty: type=\'PotsdamDataset\' '
        'data_root=... data_prefix=... found no samples. Check data_root / '
        'data_prefix / ann_file and the file suffixes ..." (new)'),
    'test_missing_image_folder': (
        '2d',
        'Image folder missing',
        '`FileNotFoundError` (mmengine) naming the folder — fix '
        '`data_root`/`data_prefix`'),
    'test_slide_crop_not_positive': (
        '2d',
        'Slide window size 0',
        '`ValueError` when the segmentor is built: "OVCLIPSegmentor: '
        'test_cfg.crop_size=0 is out of range: it must be in [1, inf]"'),
    'test_checkpoint_of_another_architecture_no_common_keys': (
        'ckpt',
        'Checkpoint of another architecture (no common keys), check level',
        'same `KeyError`'),
    'test_checkpoint_of_another_architecture_shape_mismatch': (
        'ckpt',
        'Checkpoint of the same layout but other widths (shape mismatches; '
        'DDP `module.` prefix accepted)',
        '`tools/test.py`: `KeyError` listing "bn.bias: checkpoint (16,) vs '
        'model (8,)" ...; `tools/train.py` with `load_from` (fine-tuning '
        "into another head) keeps mmengine's warning-and-skip"),
    'test_truncated_checkpoint': (
        'ckpt',
        'Truncated checkpoint, check level',
        'same `ValueError`'),
    'test_checkpoint_missing': (
        'ckpt',
        '`load_from` file missing',
        '`WeightsNotFoundError`: "checkpoint not found: \'<path>\'. Give '
        'the path of an existing file (weights cannot be downloaded by this '
        'call)."'),
    'test_strict_loader_of_another_architecture': (
        'ckpt',
        'Neck / converter weights of another architecture '
        '(`load_state_dict_strict`)',
        '`KeyError` listing missing, unexpected and mis-shaped keys, '
        '"probably of another architecture or needs converting"'),
}
