"""GeoPurify's full chain on the real ScanNet demo scene, timed per stage.

    python experiments/geopurify_scannet_chain/scannet_demo_chain.py \
        [--data ../shared/data] [--views 8] [--size 320 240] [--steps 5]
        [--clip ViT-B-16 --clip-weights W] [--json]

Stages: (1) render synthetic posed RGB-D views from the real points
(``tools/geopurify/render_views.py``); (2) lift dense CLIP features of the
views onto the points with consensus top-3 fusion
(``tools/geopurify/lift_features.py``); (3) a few InfoNCE iterations of a
tiny student against the online ``GeometricTeacher``; (4) geometry-guided
pooling and open-vocabulary labels (ScanNet-20, "a {} in a scene"); (5)
scoring at the labelled points of ``scannet/`` (nearest demo point after
the scene's axis alignment; mmdet3d's ScanNet-20 valid ids).

A controlled run of the chain with a student trained on the scene itself;
the product path for users is ``GeoPurifyInferencer`` /
``tools/demo/pointcloud_demo.py``. Without ``--clip-weights`` the CLIP is
a tiny randomly initialised open_clip ViT (no weights can be downloaded
here): the numbers then only prove that the chain runs; with real weights
they measure the method.
"""
import argparse
import json
import os
import os.path as osp
import pickle
import sys
import tempfile
import time

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, osp.join(REPO, 'tools'))
from _bootstrap import bootstrap  # noqa: E402

bootstrap()
sys.path.insert(0, osp.join(REPO, 'tools', 'geopurify'))
sys.path.insert(0, osp.join(REPO, 'tools', 'analysis_tools'))
sys.path.insert(0, osp.join(REPO, 'tools', 'demo'))

import numpy as np  # noqa: E402
import torch  # noqa: E402
from pointcloud_demo import TINY_CLIP  # noqa: E402  (the demo's random CLIP)

SCANNET20_IDS = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 14, 16, 24, 28, 33,
                 34, 36, 39)


def load_labelled(data_root):
    """The 100 labelled points (axis-aligned), their ScanNet-20 ids (-1 =
    unlabelled) and the scene's axis-alignment matrix."""
    root = osp.join(data_root, 'scannet')
    with open(osp.join(root, 'scannet_infos.pkl'), 'rb') as f:
        info = pickle.load(f)['data_list'][0]
    pts = np.fromfile(osp.join(root, 'points', 'scene0000_00.bin'),
                      np.float32).reshape(-1, 6)
    raw = np.fromfile(osp.join(root, 'semantic_mask', 'scene0000_00.bin'),
                      np.int64)
    lut = np.full(max(SCANNET20_IDS) + 1, -1)
    lut[list(SCANNET20_IDS)] = np.arange(len(SCANNET20_IDS))
    lab = np.where(raw <= max(SCANNET20_IDS), lut[np.minimum(raw, 39)], -1)
    return pts[:, :3], lab, np.asarray(info['axis_align_matrix'],
                                       np.float64).reshape(4, 4)


def score(pred, gt, num_classes):
    valid = gt >= 0
    acc = float((pred[valid] == gt[valid]).mean())
    ious = []
    for c in range(num_classes):
        i = np.sum((pred == c) & (gt == c) & valid)
        u = np.sum(((pred == c) | (gt == c)) & valid)
        if np.sum((gt == c) & valid):
            ious.append(i / u)
    return dict(scored=int(valid.sum()), acc=acc, miou=float(np.mean(ious)),
                classes_present=len(ious))


def run(data_root, work_dir, views=8, size=(320, 240), steps=5, clip=None,
        clip_weights=None, log=print):
    import lift_features
    import render_views
    from mmengine.registry import init_default_scope
    times, out = {}, {}
    demo = np.fromfile(osp.join(data_root, 'scannet_demo', 'scene0000_00.bin'),
                       np.float32).reshape(-1, 6)
    lab_xyz, lab, align = load_labelled(data_root)
    names = [ln.strip() for ln in open(osp.join(
        REPO, 'configs', 'geopurify', 'class_names', 'scannet20.txt'))
        if ln.strip()]
    classes = ';'.join(names)
    # (1) render
    t = time.perf_counter()
    scene_dir = osp.join(work_dir, 'scene')
    cov = render_views.render_scene(demo, scene_dir, views, size)
    times['render'] = time.perf_counter() - t
    out['pixel_coverage'] = float(np.mean(cov))
    pts_file = osp.join(work_dir, 'scene0000_00.bin')
    demo.tofile(pts_file)
    # (2) lift (the CLIP's weights are a file so the text side matches)
    cfg_json = None
    if clip is None:
        import open_clip
        torch.manual_seed(0)
        name, cfg = TINY_CLIP
        cfg_json = json.dumps(cfg)
        m = open_clip.CLIP(**cfg)
        clip_weights = osp.join(work_dir, 'tiny_clip_random.pt')
        torch.save(m.state_dict(), clip_weights)
        clip = name
    t = time.perf_counter()
    args = [scene_dir, pts_file, osp.join(work_dir, 'fused'), '--clip', clip,
            '--clip-weights', clip_weights, '--classes', classes, '--every',
            '20']
    if cfg_json:
        args += ['--clip-cfg', cfg_json]
    fused_file = lift_features.main(args)
    times['lift'] = time.perf_counter() - t
    with np.load(fused_file) as z:
        fused, seen = z['feat'].astype(np.float32), z['seen']
    out['points'], out['seen'] = len(demo), int(seen.sum())
    # (3) train a tiny student against the online geometric teacher
    init_default_scope('mmdet3d')
    import ovseg_plugins.seg3d  # noqa: F401
    from mmdet3d.registry import MODELS
    D = fused.shape[1]
    model = MODELS.build(dict(
        type='GeoPurifySegmentor',
        backbone=dict(type='StudentAffinityNet', in_channels=D + 6,
                      hidden_channels=32, embed_dim=32, num_blocks=2),
        loss=dict(type='AffinityInfoNCELoss', num_anchors=1024, knn=96),
        teacher=dict(type='GeometricTeacher'),
        class_names=names, fused_channels=D,
        text_encoder=dict(model_name=clip, pretrained=clip_weights,
                          model_cfg=json.loads(cfg_json) if cfg_json
                          else None),
        voxel_size=0.02, decode_head=dict(
            type='AffinityPurifyHead', pooling=dict(knn=96, iterations=18))))
    cols = torch.from_numpy(np.concatenate([demo, fused], 1))
    sys.path.insert(0, osp.join(osp.dirname(osp.dirname(osp.dirname(
        osp.abspath(__file__)))), 'tests'))
    from fixtures.procedural_room import fit_scene
    t = time.perf_counter()
    losses = fit_scene(model, cols, steps, lr=1e-3)
    times['train'] = time.perf_counter() - t
    out['losses'] = losses
    # (4) pooling + labels
    model.eval()
    t = time.perf_counter()
    with torch.no_grad():
        pooled = model.purify(cols)
        logits = model.decode_head.classify(pooled)
        raw_logits = model.decode_head.classify(torch.from_numpy(fused))
    pred, raw_pred = logits.argmax(0).numpy(), raw_logits.argmax(0).numpy()
    times['pool_and_label'] = time.perf_counter() - t
    # (5) score at the labelled points (nearest demo point after alignment)
    hom = np.concatenate([demo[:, :3], np.ones((len(demo), 1))], 1)
    aligned = (hom @ align.T)[:, :3]
    d = ((lab_xyz[:, None, :] - aligned[None])**2).sum(-1)
    nn_idx, nn_dist = d.argmin(1), np.sqrt(d.min(1))
    out['nn_max_dist_m'] = float(nn_dist.max())
    out['pooled'] = score(pred[nn_idx], lab, len(names))
    out['raw'] = score(raw_pred[nn_idx], lab, len(names))
    out['times_s'] = times
    log(f"ScanNet demo scene: {out['points']} points, {views} rendered "
        f"views ({100 * out['pixel_coverage']:.0f} % pixels covered), "
        f"{out['seen']} points seen; scored at {out['pooled']['scored']} "
        f"labelled points ({out['pooled']['classes_present']} classes, NN "
        f"≤ {100 * out['nn_max_dist_m']:.1f} cm)")
    log(f"accuracy raw {100 * out['raw']['acc']:.1f} % / pooled "
        f"{100 * out['pooled']['acc']:.1f} %; mIoU raw "
        f"{100 * out['raw']['miou']:.1f} / pooled "
        f"{100 * out['pooled']['miou']:.1f}; loss {losses[0]:.3f} -> "
        f"{losses[-1]:.3f}")
    log('| stage | seconds |\n|---|---|\n' + '\n'.join(
        f'| {k} | {v:.2f} |' for k, v in times.items()))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--data', default=osp.join(REPO, '..', 'shared', 'data'))
    p.add_argument('--views', type=int, default=8)
    p.add_argument('--size', type=int, nargs=2, default=[320, 240])
    p.add_argument('--steps', type=int, default=5)
    p.add_argument('--clip', help='open_clip architecture (with weights)')
    p.add_argument('--clip-weights')
    p.add_argument('--work-dir')
    p.add_argument('--json', action='store_true')
    args = p.parse_args(argv)
    if not osp.isdir(osp.join(args.data, 'scannet_demo')):
        raise FileNotFoundError(f'no scannet_demo/ under {args.data}: pass '
                                '--data pointing at the shared sample data')
    if bool(args.clip) != bool(args.clip_weights):
        p.error('--clip and --clip-weights go together')
    work = args.work_dir or tempfile.mkdtemp(prefix='geopurify_chain_')
    os.makedirs(work, exist_ok=True)
    res = run(args.data, work, args.views, tuple(args.size), args.steps,
              args.clip, args.clip_weights,
              log=(lambda *a: None) if args.json else print)
    if args.json:
        print(json.dumps(res, indent=2))
    return res


if __name__ == '__main__':
    main()
