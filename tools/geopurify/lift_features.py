"""Lift 2D features onto a scene's points (GeoPurify stage A), once per scene.

    python tools/geopurify/lift_features.py SCENE_DIR POINTS OUT_DIR \
        --text TEXT.pt [--feature-dir DIR | --clip ViT-B-16 --clip-weights W]
        [--classes FILE] [--every 20] [--vis-threshold 0.05] [--cut 10]
        [--intrinsics FILE] [--intrinsic-rule center|scale]
        [--intrinsic-size W H] [--min-visible 400] [--no-fill] [--no-zbuffer]

SCENE_DIR holds ``color/<f>.jpg|png``, ``pose/<f>.txt`` (4x4 camera-to-
world), ``intrinsic/intrinsic_color.txt`` (3x3 or 4x4) and optionally
``depth/<f>.png`` (uint16, millimetres; ``--depth-scale``) (ScanNet's export),
or ``<f>.jpg``, ``<f>.txt`` and ``intrinsic.txt`` side by side (mmdet3d's
``extract_posed_images.py``: no depth, renumbered ids, use ``--every 1``);
every N-th frame (by integer id) is used. Frames without depth maps get one
z-buffered from the points themselves, so hidden points are not lifted
(``--no-zbuffer``: frustum only). POINTS is a float32 ``.bin`` (N x 6).
Points are projected into the frames actually read: the depth map when there
is one, else the colour image. The intrinsics (``--intrinsics``, default
``intrinsic/intrinsic_color.txt``) are rescaled to that frame size by the
GeoPurify authors' rule (``--intrinsic-rule center``: focal lengths by
``size / (2 x principal point)``, principal point at the image centre) or an
exact resize from ``--intrinsic-size`` (``scale``); the log says which, and
intrinsics whose frame does not fit the images (aspect ratio, principal
point) are refused. As in the authors' code, views with fewer than
``--min-visible`` (400) visible points are skipped, and a visible point whose
feature-map cell is empty (all zeros: masked / region-pooled features) takes
the cell of the nearest visible point of the same view that has a feature
(``--no-fill`` turns this off).
2D features: per-frame maps from any model (``--feature-dir/<f>.npy``,
(D, h, w)), or our dense CLIP backbone (``--clip``, user-supplied weights).
Per-view features are fused by consensus-weighted top-3 against the class
text embeddings (``--text`` (C, D) file, or ``--classes`` with the CLIP text
tower and "a {} in a scene"); never-seen points copy their nearest seen
point. Writes ``OUT_DIR/<points stem>.npz``: ``feat`` (N x D, ``--dtype``
float16 by default) and ``seen`` (visibility; informational: the unseen
points' filled features are used, as by the authors and
``GeoPurifyInferencer``).
"""
import argparse
import os
import os.path as osp
import sys
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from _bootstrap import bootstrap  # noqa: E402

bootstrap()

import numpy as np  # noqa: E402
import torch  # noqa: E402

from ovseg_plugins.utils.open_clip_loader import load_clip_cfg  # noqa: E402


def lift(args):
    from ovseg_plugins.apis.geopurify.feature_sources import (
        ClipFeatureSource, FeatureMapSource)
    from ovseg_plugins.seg3d.lifting import lift_views
    from ovseg_plugins.seg3d.rgbd_frames import RGBDFrames
    from ovseg_plugins.text import Vocabulary
    from ovseg_plugins.utils.io import atomic_write
    from ovseg_plugins.utils.validation import check_array, file_errors
    t0 = time.perf_counter()
    pts = np.fromfile(args.points, dtype=np.float32)
    if pts.size == 0 or pts.size % 6:
        raise ValueError(f'{args.points}: expected a non-empty float32 N x 6 '
                         'point file')
    xyz = torch.from_numpy(pts.reshape(-1, 6)[:, :3].copy())
    frames = RGBDFrames(args.scene_dir, args.every, args.depth_scale,
                        args.intrinsics, args.intrinsic_size and
                        tuple(args.intrinsic_size[::-1]))
    print(f'frames: {frames.layout["name"]} layout in {args.scene_dir}')
    if args.clip:
        source = ClipFeatureSource(args.clip, args.clip_weights,
                                   load_clip_cfg(args.clip_cfg))
    else:
        source = FeatureMapSource(args.feature_dir)
    if args.text:
        from ovseg_plugins.utils.checkpoint import load_torch_file
        text = load_torch_file(args.text, 'text embeddings (--text)')
        if isinstance(text, dict):  # tools/geopurify/text_embeddings.py
            text = text['text_embeds']
        check_array('text embeddings', text, args.text, shape=(None, None),
                    nonzero_rows=True)
    elif args.clip and args.classes:
        text = source.text(Vocabulary.build(args.classes).queries,
                           ['a {} in a scene'])
    else:
        raise ValueError('give --text (C, D) or --classes with --clip')
    res = lift_views(
        xyz, frames, text, source,
        dict(vis_threshold=args.vis_threshold, cut_boundary=args.cut,
             logit_scale=args.logit_scale, min_visible=args.min_visible,
             max_visible=args.max_visible, fill_uncovered=not args.no_fill,
             zbuffer=not args.no_zbuffer,
             intrinsic_rule=args.intrinsic_rule),
        log=print, name=args.points, option_hint='--min-visible')
    os.makedirs(args.out_dir, exist_ok=True)
    out = osp.join(args.out_dir,
                   osp.splitext(osp.basename(args.points))[0] + '.npz')
    feat = res.fused.numpy().astype(args.dtype)
    if not np.isfinite(feat).all():
        raise ValueError(f'{args.points}: fused features overflow '
                         f'{args.dtype} (max |value| '
                         f'{float(res.fused.abs().max()):.3g}); normalise the '
                         '2D feature maps.')
    # 'seen' (not 'mask': LoadPointFeatures zeroes a mask's False rows): the
    # unseen points keep their nearest seen point's feature, as the
    # authors' lifting and GeoPurifyInferencer
    atomic_write(out, lambda tmp: np.savez(tmp, feat=feat,
                                           seen=res.seen.numpy()),
                 suffix='.npz')
    print(f'{res.summary()}, {time.perf_counter() - t0:.2f} s -> {out}')
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('scene_dir')
    p.add_argument('points')
    p.add_argument('out_dir')
    p.add_argument('--feature-dir')
    p.add_argument('--clip', help='open_clip architecture (dense CLIP source)')
    p.add_argument('--clip-weights', help='local CLIP checkpoint')
    p.add_argument('--clip-cfg', help='open_clip model config (JSON file or '
                   'inline JSON) for custom architectures')
    p.add_argument('--classes', help='class-name file or "a;b;c"')
    p.add_argument('--text', help='(C, D) class embeddings .pt')
    p.add_argument('--every', type=int, default=20)
    p.add_argument('--depth-scale', type=float, default=1000.)
    p.add_argument('--vis-threshold', type=float, default=0.05)
    p.add_argument('--cut', type=int, default=10)
    p.add_argument('--logit-scale', type=float, default=100.)
    p.add_argument('--intrinsics', help='3x3/4x4 intrinsics file (default '
                   'SCENE_DIR/intrinsic/intrinsic_color.txt, or '
                   'SCENE_DIR/intrinsic.txt in mmdet3d\'s layout)')
    p.add_argument('--intrinsic-rule', choices=('center', 'scale'),
                   default='center', help="rescale rule: 'center' (GeoPurify "
                   "authors': principal point at the image centre) or "
                   "'scale' (exact resize from --intrinsic-size)")
    p.add_argument('--intrinsic-size', type=int, nargs=2,
                   metavar=('W', 'H'), help='frame size the intrinsics belong '
                   'to (default: twice the principal point)')
    p.add_argument('--min-visible', type=int, default=400,
                   help="skip views with fewer visible points (authors': "
                   '400; 0 keeps all)')
    p.add_argument('--max-visible', type=int, default=None,
                   help='skip views with more visible points (default: no '
                   "cap; the authors' training loader uses 65000)")
    p.add_argument('--no-fill', action='store_true',
                   help='do not give featureless visible pixels the feature '
                   'of the nearest covered point of the same view')
    p.add_argument('--dtype', choices=('float16', 'float32'),
                   default='float16', help='storage of the fused features '
                   '(float16 halves the files; float32 keeps them exactly as '
                   'GeoPurifyInferencer computes them)')
    p.add_argument('--no-zbuffer', action='store_true',
                   help='frames without depth maps: keep every point in the '
                   'frustum instead of z-buffering the points for occlusion')
    args = p.parse_args(argv)
    if not (args.feature_dir or args.clip):
        p.error('give --feature-dir or --clip')
    from ovseg_plugins.utils import WeightsNotFoundError
    from ovseg_plugins.utils.open_clip_loader import (cli_weights_message,
                                                      require_clip_weights)
    require_clip_weights(args.clip, args.clip_weights)
    try:
        return lift(args)
    except WeightsNotFoundError as e:
        raise SystemExit(cli_weights_message(e)) from None


if __name__ == '__main__':
    main()
