"""Cut Inria Aerial Image Labeling tiles into patches with 0/1 labels.

    python tools/dataset_converters/inria.py INRIA_ROOT OUT_DIR \
        [--split-file split_test.txt] [--out-split split_test] [--patch 1000]

Input: ``INRIA_ROOT/train/{images,gt}/<city><n>.tif`` (5000x5000, gt 0/255).
Output: ``OUT_DIR/img_dir/<out-split>/<stem>_<i>.png`` and
``OUT_DIR/ann_dir/<out-split>/<stem>_<i>.png`` (mode "L", values 0/1).
``--split-file`` lists the tile stems to convert (one per line; SegEarth-OV
follows FCtL's split); without it every tile is converted.
"""
import argparse
import os
import os.path as osp
import sys

import numpy as np
from PIL import Image

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))
from ovseg_plugins.utils.io import atomic_write  # noqa: E402

Image.MAX_IMAGE_PIXELS = None  # 5000x5000 tiles


def convert_tile(img_path, gt_path, out, split, patch):
    img = np.array(Image.open(img_path).convert('RGB'))
    gt = np.array(Image.open(gt_path))
    if gt.ndim == 3:
        gt = gt[..., 0]
    gt = (gt > 127).astype(np.uint8)
    stem = osp.splitext(osp.basename(img_path))[0]
    n = 0
    for y in range(0, img.shape[0] - patch + 1, patch):
        for x in range(0, img.shape[1] - patch + 1, patch):
            for sub, arr, mode in (('img_dir', img, 'RGB'),
                                   ('ann_dir', gt, 'L')):
                d = osp.join(out, sub, split)
                os.makedirs(d, exist_ok=True)
                im = Image.fromarray(arr[y:y + patch, x:x + patch], mode)
                atomic_write(osp.join(d, f'{stem}_{n}.png'),
                             im.save, suffix='.png')
            n += 1
    return n


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('root')
    p.add_argument('out')
    p.add_argument('--split-file', default=None)
    p.add_argument('--out-split', default='split_test')
    p.add_argument('--patch', type=int, default=1000)
    args = p.parse_args(argv)
    img_dir = osp.join(args.root, 'train', 'images')
    gt_dir = osp.join(args.root, 'train', 'gt')
    for d in (img_dir, gt_dir):
        if not osp.isdir(d):
            raise FileNotFoundError(f'Inria folder not found: {d!r}')
    stems = sorted(osp.splitext(f)[0] for f in os.listdir(img_dir)
                   if f.endswith('.tif'))
    if args.split_file:
        with open(args.split_file) as f:
            wanted = {line.strip() for line in f if line.strip()}
        missing = wanted - set(stems)
        if missing:
            raise FileNotFoundError(
                f'{args.split_file}: tiles not found in {img_dir}: '
                f'{sorted(missing)[:5]}')
        stems = [s for s in stems if s in wanted]
    n = sum(convert_tile(osp.join(img_dir, s + '.tif'),
                         osp.join(gt_dir, s + '.tif'), args.out,
                         args.out_split, args.patch) for s in stems)
    print(f'wrote {n} patches from {len(stems)} tiles to {args.out}')


if __name__ == '__main__':
    main()
