"""Open-vocabulary segmentation of one image with free-text class names.

    python tools/demo/image_demo.py IMAGE --classes "road;building,roof;tree;car" \
        --out-dir outputs/demo [--weights openai|/path/to/clip.pt] [--config CFG]

Writes ``<stem>_overlay.png`` (prediction blended on the image, with a colour
legend), ``<stem>_labels.png`` (uint8 label map, value = class index) and
``<stem>_summary.json``. Classes are separated by ``;`` and synonyms by ``,``
(or give a class-name file). When the weights cannot be had (offline, as on
the CI machines) it says so in one line and runs with random weights, stamping
"random weights: plumbing check only" on the picture.
"""
import argparse
import json
import os
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from _bootstrap import bootstrap  # noqa: E402

bootstrap()

import numpy as np  # noqa: E402
from PIL import Image, ImageDraw, ImageFont  # noqa: E402

from ovseg_plugins.utils.io import output_stamp, write_output_set  # noqa: E402,E501
from ovseg_plugins.utils.validation import (check_int, check_range,  # noqa
                                            label_dtype)

RANDOM_STAMP = 'random weights: plumbing check only'
DEFAULT_CONFIG = 'configs/_base_/models/segearth_vit-b16.py'


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('image', help='input image file')
    p.add_argument('--classes', required=True,
                   help='"a,b;c;d" (";" between classes, "," between '
                   'synonyms) or a class-name file')
    p.add_argument('--out-dir', default='outputs/demo')
    p.add_argument('--config', default=None,
                   help=f'model config (default {DEFAULT_CONFIG})')
    p.add_argument('--weights', default=None,
                   help='open_clip tag (downloads on a connected machine) or '
                   'local checkpoint; default: the config\'s')
    p.add_argument('--no-download', action='store_true',
                   help='never download weights')
    p.add_argument('--device', default='cpu')
    p.add_argument('--long-side', type=int, default=448,
                   help='resize the long side to this before inference')
    p.add_argument('--alpha', type=float, default=0.5)
    return p.parse_args(argv)


def palette(n: int) -> np.ndarray:
    base = np.array([[128, 64, 128], [220, 20, 60], [107, 142, 35],
                     [0, 130, 0], [255, 200, 0], [0, 120, 255],
                     [150, 100, 50], [255, 0, 255], [0, 255, 255],
                     [128, 128, 128], [255, 128, 0], [70, 70, 70]], np.uint8)
    if n <= len(base):
        return base[:n]
    rng = np.random.default_rng(1)
    extra = rng.integers(0, 255, (n - len(base), 3), dtype=np.uint8)
    return np.concatenate([base, extra])


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def render_overlay(image: np.ndarray, labels: np.ndarray, names, colours,
                   alpha: float, stamp: str = None) -> Image.Image:
    """Blend the label colours on the image and add a legend panel."""
    colour_map = colours[labels]
    blend = (image.astype(np.float32) * (1 - alpha) +
             colour_map.astype(np.float32) * alpha).astype(np.uint8)
    h, w = labels.shape
    font = _font(max(12, h // 32))
    row = max(18, h // 22)
    total = labels.size
    entries = [f'{name} ({100.0 * (labels == i).sum() / total:.1f}%)'
               for i, name in enumerate(names)]
    probe = ImageDraw.Draw(Image.new('RGB', (1, 1)))
    text_w = max(probe.textbbox((0, 0), e, font=font)[2] for e in entries)
    legend_w = text_w + row + 24
    canvas = Image.new('RGB', (w + legend_w, h), (255, 255, 255))
    canvas.paste(Image.fromarray(blend), (0, 0))
    d = ImageDraw.Draw(canvas)
    for i, (entry, c) in enumerate(zip(entries, colours)):
        y = 8 + i * row
        d.rectangle((w + 8, y, w + 8 + row - 4, y + row - 4),
                    fill=tuple(int(v) for v in c), outline=(0, 0, 0))
        d.text((w + 12 + row, y), entry, fill=(0, 0, 0), font=font)
    if stamp:
        sf = _font(max(14, h // 24))
        bbox = d.textbbox((0, 0), stamp, font=sf)
        tw, th = bbox[2] - bbox[0], bbox[3] - bbox[1]
        d.rectangle((4, h - th - 16, 12 + tw, h - 4), fill=(0, 0, 0))
        d.text((8, h - th - 12), stamp, fill=(255, 60, 60), font=sf)
    return canvas


def build_model(cfg_path: str, classes: str, weights, allow_download: bool,
                device: str):
    """Build the segmentor; fall back to random weights if none can be had."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope

    from ovseg_plugins.utils import WeightsNotFoundError
    cfg = Config.fromfile(cfg_path)
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    from mmseg.registry import MODELS
    cfg.model.class_names = classes
    if weights is not None:
        cfg.model.backbone.pretrained = weights
    cfg.model.backbone.allow_download = allow_download
    random_weights = cfg.model.backbone.get('pretrained') is None
    try:
        model = MODELS.build(cfg.model)
    except WeightsNotFoundError as e:
        print(f'[image_demo] weights unavailable '
              f'({str(e).splitlines()[0][:160]}) -> running with RANDOM '
              'weights: plumbing check only.')
        cfg.model.backbone.pretrained = None
        random_weights = True
        model = MODELS.build(cfg.model)
    return model.to(device).eval(), random_weights


def run(args) -> dict:
    import torch
    from mmengine.dataset import Compose
    repo = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
    cfg_path = args.config or osp.join(repo, DEFAULT_CONFIG)
    if not osp.isfile(args.image):
        raise FileNotFoundError(f'Input image not found: {args.image!r}.')
    check_range('--alpha', args.alpha, 0, 1, 'image_demo')
    check_int('--long-side', args.long_side, 'image_demo', lo=16)
    torch.manual_seed(0)  # reproducible random-weights fallback
    allow = not args.no_download and os.environ.get('HF_HUB_OFFLINE') != '1'
    model, random_weights = build_model(cfg_path, args.classes, args.weights,
                                        allow, args.device)
    pipeline = Compose([
        dict(type='LoadImageFromFile'),
        dict(type='Resize', scale=(args.long_side, args.long_side),
             keep_ratio=True),
        dict(type='PackSegInputs')
    ])
    data = pipeline(dict(img_path=args.image))
    batch = model.data_preprocessor(
        dict(inputs=[data['inputs']], data_samples=[data['data_samples']]),
        False)
    with torch.no_grad():
        result = model.predict(batch['inputs'], batch['data_samples'])[0]
    labels = result.pred_sem_seg.data[0].cpu().numpy().astype(
        label_dtype(model.num_classes, 'image_demo labels'))
    image = np.array(Image.open(args.image).convert('RGB'))
    names = [','.join(s) for s in model.vocabulary.classes]
    colours = palette(len(names))
    stamp = RANDOM_STAMP if random_weights else None
    if random_weights:
        print(f'[image_demo] {RANDOM_STAMP}')
    overlay = render_overlay(image, labels, names, colours, args.alpha, stamp)
    os.makedirs(args.out_dir, exist_ok=True)
    stem = osp.splitext(osp.basename(args.image))[0]
    out_overlay = osp.join(args.out_dir, f'{stem}_overlay.png')
    out_labels = osp.join(args.out_dir, f'{stem}_labels.png')
    summary = dict(
        image=args.image, classes=names, random_weights=random_weights,
        overlay=out_overlay, label_map=out_labels,
        pixel_fraction={n: float((labels == i).mean())
                        for i, n in enumerate(names)})

    def write_summary(tmp):  # last: stamped with the pictures' hashes
        summary['outputs'] = output_stamp([out_overlay, out_labels])
        with open(tmp, 'w') as f:
            json.dump(summary, f, indent=2)

    write_output_set([  # old set removed first; each file atomic
        (out_overlay, overlay.save),
        (out_labels, Image.fromarray(labels).save),
        (osp.join(args.out_dir, f'{stem}_summary.json'), write_summary)])
    print(f'[image_demo] wrote {out_overlay} and {out_labels}')
    return summary


if __name__ == '__main__':
    run(parse_args())
