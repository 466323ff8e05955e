"""Cut small training / validation crops out of LoveDA-format tiles.

    python tools/dataset_converters/loveda_crops.py SRC OUT \
        [--train 200] [--val 20] [--size 64] [--src-split val] [--seed 0]

For the small CoIDO example (``configs/coido/fcn-tiny_loveda.py`` reads
``data/loveda_coido``) or any quick experiment on a few LoveDA tiles, e.g.
mmseg's converted LoveDA (``data/loveDA``) or a handful of tiles in its
layout. Input: ``SRC/img_dir/<src-split>/*.png`` with the label maps of the
same names in ``SRC/ann_dir/<src-split>/`` (LoveDA values: 0 = no-data,
v = class v-1). The tiles are subsampled 2x (1024 px tiles -> 512 px, as
``--scale`` says), then ``--train`` and ``--val`` random ``--size`` windows
are cut, taking the tiles in turn, into ``OUT/{img,ann}_dir/{train,val}/
NNNN.png`` (labels unchanged). Every file is written atomically; OUT must not
be SRC.
"""
import argparse
import os
import os.path as osp
import sys
from typing import List

import numpy as np

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))
from ovseg_plugins.utils.io import atomic_write  # noqa: E402


def _tiles(src: str, split: str, step: int) -> list:
    from PIL import Image
    img_dir = osp.join(src, 'img_dir', split)
    ann_dir = osp.join(src, 'ann_dir', split)
    for d in (img_dir, ann_dir):
        if not osp.isdir(d):
            raise FileNotFoundError(
                f'LoveDA folder not found: {d!r}; SRC must hold '
                f'img_dir/{split} and ann_dir/{split} (mmseg\'s LoveDA '
                'layout; --src-split picks the split).')
    names = sorted(f for f in os.listdir(img_dir)
                   if f.lower().endswith('.png'))
    if not names:
        raise FileNotFoundError(f'no .png tiles in {img_dir!r}')
    tiles = []
    for f in names:
        lpath = osp.join(ann_dir, f)
        if not osp.isfile(lpath):
            raise FileNotFoundError(f'{osp.join(img_dir, f)} has no label '
                                    f'map {lpath!r}')
        img = np.array(Image.open(osp.join(img_dir, f)).convert('RGB'))
        lab = np.array(Image.open(lpath))
        if lab.shape != img.shape[:2]:
            raise ValueError(f'{lpath}: label map {lab.shape} is not the '
                             f'size of its tile {img.shape[:2]}')
        tiles.append((img[::step, ::step], lab[::step, ::step]))
    return tiles


def cut_crops(src: str, out: str, n_train: int, n_val: int = 4,
              size: int = 64, seed: int = 0, src_split: str = 'val',
              step: int = 2) -> List[str]:
    """Write the crops; return the training file names in dataset order.

    Args:
        src (str): LoveDA-format root.
        out (str): Output root (created).
        n_train (int): Training crops.
        n_val (int): Validation crops.
        size (int): Crop side in pixels (after subsampling).
        seed (int): Seed of the crop positions.
        src_split (str): Split of ``src`` to cut from.
        step (int): Subsampling of the tiles (2: half resolution).

    Returns:
        list[str]: ``NNNN.png`` names of the training crops.
    """
    from PIL import Image
    if osp.realpath(src) == osp.realpath(out):
        raise ValueError(f'OUT {out!r} is SRC: give another folder.')
    if size < 1 or n_train < 0 or n_val < 0 or step < 1:
        raise ValueError(f'size {size}, --train {n_train}, --val {n_val} and '
                         f'step {step}: sizes must be >= 1, counts >= 0.')
    tiles = _tiles(src, src_split, step)
    small = min(min(lab.shape) for _, lab in tiles)
    if small < size:
        raise ValueError(f'--size {size} is larger than the smallest '
                         f'subsampled tile side ({small} px).')
    rng = np.random.default_rng(seed)
    written = []
    for split, count in (('train', n_train), ('val', n_val)):
        for i in range(count):
            img, lab = tiles[i % len(tiles)]
            y, x = (int(rng.integers(0, d - size + 1)) for d in lab.shape)
            name = f'{i:04d}.png'
            for sub, arr in (('img_dir', img), ('ann_dir', lab)):
                crop = Image.fromarray(arr[y:y + size, x:x + size])
                atomic_write(osp.join(out, sub, split, name), crop.save,
                             suffix='.png')
            if split == 'train':
                written.append(name)
    return written


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('src', help='LoveDA-format root (img_dir/, ann_dir/)')
    p.add_argument('out', help='output root, e.g. data/loveda_coido')
    p.add_argument('--train', type=int, default=200, help='training crops')
    p.add_argument('--val', type=int, default=20, help='validation crops')
    p.add_argument('--size', type=int, default=64, help='crop side (px)')
    p.add_argument('--src-split', default='val',
                   help='split of SRC to cut from (default val)')
    p.add_argument('--seed', type=int, default=0)
    args = p.parse_args(argv)
    names = cut_crops(args.src, args.out, args.train, args.val, args.size,
                      args.seed, args.src_split)
    print(f'{len(names)} training and {args.val} validation {args.size}px '
          f'crops -> {args.out}/{{img,ann}}_dir/{{train,val}}/')
    return names


if __name__ == '__main__':
    main()
