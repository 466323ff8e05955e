"""Convert 0/255 (or any >0) binary masks to 0/1 label maps.

Used for WHU (aerial, Sat. II), xBD (``targets`` -> ``targets_cvt_pre``),
Inria, CHN6-CUG, the GlobalRoadSet road sets and WBS-SI, whose masks store the
foreground as 255 (or as RGB white).

    python tools/dataset_converters/binarize_labels.py SRC_DIR DST_DIR \
        [--suffix .png] [--out-suffix .png] [--threshold 127] [--nproc 4]

Writes single-channel (mode "L") PNG/TIF files with values 0 and 1. Fails on
a mask that is not binary enough (more than two grey levels far from 0/255),
which usually means an image folder was given instead of a label folder.
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


def binarize(src: str, dst: str, threshold: int = 127) -> np.ndarray:
    arr = np.array(Image.open(src))
    if arr.ndim == 3:
        arr = arr[..., :3].max(axis=-1)
    levels = np.unique(arr)
    mid = levels[(levels > 10) & (levels < 245)]
    if mid.size > 0.01 * 256 and arr.max() > 1:
        frac = np.isin(arr, mid).mean()
        if frac > 0.05:
            raise ValueError(
                f'{src}: {frac:.0%} of pixels are neither near 0 nor near 255; '
                'this does not look like a binary mask (label folder?).')
    if arr.max() <= 1:
        out = arr.astype(np.uint8)
    else:
        out = (arr > threshold).astype(np.uint8)
    os.makedirs(osp.dirname(dst) or '.', exist_ok=True)
    if osp.exists(dst) and osp.samefile(src, dst):
        raise ValueError(f'{dst}: the output would overwrite its input; give '
                         'a DST_DIR other than SRC_DIR (or --out-suffix).')
    img = Image.fromarray(out, mode='L')
    atomic_write(dst, img.save, suffix=osp.splitext(dst)[1] or '.png')
    return out


def _job(a):
    return binarize(*a)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('src')
    p.add_argument('dst')
    p.add_argument('--suffix', default='.png')
    p.add_argument('--out-suffix', default=None)
    p.add_argument('--threshold', type=int, default=127)
    p.add_argument('--nproc', type=int, default=1)
    args = p.parse_args(argv)
    if not osp.isdir(args.src):
        raise FileNotFoundError(f'source folder not found: {args.src!r}')
    files = sorted(f for f in os.listdir(args.src) if f.endswith(args.suffix))
    if not files:
        raise FileNotFoundError(
            f'no *{args.suffix} files in {args.src!r}; set --suffix.')
    osuf = args.out_suffix or args.suffix
    jobs = [(osp.join(args.src, f), osp.join(args.dst, f[:-len(args.suffix)] +
                                             osuf), args.threshold)
            for f in files]
    if args.nproc > 1:
        with Pool(args.nproc) as pool:
            pool.map(_job, jobs)
    else:
        for j in jobs:
            _job(j)
    print(f'binarized {len(jobs)} masks into {args.dst}')


if __name__ == '__main__':
    main()
