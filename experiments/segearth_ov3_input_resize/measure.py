"""How far SAM3Segmentor's two input resamplers are from the authors'
Sam3Processor transform (torchvision v2: uint8 -> Resize(1008, antialias)
-> /255 -> (x - 0.5) / 0.5), on the real tiles of ../shared/data/rs and on
upscaled copies of a real tile (large inputs, as LoveDA / xBD / UAVid).

    python experiments/segearth_ov3_input_resize/measure.py [--data DIR]

Prints a table: for each image size, the mean and max absolute difference in
[-1, 1] units (1 grey level = 0.0078) of 'uint8_antialias' (our default) and
'float_bilinear' (our former resize) from the authors' pixels.
"""
import argparse
import glob
import os.path as osp
import sys

import numpy as np
import torch

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, REPO)


def authors(img_u8, size=1008):
    from torchvision.transforms import v2
    t = v2.Compose([v2.ToDtype(torch.uint8, scale=True),
                    v2.Resize(size=(size, size)),
                    v2.ToDtype(torch.float32, scale=True),
                    v2.Normalize(mean=[0.5] * 3, std=[0.5] * 3)])
    return t(img_u8)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--data', default=osp.join(REPO, '..', 'shared', 'data',
                                              'rs'))
    args = p.parse_args(argv)
    from mmengine.registry import init_default_scope
    from PIL import Image
    init_default_scope('mmseg')
    import ovseg_plugins.seg2d  # noqa: F401
    from mmseg.registry import MODELS
    sys.path.insert(0, osp.join(REPO, 'tests'))
    from fixtures.tiny_sam3 import TINY_SAM3_BACKBONE
    segs = {m: MODELS.build(dict(type='SAM3Segmentor',
                                 backbone=dict(TINY_SAM3_BACKBONE),
                                 class_names='a;b', input_resize=m))
            for m in ('uint8_antialias', 'float_bilinear')}
    files = sorted(glob.glob(osp.join(args.data, '*', 'img_dir', 'val', '*'))
                   + glob.glob(osp.join(args.data, '*', '*.tif')))
    if not files:
        sys.exit(f'no images under {args.data}')
    imgs = [(osp.relpath(f, args.data),
             np.array(Image.open(f).convert('RGB'))) for f in files]
    big = Image.fromarray(imgs[0][1])
    for hw in ((2000, 3000), (2160, 3840)):
        imgs.append((f'{osp.basename(files[0])} upscaled (bicubic)',
                     np.array(big.resize(hw[::-1], Image.BICUBIC))))
    print('| image | size | ours (uint8_antialias) mean / max | former '
          '(float_bilinear) mean / max |')
    print('|---|---|---|---|')
    for name, a in imgs:
        u8 = torch.from_numpy(a).permute(2, 0, 1).contiguous()
        ref = authors(u8)
        x = ((u8.float() - 127.5) / 127.5)[None]  # the preprocessor output
        row = []
        for m, seg in segs.items():
            d = (seg.resize_input(x, (1008, 1008))[0] - ref).abs()
            row.append(f'{d.mean():.4f} / {d.max():.4f}')
        print(f'| {name} | {a.shape[1]}x{a.shape[0]} | {row[0]} | {row[1]} |')


if __name__ == '__main__':
    main()
