"""Convert UAVid (colour labels, 3840x2160 frames) to index-PNG patches.

    python tools/dataset_converters/uavid.py UAVID_ROOT OUT_DIR \
        [--split uavid_val] [--out-split test] [--patch 1280 1080] [--nproc 4]

Input layout: ``UAVID_ROOT/<split>/<seq>/{Images,Labels}/<frame>.png``.
Output: ``OUT_DIR/img_dir/<out-split>/<seq>_<frame>_<i>.png`` and
``OUT_DIR/ann_dir/<out-split>/...`` (single-channel, mode "L").

Classes (UAVidDataset order): 0 background/clutter, 1 building, 2 road,
3 car (static and moving merged), 4 tree, 5 low vegetation, 6 human; any
colour not in the palette becomes 255 (ignore). Frames are cut into
non-overlapping 1280x1080 patches. Unlike the authors' converter, labels are
written in mode "L" (their mode-"P" save produced all-zero labels).
"""
import argparse
import os
import os.path as osp
import sys
from multiprocessing import Pool

import numpy as np
from PIL import Image

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(
    __file__)))))
from ovseg_plugins.utils.io import atomic_write  # noqa: E402

# official UAVid colours -> our class index
UAVID_COLOURS = {
    (0, 0, 0): 0,  # background clutter
    (128, 0, 0): 1,  # building
    (128, 64, 128): 2,  # road
    (192, 0, 192): 3,  # static car
    (64, 0, 128): 3,  # moving car -> car
    (0, 128, 0): 4,  # tree
    (128, 128, 0): 5,  # low vegetation
    (64, 64, 0): 6,  # human
}


def colour_to_index(rgb: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 colours -> (H, W) uint8 indices (255 = unknown)."""
    code = (rgb[..., 0].astype(np.int32) << 16) | (
        rgb[..., 1].astype(np.int32) << 8) | rgb[..., 2].astype(np.int32)
    out = np.full(rgb.shape[:2], 255, np.uint8)
    for (r, g, b), idx in UAVID_COLOURS.items():
        out[code == ((r << 16) | (g << 8) | b)] = idx
    return out


def convert_frame(img_path, lbl_path, out_root, out_split, stem, patch):
    img = np.array(Image.open(img_path).convert('RGB'))
    lbl = colour_to_index(np.array(Image.open(lbl_path).convert('RGB')))
    if img.shape[:2] != lbl.shape:
        raise ValueError(f'{img_path} and {lbl_path} differ in size')
    pw, ph = patch
    H, W = lbl.shape
    n = 0
    for y in range(0, H - ph + 1, ph):
        for x in range(0, W - pw + 1, pw):
            name = f'{stem}_{n}.png'
            for sub, arr, mode in (('img_dir', img, 'RGB'),
                                   ('ann_dir', lbl, 'L')):
                d = osp.join(out_root, sub, out_split)
                os.makedirs(d, exist_ok=True)
                im = Image.fromarray(arr[y:y + ph, x:x + pw], mode=mode)
                atomic_write(osp.join(d, name),
                             im.save, suffix='.png')
            n += 1
    return n


def _job(a):
    return convert_frame(*a)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('root')
    p.add_argument('out')
    p.add_argument('--split', default='uavid_val')
    p.add_argument('--out-split', default='test')
    p.add_argument('--patch', type=int, nargs=2, default=(1280, 1080),
                   metavar=('W', 'H'))
    p.add_argument('--nproc', type=int, default=1)
    args = p.parse_args(argv)
    split_dir = osp.join(args.root, args.split)
    if not osp.isdir(split_dir):
        raise FileNotFoundError(f'UAVid split folder not found: {split_dir!r}')
    jobs = []
    for seq in sorted(os.listdir(split_dir)):
        idir = osp.join(split_dir, seq, 'Images')
        ldir = osp.join(split_dir, seq, 'Labels')
        if not osp.isdir(ldir):
            continue
        for f in sorted(os.listdir(idir)):
            jobs.append((osp.join(idir, f), osp.join(ldir, f), args.out,
                         args.out_split, f'{seq}_{osp.splitext(f)[0]}',
                         tuple(args.patch)))
    if not jobs:
        raise FileNotFoundError(f'no <seq>/Images + Labels under {split_dir}')
    if args.nproc > 1:
        with Pool(args.nproc) as pool:
            n = sum(pool.map(_job, jobs))
    else:
        n = sum(_job(j) for j in jobs)
    print(f'wrote {n} patches from {len(jobs)} frames to {args.out}')


if __name__ == '__main__':
    main()
