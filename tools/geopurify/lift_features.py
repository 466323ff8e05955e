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
point. Writes ``OUT_DIR/<points stem>.npz``: ``feat`` (fp16, N x D) and
``mask`` (visibility).
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
from PIL import Image  # noqa: E402


from ovseg_plugins.seg3d.rgbd_frames import (color_path, depth_path,  # noqa: E402,E501
                                             frame_layout, list_frames,
                                             load_matrix, pose_path)
from ovseg_plugins.utils.open_clip_loader import load_clip_cfg  # noqa: E402,F401


class ClipFeatures:
    """Dense CLIP features of a frame with our SegEarth-OV backbone."""

    def __init__(self, model_name, weights, classes, model_cfg=None):
        from mmengine.registry import init_default_scope
        init_default_scope('mmseg')
        import ovseg_plugins.seg2d  # noqa: F401
        from mmseg.registry import MODELS

        from ovseg_plugins.text import Vocabulary, encode_queries
        self.bb = MODELS.build(dict(type='DenseCLIPViT', model_name=model_name,
                                    pretrained=weights,
                                    model_cfg=model_cfg)).eval()
        self.text = None
        if classes:
            vocab = Vocabulary.build(classes)
            self.text = encode_queries(self.bb.encode_text, vocab.queries,
                                       ['a {} in a scene'])
        self.mean = torch.tensor([0.48145466, 0.4578275, 0.40821073])
        self.std = torch.tensor([0.26862954, 0.26130258, 0.27577711])

    @torch.no_grad()
    def __call__(self, rgb):
        x = torch.from_numpy(rgb).float().div(255).permute(2, 0, 1)
        x = ((x - self.mean[:, None, None]) / self.std[:, None, None])[None]
        p = self.bb.patch_size
        H, W = x.shape[-2:]
        x = torch.nn.functional.pad(x, (0, (-W) % p, 0, (-H) % p))
        return self.bb(x)[0][0]


def lift(args):
    from ovseg_plugins.seg3d.lifting import (ViewFusionAccumulator,
                                             fill_unseen, points_depth_map,
                                             project_points,
                                             rescale_intrinsics)
    from ovseg_plugins.utils.validation import check_array, file_errors
    t0 = time.perf_counter()
    pts = np.fromfile(args.points, dtype=np.float32)
    if pts.size == 0 or pts.size % 6:
        raise ValueError(f'{args.points}: expected a non-empty float32 N x 6 '
                         'point file')
    xyz = torch.from_numpy(pts.reshape(-1, 6)[:, :3].copy())
    layout = frame_layout(args.scene_dir)
    intr_path = args.intrinsics or layout['intrinsic']
    intr = torch.from_numpy(load_matrix(intr_path, (3, 3))).float()
    print(f'frames: {layout["name"]} layout in {args.scene_dir}')
    src_hw = tuple(args.intrinsic_size[::-1]) if args.intrinsic_size else None
    scaled = {}  # frame (H, W) -> rescaled intrinsics
    zbuffered = 0  # frames whose depth comes from the points
    clip = ClipFeatures(args.clip, args.clip_weights, args.classes,
                        load_clip_cfg(args.clip_cfg)) if args.clip else None
    if args.text:
        from ovseg_plugins.utils.checkpoint import load_torch_file
        text = load_torch_file(args.text, 'text embeddings (--text)')
        if isinstance(text, dict):  # tools/geopurify/text_embeddings.py
            text = text['text_embeds']
        check_array('text embeddings', text, args.text, shape=(None, None),
                    nonzero_rows=True)
    elif clip is not None and clip.text is not None:
        text = clip.text
    else:
        raise ValueError('give --text (C, D) or --classes with --clip')
    acc = ViewFusionAccumulator(len(xyz), text, args.logit_scale, k=3,
                                store_dtype=torch.float16, xyz=xyz,
                                fill_uncovered=not args.no_fill,
                                min_visible_points=args.min_visible,
                                max_visible_points=args.max_visible)
    for stem in list_frames(args.scene_dir, args.every):
        cpath = color_path(layout, stem)
        rgb = np.array(Image.open(cpath).convert('RGB'))
        H, W = rgb.shape[:2]
        pose = torch.from_numpy(
            load_matrix(pose_path(layout, stem), (4, 4))).float()
        if not torch.isfinite(pose).all():
            continue  # ScanNet marks lost tracking with inf poses
        dpath = depth_path(layout, stem)
        depth = None
        hw = (H, W)  # the frame projected into: depth map, else colour
        if dpath is not None:
            d = np.array(Image.open(dpath)).astype(np.float32)
            depth = torch.from_numpy(d / args.depth_scale)
            hw = tuple(depth.shape)
            if abs((hw[1] / hw[0]) / (W / H) - 1) > 0.05:
                raise ValueError(
                    f'{dpath}: depth map {hw[1]}x{hw[0]} does not have the '
                    f'aspect ratio of its colour frame {W}x{H} ({cpath})')
        if hw not in scaled:
            scaled[hw], msg = rescale_intrinsics(intr, hw, args.intrinsic_rule,
                                                 src_hw, name=intr_path)
            print(f'intrinsics ({"depth" if depth is not None else "colour"}'
                  f' frames): {msg}')
        if depth is None and not args.no_zbuffer:
            if not zbuffered:
                print('frames without depth maps: occlusion from a z-buffer '
                      'of the points (--no-zbuffer: frustum only)')
            zbuffered += 1
            depth = points_depth_map(xyz, pose, scaled[hw], hw)
        pix, v = project_points(xyz, pose, scaled[hw], hw, depth, args.cut,
                                args.vis_threshold)
        if clip is not None:
            fmap = clip(rgb)
        else:
            fpath = osp.join(args.feature_dir, stem + '.npy')
            if not osp.isfile(fpath):
                raise FileNotFoundError(f'feature map not found: {fpath}')
            with file_errors(fpath, 'feature map'):
                fmap = torch.from_numpy(np.load(fpath)).float()
            check_array('feature map', fmap, fpath)
        acc.add(pix, v, fmap, hw)
    fused, seen = acc.fuse(compact=True)  # (S, D) seen rows
    if not seen.any():
        raise ValueError(
            f'{args.points}: no point is visible in any of the {acc.num_views}'
            f' frames of {args.scene_dir}: check the poses (camera-to-world),'
            ' the intrinsics and --depth-scale')
    fused = fill_unseen(xyz, fused, seen)  # (N, D)
    os.makedirs(args.out_dir, exist_ok=True)
    out = osp.join(args.out_dir,
                   osp.splitext(osp.basename(args.points))[0] + '.npz')
    feat16 = fused.numpy().astype(np.float16)
    if not np.isfinite(feat16).all():
        raise ValueError(f'{args.points}: fused features overflow float16 '
                         f'(max |value| {float(fused.abs().max()):.3g}); '
                         'normalise the 2D feature maps.')
    from ovseg_plugins.utils.io import atomic_write
    atomic_write(out, lambda tmp: np.savez(tmp, feat=feat16,
                                           mask=seen.numpy()), suffix='.npz')
    sk = acc.skipped
    print(f'{acc.num_views} views ({sk["few"]} skipped with < '
          f'{args.min_visible} visible points, {sk["many"]} with more than '
          f'{args.max_visible}, {sk["empty"]} without features; '
          f'{acc.filled} observations filled in-view), '
          f'{int(seen.sum())}/{len(seen)} points seen, '
          f'{time.perf_counter() - t0:.2f} s -> {out}')
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
