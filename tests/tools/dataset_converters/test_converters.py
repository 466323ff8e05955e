import os.path as osp
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import REPO_ROOT

sys.path.insert(0, osp.join(REPO_ROOT, 'tools', 'dataset_converters'))


def test_uavid_colours_to_indices_not_all_zero(tmp_path):
    import uavid
    seq = tmp_path / 'uavid_val' / 'seq1'
    (seq / 'Images').mkdir(parents=True)
    (seq / 'Labels').mkdir()
    rng = np.random.default_rng(0)
    colours = list(uavid.UAVID_COLOURS)
    idx = rng.integers(0, len(colours), (216, 256))
    lbl = np.array(colours, np.uint8)[idx]
    lbl[0, 0] = (1, 2, 3)  # unknown colour -> ignore
    Image.fromarray(lbl).save(seq / 'Labels' / '000.png')
    Image.fromarray(rng.integers(0, 255, (216, 256, 3), dtype=np.uint8)).save(
        seq / 'Images' / '000.png')
    uavid.main([str(tmp_path), str(tmp_path / 'out'), '--patch', '128', '108'])
    out = sorted((tmp_path / 'out' / 'ann_dir' / 'test').glob('*.png'))
    assert len(out) == 4  # 2 x 2 patches
    got = Image.open(out[0])
    assert got.mode == 'L'
    expect = np.array([uavid.UAVID_COLOURS[tuple(c)] for c in colours],
                      np.uint8)[idx][:108, :128]
    expect[0, 0] = 255
    np.testing.assert_array_equal(np.array(got), expect)
    assert len(np.unique(np.array(got))) > 5  # not the all-zero bug


def test_binarize_255_masks(tmp_path):
    import binarize_labels
    src = tmp_path / 'src'
    src.mkdir()
    m = np.zeros((10, 10), np.uint8)
    m[2:5, 3:7] = 255
    Image.fromarray(m).save(src / 'a.png')
    Image.fromarray(np.stack([m] * 3, -1)).save(src / 'b.png')
    binarize_labels.main([str(src), str(tmp_path / 'dst')])
    for f in ('a.png', 'b.png'):
        out = np.array(Image.open(tmp_path / 'dst' / f))
        np.testing.assert_array_equal(out, (m > 0).astype(np.uint8))


def test_binarize_rejects_photos(tmp_path):
    import binarize_labels
    src = tmp_path / 'src'
    src.mkdir()
    Image.fromarray(np.random.default_rng(0).integers(
        0, 255, (32, 32, 3), dtype=np.uint8)).save(src / 'photo.png')
    with pytest.raises(ValueError, match='photo.png'):
        binarize_labels.main([str(src), str(tmp_path / 'dst')])


def test_inria_patches_and_binary_labels(tmp_path):
    import inria
    for sub in ('images', 'gt'):
        (tmp_path / 'train' / sub).mkdir(parents=True)
    rng = np.random.default_rng(1)
    gt = (rng.random((40, 60)) > 0.5).astype(np.uint8) * 255
    Image.fromarray(gt).save(tmp_path / 'train' / 'gt' / 'austin1.tif')
    Image.fromarray(rng.integers(0, 255, (40, 60, 3), dtype=np.uint8)).save(
        tmp_path / 'train' / 'images' / 'austin1.tif')
    inria.main([str(tmp_path), str(tmp_path / 'out'), '--patch', '20'])
    out = sorted((tmp_path / 'out' / 'ann_dir' / 'split_test').glob('*.png'))
    assert len(out) == 6
    first = np.array(Image.open(tmp_path / 'out' / 'ann_dir' / 'split_test' /
                                'austin1_0.png'))
    np.testing.assert_array_equal(first, (gt[:20, :20] > 0).astype(np.uint8))


def test_loveda_crops_are_windows_of_the_subsampled_tiles(tmp_path):
    """Each crop and its label are the same window of a 2x-subsampled real
    LoveDA tile (found by search), in the layout the CoIDO example reads."""
    from conftest import shared_data_path
    import loveda_crops
    src = shared_data_path('rs', 'loveda')
    names = loveda_crops.main([src, str(tmp_path / 'out'), '--train', '5',
                               '--val', '2', '--size', '32'])
    assert names == [f'{i:04d}.png' for i in range(5)]
    assert sorted(p.name for p in (tmp_path / 'out' / 'img_dir' /
                                   'train').iterdir()) == names
    assert len(list((tmp_path / 'out' / 'ann_dir' / 'val').iterdir())) == 2
    srcs = sorted(osp.join(src, 'img_dir', 'val', f)
                  for f in ['0.png', '1.png', '2.png'])
    for i, name in enumerate(names):
        img = np.array(Image.open(tmp_path / 'out' / 'img_dir' / 'train' /
                                  name))
        lab = np.array(Image.open(tmp_path / 'out' / 'ann_dir' / 'train' /
                                  name))
        tile = np.array(Image.open(srcs[i % 3]).convert('RGB'))[::2, ::2]
        tlab = np.array(Image.open(srcs[i % 3].replace(
            'img_dir', 'ann_dir')))[::2, ::2]
        hits = [(y, x) for y in range(tile.shape[0] - 31)
                for x in range(tile.shape[1] - 31)
                if (tile[y, x] == img[0, 0]).all()
                and np.array_equal(tile[y:y + 32, x:x + 32], img)]
        assert hits, name
        y, x = hits[0]
        np.testing.assert_array_equal(tlab[y:y + 32, x:x + 32], lab)


def test_loveda_crops_refuse_their_source_and_missing_labels(tmp_path):
    import loveda_crops
    (tmp_path / 'img_dir' / 'val').mkdir(parents=True)
    (tmp_path / 'ann_dir' / 'val').mkdir(parents=True)
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(
        tmp_path / 'img_dir' / 'val' / 'a.png')
    with pytest.raises(ValueError, match='is SRC: give another folder'):
        loveda_crops.main([str(tmp_path), str(tmp_path)])
    with pytest.raises(FileNotFoundError, match=r'a\.png has no label map'):
        loveda_crops.main([str(tmp_path), str(tmp_path / 'o')])
    with pytest.raises(FileNotFoundError, match='img_dir/train and '
                       'ann_dir/train'):
        loveda_crops.main([str(tmp_path), str(tmp_path / 'o'),
                           '--src-split', 'train'])
