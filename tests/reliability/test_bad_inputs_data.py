"""Bad files: 2D samples seen through the tools' dataloader (label values,
label size, EXIF orientation, 12-bit data in 16 bit, errors from deep
inside the loaders), text-embedding caches and files, point-feature files,
huge error messages. Each case asserts the exact error type and that the
message names the file, or the documented handling (docs/bad_inputs.md)."""
import logging

import cv2
import numpy as np
import pytest
import torch
from PIL import Image

from rel_helpers import run_input_checks

# ------------------------------------------------------------ 2D samples
TEST_PIPELINE = [dict(type='LoadImageFromFile'),
                 dict(type='LoadAnnotations'),
                 dict(type='PackSegInputs')]


def _potsdam_dir(tmp_path, label=None, img=None, img_name='a.png',
                 label_name='a.png'):
    """A one-sample Potsdam-layout folder (6 classes)."""
    idir = tmp_path / 'img_dir' / 'val'
    adir = tmp_path / 'ann_dir' / 'val'
    idir.mkdir(parents=True)
    adir.mkdir(parents=True)
    if img is None:
        img = np.full((16, 16, 3), 100, np.uint8)
    if isinstance(img, bytes):
        (idir / img_name).write_bytes(img)
    elif isinstance(img, Image.Image):
        img.save(idir / img_name)
    else:
        cv2.imwrite(str(idir / img_name), img)
    if label is None:
        label = np.zeros((16, 16), np.uint8)
    cv2.imwrite(str(adir / label_name), label)
    return idir / img_name, adir / label_name


def _first_sample(tmp_path, pipeline=TEST_PIPELINE, **kw):
    """The first sample through the configs' RunInputChecksHook."""
    cfg = dict(batch_size=1, num_workers=0,
               sampler=dict(type='DefaultSampler', shuffle=False),
               dataset=dict(type='PotsdamDataset', data_root=str(tmp_path),
                            data_prefix=dict(img_path='img_dir/val',
                                             seg_map_path='ann_dir/val'),
                            pipeline=pipeline, serialize_data=False,
                            **dict(dict(reduce_zero_label=False), **kw)))
    batch = run_input_checks(cfg)
    return dict(inputs=batch['inputs'][0],
                data_samples=batch['data_samples'][0])


def test_label_value_after_reduce_zero_label(mmseg_scope, tmp_path):
    """Potsdam's stock ``reduce_zero_label=True``: file value 7 becomes 6,
    outside 0..5; the message says the values are reduced."""
    lab = np.ones((16, 16), np.uint8)
    lab[:4] = 7
    _, lpath = _potsdam_dir(tmp_path, label=lab)
    with pytest.raises(ValueError) as e:
        _first_sample(tmp_path, reduce_zero_label=True)
    msg = str(e.value)
    assert str(lpath) in msg and 'values after reduce_zero_label' in msg
    assert 'label values [6] are outside the 6 classes' in msg


def test_label_value_outside_classes(mmseg_scope, tmp_path):
    """Potsdam has 6 classes; a label value 9 was silently dropped by the
    IoU histogram (wrong metric)."""
    lab = np.zeros((16, 16), np.uint8)
    lab[:4] = 9
    _, lpath = _potsdam_dir(tmp_path, label=lab)
    with pytest.raises(ValueError) as e:
        _first_sample(tmp_path)
    msg = str(e.value)
    assert f'{lpath} (label of' in msg
    assert 'label values [9] are outside the 6 classes (0..5)' in msg
    assert 'ignore_index=255' in msg and 'convert the labels' in msg


def test_label_value_ignore_index_is_fine(mmseg_scope, tmp_path):
    lab = np.full((16, 16), 255, np.uint8)
    lab[:4] = 5
    _potsdam_dir(tmp_path, label=lab)
    sample = _first_sample(tmp_path)
    assert set(np.unique(sample['data_samples'].gt_sem_seg.data)) == {5, 255}


def test_label_0_255_mask_in_a_6_class_dataset(mmseg_scope, tmp_path):
    """A binary 0/255 mask given to a multi-class dataset (unconverted):
    255 is ignore, so it is accepted only when 255 is meant as ignore; a
    0/1/255 mask with a 128 anti-aliased edge is refused."""
    lab = np.zeros((16, 16), np.uint8)
    lab[:, 8:] = 255
    lab[:, 7] = 128
    _potsdam_dir(tmp_path, label=lab)
    with pytest.raises(ValueError) as e:
        _first_sample(tmp_path)
    assert 'label values [128] are outside the 6 classes' in str(e.value)


def test_label_map_of_another_size(mmseg_scope, tmp_path):
    _, lpath = _potsdam_dir(tmp_path, label=np.zeros((12, 16), np.uint8))
    with pytest.raises(ValueError,
                       match='pair each image with its own label map') as e:
        _first_sample(tmp_path)
    assert f'{lpath}: label map (12, 16) is not the size of its image' in \
        str(e.value)


def _exif_jpeg(orientation):
    img = Image.fromarray(np.random.default_rng(0).integers(
        0, 255, (16, 16, 3), dtype=np.uint8))
    exif = Image.Exif()
    exif[0x0112] = orientation
    return img, exif


def test_exif_orientation_on_labelled_image(mmseg_scope, tmp_path):
    """The image loader applies the EXIF rotation, the label loader does
    not: a square tile was silently misaligned with its label."""
    img, exif = _exif_jpeg(6)
    (tmp_path / 'img_dir' / 'val').mkdir(parents=True)
    (tmp_path / 'ann_dir' / 'val').mkdir(parents=True)
    ipath = tmp_path / 'img_dir' / 'val' / 'a.jpg'
    img.save(ipath, exif=exif)
    cv2.imwrite(str(tmp_path / 'ann_dir' / 'val' / 'a.png'),
                np.zeros((16, 16), np.uint8))
    with pytest.raises(ValueError) as e:
        _first_sample(tmp_path, img_suffix='.jpg')
    msg = str(e.value)
    assert f'{ipath}: EXIF orientation 6' in msg
    assert 'rotate the image but not its label map' in msg


def test_exif_orientation_without_label_is_fine(tmp_path):
    """Inference on an unlabelled photo: the rotation is what the user
    sees, nothing to misalign."""
    from ovseg_plugins.utils.run_checks import image_file_checks
    img, exif = _exif_jpeg(6)
    p = tmp_path / 'photo.jpg'
    img.save(p, exif=exif)
    image_file_checks(str(p), labelled=False)


@pytest.mark.parametrize('suffix', ['.png', '.tif'])
def test_12bit_data_in_16bit_image(mmseg_scope, tmp_path, suffix):
    """12-bit sensor data stored in 16 bit became values 0..16 (nearly
    black) after the loader's value/256."""
    img = (np.random.default_rng(0).random((16, 16, 3)) * 4000).astype(
        np.uint16)
    ipath, _ = _potsdam_dir(tmp_path, img=img, img_name='a' + suffix)
    with pytest.raises(ValueError) as e:
        _first_sample(tmp_path, img_suffix=suffix)
    msg = str(e.value)
    assert f'{ipath}: 16-bit image with values up to' in msg
    assert 'Rescale it to 8 bit' in msg


def test_zero_byte_image_named_through_tools(mmseg_scope, tmp_path):
    """mmcv's loader fails on a 0-byte file without naming it (cv2
    "!buf.empty()"); the input-check hook names it before the run."""
    ipath, lpath = _potsdam_dir(tmp_path, img=b'')
    with pytest.raises(ValueError) as e:
        _first_sample(tmp_path)
    assert f'{ipath}: empty file (0 bytes) in the test dataset' in str(
        e.value)


def test_unreadable_image_named_before_the_run(mmseg_scope, tmp_path):
    """An image file that is not an image (text saved as .png)."""
    ipath, _ = _potsdam_dir(tmp_path, img=b'not an image at all')
    with pytest.raises(ValueError) as e:
        _first_sample(tmp_path)
    assert f'{ipath}: not a readable image' in str(e.value)


def test_point_file_of_another_load_dim_named(tmp_path):
    """A .bin point file whose size is not a whole number of points of the
    pipeline's load_dim: mmdet3d's loader fails deep in numpy ("cannot
    reshape array of size ...") without naming it."""
    import types

    from mmdet3d.datasets.transforms import LoadPointsFromFile

    from ovseg_plugins.utils.run_checks import scan_dataset_files
    p = tmp_path / 'scene0007_00.bin'
    np.zeros(10, np.float32).tofile(p)  # 10 values: not rows of 6
    class PointDataset:  # the parts of an mmdet3d dataset the scan reads
        pipeline = types.SimpleNamespace(transforms=[LoadPointsFromFile(
            coord_type='DEPTH', load_dim=6, use_dim=[0, 1, 2])])

        def __len__(self):
            return 1

        def get_data_info(self, i):
            return dict(lidar_points=dict(lidar_path=str(p)))

    ds = PointDataset()
    with pytest.raises(ValueError) as e:
        scan_dataset_files(ds, 'test')
    msg = str(e.value)
    assert f'{p}: 40 bytes is not a whole number of points of [6]' in msg
    assert 'set load_dim' in msg


def test_more_than_255_classes_label_dtype():
    """300 classes written as uint8 wrapped class 256 to 0; label outputs
    use the smallest dtype that holds them."""
    from ovseg_plugins.utils.validation import label_dtype
    assert label_dtype(255) == np.uint8
    assert label_dtype(256) == np.uint16 and label_dtype(300) == np.uint16
    with pytest.raises(ValueError) as e:
        label_dtype(70000, 'image_demo labels')
    assert 'image_demo labels: num_classes=70000' in str(e.value)


# ----------------------------------------------------- text-embedding cache
def _cache(tmp_path):
    from ovseg_plugins.text import TextEmbeddingCache
    return TextEmbeddingCache(str(tmp_path))


def _unit(n=3, d=8):
    return torch.nn.functional.normalize(torch.randn(n, d), dim=-1)


CACHE_ENTRIES = {
    'nan_entry': lambda: torch.full((3, 8), float('nan')),
    'wrong_row_count': lambda: _unit(5),
    'not_unit_rows': lambda: torch.randn(3, 8) * 10,
    'not_a_tensor': lambda: {'emb': [1, 2, 3]},
    'one_dimensional': lambda: _unit(1)[0],
}


@pytest.mark.parametrize('case', list(CACHE_ENTRIES))
def test_text_cache_bad_entry_is_recomputed(tmp_path, case, caplog):
    """A cache entry that is NaN, of another vocabulary size, not unit
    vectors or not a matrix was trusted as it is; it is recomputed and
    replaced, with a warning naming the entry."""
    cache = _cache(tmp_path)
    good = _unit()
    path = cache.path('k')
    cache.path('k')
    import os
    os.makedirs(cache.cache_dir, exist_ok=True)
    torch.save(CACHE_ENTRIES[case](), path)
    from mmengine.logging import MMLogger
    MMLogger.get_instance('mmengine')
    with caplog.at_level(logging.WARNING):
        out = cache.get_or_compute('k', lambda: good, rows=3)
    torch.testing.assert_close(out, good)
    assert cache.misses == 1 and cache.hits == 0
    # replaced on disk
    torch.testing.assert_close(torch.load(path, weights_only=True), good)


def test_text_cache_computed_nan_raises_not_cached(tmp_path):
    """NaN from the text encoder (e.g. a broken checkpoint) is refused and
    never written to the cache."""
    cache = _cache(tmp_path)
    with pytest.raises(ValueError) as e:
        cache.get_or_compute('k', lambda: torch.full((3, 8), float('nan')),
                             rows=3)
    assert 'text embeddings computed by the text encoder' in str(e.value)
    assert 'NaN/inf' in str(e.value)
    import os.path as osp
    assert not osp.exists(cache.path('k'))


# ------------------------------------------ GeoPurify text-embedding files
def _geopurify(path):
    pytest.importorskip('mmdet3d')
    import ovseg_plugins.seg3d  # noqa: F401 - registers the components
    from mmdet3d.registry import MODELS
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet3d')
    return MODELS.build(dict(
        type='GeoPurifySegmentor',
        backbone=dict(type='StudentAffinityNet', in_channels=14,
                      hidden_channels=8, embed_dim=8, num_blocks=1),
        class_names='wall;floor;chair', fused_channels=8,
        text_embeddings=str(path), decode_head=dict(
            type='AffinityPurifyHead', pooling=dict(knn=4, iterations=1))))


def _write(path, obj):
    if str(path).endswith('.npy'):
        np.save(path, obj)
    else:
        torch.save(obj, path)


EMBEDDING_FILES = {
    'nan_values': ('text.pt', lambda: torch.full((3, 8), float('nan')),
                   ValueError, 'contains 24 NaN/inf values'),
    'zero_row': ('text.npy', lambda: np.eye(3, 8, dtype=np.float32) * [
        [1], [0], [1]], ValueError, 'rows [1] are all zeros'),
    'dict_without_text_embeds': ('text.pt', lambda: {'weights': _unit()},
                                 TypeError, 'must be an array/tensor, got '
                                 'dict'),
    'strings_in_npy': ('text.npy', lambda: np.array([['a'] * 8] * 3),
                       TypeError, "can't convert np.ndarray of type "
                       'numpy.str_'),
}


@pytest.mark.parametrize('case', list(EMBEDDING_FILES))
def test_geopurify_text_embeddings_file(tmp_path, case):
    name, make, exc, frag = EMBEDDING_FILES[case]
    path = tmp_path / name
    _write(path, make())
    with pytest.raises(exc) as e:
        _geopurify(path)
    assert type(e.value) is exc
    msg = str(e.value)
    assert str(path) in msg and frag in msg, msg


def test_geopurify_text_embeddings_truncated_npy(tmp_path):
    path = tmp_path / 'text.npy'
    np.save(path, _unit().numpy())
    path.write_bytes(path.read_bytes()[:70])
    with pytest.raises(ValueError) as e:
        _geopurify(path)
    msg = str(e.value)
    assert f'Could not read text embeddings {str(path)!r}' in msg
    assert 'regenerate or re-download it' in msg


# ------------------------------------------------------ point-feature files
def _pf_results(n=50):
    pytest.importorskip('mmdet3d')
    from mmdet3d.structures import DepthPoints
    a = np.random.default_rng(0).random((n, 6)).astype(np.float32)
    return dict(lidar_points=dict(lidar_path='/data/scene0000_00.bin'),
                points=DepthPoints(a, points_dim=6,
                                   attribute_dims=dict(color=[3, 4, 5])))


def _pf(tmp_path):
    from ovseg_plugins.seg3d.datasets.transforms import LoadPointFeatures
    d = tmp_path / 'feats'
    d.mkdir(exist_ok=True)
    return LoadPointFeatures(str(d)), d / 'scene0000_00'


def test_point_features_npz_without_feat(tmp_path):
    res = _pf_results()
    t, base = _pf(tmp_path)
    np.savez(str(base) + '.npz', features=np.zeros((50, 8), np.float32))
    with pytest.raises(KeyError) as e:
        t(res)
    msg = str(e.value)
    assert f'{base}.npz has no "feat" array' in msg and 'np.savez' in msg


def test_point_features_mask_of_another_length(tmp_path):
    res = _pf_results()
    t, base = _pf(tmp_path)
    np.savez(str(base) + '.npz', feat=np.zeros((50, 8), np.float32),
             mask=np.ones(40, bool))
    with pytest.raises(ValueError) as e:
        t(res)
    assert f'{base}.npz: mask has 40 entries for features (50, 8)' in str(
        e.value)


def test_point_features_truncated_npy(tmp_path):
    res = _pf_results()
    t, base = _pf(tmp_path)
    np.save(str(base) + '.npy', np.zeros((50, 8), np.float32))
    p = str(base) + '.npy'
    open(p, 'r+b').truncate(200)
    with pytest.raises(ValueError) as e:
        t(res)
    msg = str(e.value)
    assert f'Could not read point features {p!r}' in msg
    assert 'tools/geopurify/lift_features.py' in msg


def test_point_features_pickled_object_npy(tmp_path):
    res = _pf_results()
    t, base = _pf(tmp_path)
    np.save(str(base) + '.npy', np.array([{'feat': 1}] * 50, dtype=object),
            allow_pickle=True)
    with pytest.raises(ValueError) as e:
        t(res)
    assert f"Could not read point features '{base}.npy'" in str(e.value)


# ----------------------------------------------------- error-message size
def test_huge_error_message_is_capped(tmp_path, monkeypatch):
    """A reader error whose message is 700k characters (a repr of the
    whole file) is cut to a readable size that still names the file."""
    from ovseg_plugins.utils import load_torch_file
    p = tmp_path / 'ckpt.pth'
    p.write_bytes(b'x')

    def boom(*a, **k):
        raise RuntimeError('0.1234, ' * 90000)

    monkeypatch.setattr(torch, 'load', boom)
    with pytest.raises(ValueError) as e:
        load_torch_file(str(p))
    msg = str(e.value)
    assert str(p) in msg and 'characters cut' in msg
    assert len(msg) < 1000


def test_huge_value_repr_is_capped():
    from ovseg_plugins.utils.validation import check_number
    with pytest.raises(TypeError) as e:
        check_number('prob_thd', list(range(200000)), 'OVCLIPSegmentor')
    msg = str(e.value)
    assert 'OVCLIPSegmentor: prob_thd must be a number' in msg
    assert len(msg) < 400



# ------------------------------------------------------------ NaN weights
def test_checkpoint_with_nan_weights(tmp_path):
    """A diverged checkpoint (NaN weights) evaluated to all-class-0 maps;
    the run check refuses it before the run, naming the tensors."""
    from ovseg_plugins.utils.run_checks import check_checkpoint_matches
    net = torch.nn.Sequential(torch.nn.Linear(4, 4))
    sd = net.state_dict()
    sd['0.weight'][1, 2] = float('nan')
    p = tmp_path / 'iter_800.pth'
    torch.save(dict(state_dict=sd), p)
    with pytest.raises(ValueError) as e:
        check_checkpoint_matches(net, str(p))
    msg = str(e.value)
    assert f"Checkpoint '{p}' has NaN/inf values in 1 tensors" in msg
    assert "'0.weight'" in msg and 'use an earlier checkpoint' in msg


def test_geopurify_nan_logits_never_labelled(tmp_path):
    """NaN in the student (weights or inputs) gave NaN point scores that
    argmax labelled as class 0; now refused."""
    torch.save(torch.nn.functional.normalize(torch.randn(3, 8), dim=-1),
               tmp_path / 'text.pt')
    model = _geopurify(tmp_path / 'text.pt')
    with torch.no_grad():
        next(model.backbone.parameters()).fill_(float('nan'))
    rng = np.random.default_rng(0)
    pts = rng.random((40, 14)).astype(np.float32)
    pts[:, 3:6] *= 255
    with pytest.raises(FloatingPointError) as e:
        model.predict(dict(points=[torch.from_numpy(pts)]), None)
    assert 'GeoPurifySegmentor.predict: point logits contains NaN/inf' in \
        str(e.value)



def test_point_label_file_truncated_npy(tmp_path):
    pytest.importorskip('mmdet3d')
    from ovseg_plugins.seg3d.datasets.transforms.load_openscene_points \
        import load_label_file
    p = tmp_path / 'scene0000_00_labels.npy'
    np.save(p, np.zeros(500, np.int64))
    p.write_bytes(p.read_bytes()[:60])
    with pytest.raises(ValueError) as e:
        load_label_file(str(p))
    msg = str(e.value)
    assert f'Could not read label file {str(p)!r}' in msg
    assert 're-run the preprocessing' in msg



def _float64_read_as_float32(n):
    """What LoadPointsFromFile makes of a float64 x,y,z,r,g,b file."""
    rng = np.random.default_rng(0)
    a = rng.random((n, 6)) * [4, 4, 3, 255, 255, 255]
    return np.frombuffer(a.tobytes(), np.float32).reshape(-1, 6).copy()


POINT_CASES = {
    'float64_file_read_as_float32': (
        _float64_read_as_float32, 'check its dtype'),
    'openscene_colours_in_minus1_1': (
        lambda n: np.concatenate([np.random.default_rng(0).random((n, 3)),
                                  np.random.default_rng(1).random((n, 3)) * 2
                                  - 1], 1).astype(np.float32),
        'expected 0..255 (OpenScene files store [-1, 1]'),
    'colours_16bit': (
        lambda n: np.concatenate([np.random.default_rng(0).random((n, 3)),
                                  np.full((n, 3), 60000.)], 1).astype(
                                      np.float32),
        'divide by 257'),
}


@pytest.mark.parametrize('case', list(POINT_CASES))
def test_geopurify_implausible_points(tmp_path, case):
    """Points whose coordinates or colours cannot be x,y,z metres and 0..255
    colours gave plausible-looking labels; the segmentor refuses them."""
    make, frag = POINT_CASES[case]
    torch.save(torch.nn.functional.normalize(torch.randn(3, 8), dim=-1),
               tmp_path / 'text.pt')
    model = _geopurify(tmp_path / 'text.pt')
    xyzrgb = make(40)
    pts = np.concatenate([xyzrgb, np.random.default_rng(2).random(
        (len(xyzrgb), 8)).astype(np.float32)], 1)
    with pytest.raises(ValueError) as e:
        model.predict(dict(points=[torch.from_numpy(pts)]), None)
    msg = str(e.value)
    assert 'GeoPurifySegmentor input points: ' in msg and frag in msg, msg


# The rows of docs/bad_inputs.md (written by tools/misc/bad_inputs_doc.py):
# test (with its parametrize id) -> (section, input, behaviour).
BAD_INPUTS_DOC = {
    'test_label_value_outside_classes': (
        '2d', 'Label value 9 in a 6-class dataset - was silently dropped by '
        'the IoU histogram (wrong metric)',
        '`ValueError` as the sample is loaded: "<label path> (label of '
        '<image>): label values [9] are outside the 6 classes (0..5) and are '
        'not ignore_index=255; convert the labels ..."'),
    'test_label_value_ignore_index_is_fine': (
        '2d', 'Label with `ignore_index` (255) pixels',
        'handled: allowed (ignored by the metric)'),
    'test_label_0_255_mask_in_a_6_class_dataset': (
        '2d', 'Unconverted 0/255 mask with anti-aliased edges (128)',
        'same `ValueError` ("label values [128] ...")'),
    'test_label_map_of_another_size': (
        '2d', 'Label map of another size than its image (12x16 vs 16x16)',
        '`ValueError`: "<label path>: label map (12, 16) is not the size of '
        'its image ...; pair each image with its own label map"'),
    'test_exif_orientation_on_labelled_image': (
        '2d', 'Labelled JPEG with EXIF orientation 6 - the loader rotated '
        'the image but not its label (square tiles: silent misalignment)',
        '`ValueError`: "<image>: EXIF orientation 6 makes the image loader '
        'rotate the image but not its label map. Rotate the pixels and drop '
        'the tag ..."'),
    'test_exif_orientation_without_label_is_fine': (
        '2d', 'EXIF orientation on an unlabelled image (inference)',
        'handled: rotated as shown by image viewers'),
    'test_12bit_data_in_16bit_image[.png]': (
        '2d', '12-bit data (0..4095) in a 16-bit PNG - was nearly black '
        '(0..16) after value/256',
        '`ValueError`: "<image>: 16-bit image with values up to 3999 (12-bit '
        'or less): ... Rescale it to 8 bit"'),
    'test_12bit_data_in_16bit_image[.tif]': (
        '2d', '12-bit data in a 16-bit TIFF', 'same `ValueError`'),
    'test_zero_byte_image_named_through_tools': (
        '2d', '0-byte image file read through the tools\' dataloader',
        '`cv2.error` now naming the files: "while loading \'<image>\', '
        '\'<label>\': error: ... !buf.empty() ..."'),
    'test_error_deep_in_a_transform_names_the_file': (
        '3d', 'Error deep inside a transform (`cannot reshape array of size '
        '10 into shape (6)`: a `.bin` point file of another `load_dim`)',
        'same type (`ValueError`), prefixed "while loading '
        '\'/data/scene0007_00.bin\': ..." (tools\' dataloaders, 2D and 3D)'),
    'test_more_than_255_classes_label_dtype': (
        '2d', 'More than 255 classes written to a label map - uint8 wrapped '
        'class 256 to 0',
        'handled: `label_dtype` picks uint16 (`tools/demo/image_demo.py`); '
        'over 65535: `ValueError` naming the output'),
    'test_text_cache_bad_entry_is_recomputed[nan_entry]': (
        'ckpt', 'Text-embedding cache entry full of NaN - was trusted',
        'handled: warning naming the entry, recomputed and replaced'),
    'test_text_cache_bad_entry_is_recomputed[wrong_row_count]': (
        'ckpt', 'Cache entry with 5 rows for 3 queries', 'same handling'),
    'test_text_cache_bad_entry_is_recomputed[not_unit_rows]': (
        'ckpt', 'Cache entry whose rows are not unit vectors',
        'same handling'),
    'test_text_cache_bad_entry_is_recomputed[not_a_tensor]': (
        'ckpt', 'Cache entry holding a dict', 'same handling'),
    'test_text_cache_bad_entry_is_recomputed[one_dimensional]': (
        'ckpt', 'Cache entry holding a vector', 'same handling'),
    'test_text_cache_computed_nan_raises_not_cached': (
        'ckpt', 'Text encoder producing NaN embeddings',
        '`ValueError`: "text embeddings computed by the text encoder: '
        'embedding matrix contains 24 NaN/inf values"; nothing cached'),
    'test_geopurify_text_embeddings_file[nan_values]': (
        'ckpt', 'GeoPurify text-embeddings file with NaN - was trusted',
        '`ValueError`: "<path>: text embeddings contains 24 NaN/inf values; '
        'regenerate it"'),
    'test_geopurify_text_embeddings_file[zero_row]': (
        'ckpt', 'Text-embeddings `.npy` with an all-zero row (cosine 0 with '
        'everything)',
        '`ValueError`: "<path>: text embeddings: rows [1] are all zeros"'),
    'test_geopurify_text_embeddings_file[dict_without_text_embeds]': (
        'ckpt', 'Text-embeddings `.pt` holding a dict without '
        '`text_embeds` - was an AttributeError',
        '`TypeError`: "<path>: text embeddings must be an array/tensor, got '
        'dict ..."'),
    'test_geopurify_text_embeddings_file[strings_in_npy]': (
        'ckpt', 'Text-embeddings `.npy` of strings',
        '`TypeError`: "Could not read text embeddings \'<path>\' (TypeError: '
        'can\'t convert np.ndarray of type numpy.str_ ...)"'),
    'test_geopurify_text_embeddings_truncated_npy': (
        'ckpt', 'Truncated text-embeddings `.npy` - numpy\'s error without '
        'the file', '`ValueError`: "Could not read text embeddings \'<path>\' '
        '(...); regenerate or re-download it"'),
    'test_point_features_npz_without_feat': (
        '3d', 'Feature `.npz` without a `feat` array - numpy\'s "\'feat\' '
        'is not a file in the archive"',
        '`KeyError`: "<root>/<scene>.npz has no "feat" array (has '
        '[\'features\']); write the features as np.savez(path, feat=(N, '
        'C)[, mask=(N,)])"'),
    'test_point_features_mask_of_another_length': (
        '3d', 'Feature `.npz` whose `mask` has another length - was an '
        'IndexError', '`ValueError`: "<file>: mask has 40 entries for '
        'features (50, 8); regenerate it"'),
    'test_point_features_truncated_npy': (
        '3d', 'Truncated feature `.npy`',
        '`ValueError`: "Could not read point features \'<file>\' (...); '
        'regenerate it (tools/geopurify/lift_features.py)"'),
    'test_point_features_pickled_object_npy': (
        '3d', 'Feature `.npy` of pickled objects', 'same `ValueError`'),
    'test_huge_error_message_is_capped': (
        'ckpt', 'A reader error of 720k characters (was passed on whole)',
        '`ValueError` naming the file, the inner message cut: "... [N '
        'characters cut] ..." (under 1000 characters)'),
    'test_huge_value_repr_is_capped': (
        'params', 'A 200k-element list given as a number',
        '`TypeError` naming the field, the value\'s repr cut to 200 '
        'characters'),
    'test_label_value_after_reduce_zero_label': (
        '2d', 'Label value 7 with `reduce_zero_label=True` (Potsdam\'s '
        'default: becomes 6, outside 0..5)',
        'same `ValueError`, saying "values after reduce_zero_label, i.e. '
        'file value - 1"'),
    'test_checkpoint_with_nan_weights': (
        'ckpt', 'Checkpoint with NaN weights (diverged training) - '
        'evaluated to class-0 maps',
        '`ValueError` before the run: "Checkpoint \'<path>\' has NaN/inf '
        'values in 1 tensors (e.g. [\'0.weight\']): ... use an earlier '
        'checkpoint"'),
    'test_geopurify_nan_logits_never_labelled': (
        '3d', 'NaN reaching the GeoPurify point scores (weights, features) '
        '- were labelled class 0',
        '`FloatingPointError`: "GeoPurifySegmentor.predict: point logits '
        'contains NaN/inf; ..."'),
    'test_point_label_file_truncated_npy': (
        '3d', 'Truncated per-point label `.npy` - numpy\'s error without the '
        'file', '`ValueError`: "Could not read label file \'<path>\' (...); '
        're-run the preprocessing"'),
    'test_geopurify_implausible_points[float64_file_read_as_float32]': (
        '3d', 'A float64 x,y,z,r,g,b `.bin` read as float32 (`load_dim=6`) '
        '- gave labels for garbage points',
        '`ValueError`: "GeoPurifySegmentor input points: points contain '
        'NaN/inf ...; regenerate the point file, or check its dtype (float32) '
        'and load_dim" (or "coordinates reach ... m; the point file is '
        'probably not float32 ...")'),
    'test_geopurify_implausible_points[openscene_colours_in_minus1_1]': (
        '3d', 'Colours in [-1, 1] (OpenScene convention) in a 0..255 '
        'pipeline', '`ValueError`: "... colours span [-1, 1], expected '
        '0..255 (OpenScene files store [-1, 1]: load them with '
        'LoadOpenScenePoints ...)"'),
    'test_geopurify_implausible_points[colours_16bit]': (
        '3d', '16-bit colours (0..65535)',
        'same `ValueError` ("16-bit colours: divide by 257")'),
}
