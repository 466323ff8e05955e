"""Free-text 3D segmentation of your own point cloud (GeoPurify).

    python tools/demo/pointcloud_demo.py SCENE --classes "chair;table;floor" \
        --clip ViT-B-16 --clip-weights CLIP.pt [--frames SCENE_DIR] \
        [--student STUDENT.pth [--config CFG]] [--out-dir DIR]

    # precomputed 2D feature maps of any model instead of CLIP:
    python tools/demo/pointcloud_demo.py SCENE --frames SCENE_DIR \
        --feature-maps SCENE_DIR/features --text-embeddings TEXT.pt \
        --classes "..."

    # a generated room with oracle-like 2D features (no weights needed):
    python tools/demo/pointcloud_demo.py --procedural outputs/demo_3d/scene

SCENE: .ply / .pcd / .bin (float32 N x 6) / .npy / ScanNet .pth / .las /
.laz (georeferenced coordinates are read with a float64 local origin). With
``--frames`` (ScanNet layout: color/, depth/, pose/, intrinsic/; or a COLMAP
model / project folder: sparse/0 with images/, ``--images`` elsewhere) the
2D features come from those posed views, otherwise from ``--views`` views
rendered from the coloured cloud. Without ``--student`` the pooling uses
the online geometric teacher (training-free). Classes: ``;`` between
classes, ``,`` between synonyms, or a class-name file. Writes
``<stem>_labels.npy``, ``<stem>_scores.npy``, ``<stem>_labels.ply``
(coloured, with label/score properties), for LAS / LAZ input
``<stem>_labels.las|laz`` (the input plus pred_class / pred_score) and
``<stem>_labels.png`` (picture with a legend) to ``--out-dir``; a progress
bar per stage.
``--random-clip`` runs a random tiny CLIP: a plumbing check only.

Large scenes: ``--block-size M`` runs x-y tiles of about M metres one by
one, each with ``--block-overlap`` metres of context (each point labelled by
the tile that contains it; ``ovseg_plugins.apis.geopurify.chunked``);
``torchrun --nproc_per_node N tools/demo/pointcloud_demo.py ... --launcher
pytorch`` spreads the tiles over N processes (same labels).
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from _bootstrap import bootstrap  # noqa: E402

bootstrap()

import numpy as np  # noqa: E402

TINY_CLIP = ('ovseg-tiny-ViT-16', dict(
    embed_dim=64,
    vision_cfg=dict(image_size=224, layers=2, width=64, patch_size=16,
                    head_width=32),
    text_cfg=dict(context_length=77, vocab_size=49408, width=64, heads=2,
                  layers=2)))
PROCEDURAL_CLASSES = 'wall;floor;bed;table;cabinet;chair;sofa,couch;lamp'


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('scene', nargs='?', help='point-cloud file (or folder)')
    p.add_argument('--classes', help='"a,b;c" or a class-name file')
    p.add_argument('--frames', help='posed views: a folder of RGB-D frames '
                   '(ScanNet or mmdet3d layout) or a COLMAP model / project '
                   'folder (sparse/0 + images/); default: render views from '
                   'the cloud')
    p.add_argument('--student', help='trained student checkpoint (default: '
                   'the online geometric teacher)')
    p.add_argument('--config', help='GeoPurify config of the student')
    p.add_argument('--clip', help='open_clip architecture of the dense CLIP')
    p.add_argument('--clip-weights', help='local CLIP weights / cached tag')
    p.add_argument('--clip-cfg', help='architecture JSON for custom towers')
    p.add_argument('--random-clip', action='store_true',
                   help='random tiny CLIP (plumbing check only)')
    p.add_argument('--feature-maps', help='folder of <frame id>.npy (D, h, '
                   'w) 2D feature maps of any model (needs --frames)')
    p.add_argument('--text-embeddings', help='text embeddings in the 2D '
                   'features\' space (tools/geopurify/text_embeddings.py)')
    p.add_argument('--procedural', metavar='DIR', help='write a procedural '
                   'room with oracle-like 2D features to DIR and run on it')
    p.add_argument('--out-dir', default='outputs/pointcloud_demo')
    p.add_argument('--views', type=int, default=8)
    p.add_argument('--size', type=int, nargs=2, default=[320, 240],
                   metavar=('W', 'H'))
    p.add_argument('--every', type=int, default=20,
                   help='use frames whose id is a multiple of this')
    p.add_argument('--depth-scale', type=float, default=1000.)
    p.add_argument('--images', help='COLMAP: the image folder the model\'s '
                   'image names are relative to (default: images/ of the '
                   'project)')
    p.add_argument('--colmap-undistort', action='store_true',
                   help='COLMAP: undistort the images of distorted cameras '
                   'with OpenCV (default: refuse distortion > 0.5 px; '
                   'colmap image_undistorter is the usual fix)')
    p.add_argument('--min-visible', type=int, default=400,
                   help='use a view only when at least this many points are '
                   'visible in it (the authors\' rule: 400)')
    p.add_argument('--load-dim', type=int, help='float32 columns per point '
                   'of a .bin file (default 6: x y z r g b)')
    p.add_argument('--block-size', type=float, default=0., metavar='M',
                   help='large scenes: run x-y tiles of about M metres one '
                   'by one (0: the whole scene at once)')
    p.add_argument('--block-overlap', type=float, default=1., metavar='M',
                   help='context around each tile (metres, at most half '
                   'the block size)')
    p.add_argument('--block-max-points', type=int, metavar='N',
                   help='smaller tiles where a block would hold more than N '
                   'points with its context (bounds the memory of a block; '
                   'default: segment_in_blocks\'s, 1,000,000)')
    p.add_argument('--launcher', choices=['none', 'pytorch'], default='none',
                   help='pytorch: blocks over the processes of torchrun')
    p.add_argument('--device', default='cpu')
    p.add_argument('--no-progress', action='store_true')
    return p.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    from ovseg_plugins.apis.geopurify_inferencer import GeoPurifyInferencer
    truth = None
    if args.procedural:
        from ovseg_plugins.seg3d.synthetic import write_oracle_scene
        paths = write_oracle_scene(args.procedural)
        args.scene, args.frames = paths['ply'], paths['frames']
        args.feature_maps, args.text_embeddings = (paths['features'],
                                                   paths['text'])
        args.classes = args.classes or PROCEDURAL_CLASSES
        truth = 'label'
    if not args.scene or not args.classes:
        raise SystemExit('give SCENE and --classes (or --procedural DIR)')
    if not args.block_size and (args.block_max_points is not None
                                or args.launcher != 'none'):
        raise SystemExit('--block-max-points and --launcher apply to runs in '
                         'blocks: add --block-size M (without it every '
                         'process would run the whole scene)')
    kw = {}
    if args.feature_maps:
        if not (args.frames and args.text_embeddings):
            raise SystemExit('--feature-maps needs --frames and '
                             '--text-embeddings')
        kw.update(feature_maps=args.feature_maps,
                  text_embeddings=args.text_embeddings)
    elif args.random_clip:
        import torch
        torch.manual_seed(0)  # the same random model on every run
        name, cfg = TINY_CLIP
        kw['feature_model'] = dict(model_name=name, model_cfg=cfg)
        print('random tiny CLIP: plumbing check only (labels are '
              'meaningless)')
    elif args.clip:
        import json

        from ovseg_plugins.utils.open_clip_loader import require_clip_weights
        require_clip_weights(args.clip, args.clip_weights, '--random-clip')
        cfg = None
        if args.clip_cfg:
            cfg = json.load(open(args.clip_cfg)) if osp.isfile(
                args.clip_cfg) else json.loads(args.clip_cfg)
        kw['feature_model'] = dict(model_name=args.clip,
                                   pretrained=args.clip_weights,
                                   model_cfg=cfg)
    else:
        raise SystemExit('give the 2D model: --clip NAME --clip-weights W, '
                         '--feature-maps DIR --text-embeddings F, or '
                         '--random-clip')
    from ovseg_plugins.utils import WeightsNotFoundError
    from ovseg_plugins.utils.open_clip_loader import cli_weights_message
    try:
        inferencer = GeoPurifyInferencer(
            args.classes, model=args.config, weights=args.student,
            views=args.views, render_size=tuple(args.size),
            frame_step=args.every, depth_scale=args.depth_scale,
            lift_cfg=dict(min_visible=args.min_visible),
            device=args.device, show_progress=not args.no_progress, **kw)
    except WeightsNotFoundError as e:
        raise SystemExit(cli_weights_message(e)) from None
    inferencer.min_visible_hint = '--min-visible'  # errors name our option
    extra = {} if args.load_dim is None else dict(load_dim=args.load_dim)
    if args.images or args.colmap_undistort:
        extra.update(images=args.images, undistort=args.colmap_undistort)
    if args.block_size:
        from ovseg_plugins.apis.geopurify.chunked import segment_in_blocks
        if args.block_max_points is not None:
            extra.update(max_points=args.block_max_points)
        res = segment_in_blocks(inferencer, args.scene, args.block_size,
                                args.block_overlap, args.out_dir,
                                frames=args.frames, launcher=args.launcher,
                                **extra)
        if res['rank']:
            return res
        inferencer.stage_times = res['stage_times']
    else:
        res = inferencer(dict(points=args.scene, frames=args.frames)
                         if args.frames else args.scene,
                         out_dir=args.out_dir, **extra)
    for pred in res['predictions']:
        lab = pred['pts_semantic_mask']
        counts = np.bincount(lab, minlength=len(pred['classes']))
        share = ', '.join(f'{c} {100 * n / len(lab):.1f} %' for c, n in
                          sorted(zip(pred['classes'], counts),
                                 key=lambda t: -t[1]) if n)
        print(f'{len(lab)} points ({int(pred["pts_seen"].sum())} seen by a '
              f'view): {share}')
        if truth:
            from ovseg_plugins.seg3d.pointcloud_io import read_point_cloud
            from ovseg_plugins.seg3d.synthetic import miou
            gt = read_point_cloud(args.scene).labels
            print(f'mIoU against the stored labels: '
                  f'{100 * miou(lab, gt, len(pred["classes"])):.1f}')
        for k, v in sorted(pred.get('files', {}).items()):
            print(f'  {k}: {v}')
    print('stage times (s): ' + ', '.join(
        f'{k} {v:.2f}' for k, v in inferencer.stage_times.items()))
    return res


if __name__ == '__main__':
    main()
