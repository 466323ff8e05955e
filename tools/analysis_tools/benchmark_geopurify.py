"""Benchmark GeoPurify: vectorised lifting vs per-point dictionaries, and
geometry-guided pooling scaling.

    python tools/analysis_tools/benchmark_geopurify.py [--points 20000]
        [--views 10] [--lift-dim 512] [--repeats 3] [--pool-sizes 10000 50000 100000]
        [--dim 518] [--geometry room|cube] [--purify-points 200000]
        [--purify-only] [--json]

Lifting: the same synthetic scene (points in a 4 m room) and posed views with
D-dim feature maps, fused by ``ovseg_plugins.seg3d.lifting`` (streaming
``ViewFusionAccumulator``) vs a reference that follows the upstream structure
(per-point Python dictionaries of per-view features, then per-point
consensus top-3); both give the same features of the seen points (the
lifting product; the lift tool then fills the unseen ones), the median of
``--repeats`` runs each. Pooling: the
``AffinityPurifyHead`` (exact kNN K = 96, affinities, T = 18 sparse products,
D = dim) on N surface voxels of a room (or uniform in a cube); time, the
kNN's share, and peak-RSS growth per size (each size in its own process).

Purification, side by side in one process on one thread: the purify stage
of the checkpoint-free chain (``GeoPurifySegmentor.purify_with_teacher``
with the ``GeometricTeacher``, the model ``GeoPurifyInferencer`` builds
without a config: 2 cm voxels, K = 96, the authors' 19 products) on a procedural room of
``--purify-points`` points with 512-d view-fragmented features
(``ovseg_plugins.seg3d.synthetic``: class prototypes play the text), run
by the reference implementation (``reference=True``: the earlier code, kept
callable) and by the default one; labels and scores as the inferencer
computes them (softmax of 100 x cosine), compared point by point.
"""
import argparse
import json
import math
import os.path as osp
import statistics
import sys
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from _bootstrap import bootstrap  # noqa: E402

bootstrap()
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from _measure import reset_peak_rss, run_isolated, status_kb  # noqa: E402


def synthetic_scene(n_points, n_views, dim, seed=0):
    import torch
    g = torch.Generator().manual_seed(seed)
    xyz = torch.rand(n_points, 3, generator=g) * 4
    K = torch.tensor([[200., 0., 160.], [0., 200., 120.], [0., 0., 1.]])
    poses = []
    for v in range(n_views):
        a = 2 * math.pi * v / n_views
        c2w = torch.eye(4)
        # camera on a circle at the room centre, looking outwards
        c2w[:3, :3] = torch.tensor([[math.cos(a), 0., math.sin(a)],
                                    [0., 1., 0.],
                                    [-math.sin(a), 0., math.cos(a)]])
        c2w[:3, 3] = torch.tensor([2., 2., 2.])
        poses.append(c2w)
    maps = torch.randn(n_views, dim, 30, 40, generator=g)
    text = torch.randn(20, dim, generator=g)
    return xyz, K, poses, maps, text


def lift_vectorised(xyz, K, poses, maps, text):
    from ovseg_plugins.seg3d.lifting import (ViewFusionAccumulator,
                                             project_points)
    acc = ViewFusionAccumulator(len(xyz), text)
    for pose, fmap in zip(poses, maps):
        pix, v = project_points(xyz, pose, K, (240, 320), None, 10)
        acc.add(pix, v, fmap, (240, 320))
    return acc.fuse(compact=True)  # (S, D) seen rows, seen (N,)


def lift_per_point_dicts(xyz, K, poses, maps, text):
    """Upstream structure: dict point -> list of per-view features."""
    import torch
    import torch.nn.functional as F

    from ovseg_plugins.seg3d.lifting import project_points
    per_point = {}
    t = F.normalize(text, dim=-1)
    for pose, fmap in zip(poses, maps):
        pix, v = project_points(xyz, pose, K, (240, 320), None, 10)
        for i in v.nonzero(as_tuple=True)[0].tolist():
            u_, v_ = pix[i].tolist()
            f = fmap[:, v_ * 30 // 240, u_ * 40 // 320]
            per_point.setdefault(i, []).append(f)
    seen = sorted(per_point)
    out = torch.zeros(len(seen), maps.shape[1])  # the seen points' rows
    for r, i in enumerate(seen):
        fs = per_point[i]
        f = F.normalize(torch.stack(fs), dim=-1)
        lg = 100. * f @ t.t()
        c = lg.mean(0).argmax()
        a = lg[:, c]
        k = min(3, len(fs))
        top, idx = a.topk(k)
        out[r] = (torch.softmax(top, 0)[:, None] * f[idx]).sum(0)
    return out


def room_voxels(n, seed=0):
    """About ``n`` unique surface voxels of a box room (floor and four
    walls, half as high as wide), like a voxelised indoor scan."""
    import torch
    side = int(math.sqrt(n / 2.5)) + 2  # floor + 4 half-height walls
    h = side // 2
    a, b = torch.meshgrid(torch.arange(side), torch.arange(side),
                          indexing='ij')
    parts = [torch.stack([a.reshape(-1), b.reshape(-1),
                          torch.zeros(a.numel(), dtype=torch.long)], 1)]
    a, b = torch.meshgrid(torch.arange(side), torch.arange(1, h),
                          indexing='ij')
    a, b = a.reshape(-1), b.reshape(-1)
    for axis, val in ((0, 0), (0, side - 1), (1, 0), (1, side - 1)):
        w = torch.empty(a.numel(), 3, dtype=torch.long)
        w[:, axis], w[:, 1 - axis], w[:, 2] = val, a, b
        parts.append(w)
    vox = torch.cat(parts).unique(dim=0)
    g = torch.Generator().manual_seed(seed)
    return vox[torch.randperm(len(vox), generator=g)[:n]].float()


def pool_case(n, dim, geometry, q):
    import torch

    from ovseg_plugins.seg3d.models.decode_heads import GeometryGuidedPooling
    torch.manual_seed(0)
    coords = room_voxels(n) if geometry == 'room' else \
        torch.randint(0, 200, (n, 3)).float().unique(dim=0)
    n = len(coords)
    feats = torch.randn(n, dim)
    emb = torch.randn(n, 128)
    pool = GeometryGuidedPooling(knn=96, sharpen=20., iterations=18)
    base = status_kb('VmRSS')
    ok = reset_peak_rss()
    from ovseg_plugins.seg3d.ops import knn_indices
    t = time.perf_counter()
    knn_indices(coords, 96)
    t_knn = time.perf_counter() - t
    t = time.perf_counter()
    pool(feats, emb, coords)  # kNN + affinities + T sparse products
    sec = time.perf_counter() - t
    q.put(dict(voxels=n, seconds=sec, knn_seconds=t_knn, peak_mb=(status_kb('VmHWM') - base) /
               1024 if ok else float('nan')))


def purify_compare(n_points, dim=512, seed=0):
    """Reference vs default purification on one thread (see the module
    docstring): seconds of each, label agreement and score difference."""
    import numpy as np
    import torch
    from mmengine.registry import init_default_scope

    from ovseg_plugins.apis.geopurify.model_config import \
        inference_model_cfg
    from ovseg_plugins.seg3d.synthetic import (ROOM_CLASSES,
                                               class_prototypes, miou,
                                               procedural_room,
                                               view_fragmented_features)
    torch.set_num_threads(1)
    init_default_scope('mmdet3d')
    import ovseg_plugins.seg3d  # noqa: F401  (registers)
    from mmdet3d.registry import MODELS
    room = procedural_room(seed, spacing=0.05 * (19825 / n_points)**0.5)
    protos = class_prototypes(len(ROOM_CLASSES), dim, seed)
    raw = view_fragmented_features(room['points'][:, :3], room['labels'],
                                   protos, seed=seed)
    pts = torch.cat([torch.from_numpy(room['points']),
                     torch.from_numpy(raw)], 1)
    model = MODELS.build(dict(inference_model_cfg(None, dim)[0],
                              class_names=list(ROOM_CLASSES),
                              text_embeddings=torch.from_numpy(protos)))
    teacher = MODELS.build(dict(type='GeometricTeacher'))
    out = dict(points=len(pts), dim=dim, threads=1)
    res = {}
    for name, ref in (('reference', True), ('default', False)):
        t = time.perf_counter()
        pooled, inv = model.purify_with_teacher(pts, teacher, per_voxel=True,
                                                reference=ref)
        sec = time.perf_counter() - t
        prob = torch.softmax(100. * model.decode_head.classify(pooled), 0)
        scores, labels = prob.max(0)
        res[name] = (scores[inv].numpy(), labels[inv].numpy())
        out[f'{name}_s'] = sec
        out[f'{name}_miou'] = miou(res[name][1], room['labels'],
                                   len(ROOM_CLASSES))
        out['voxels'] = len(pooled)
    (s0, l0), (s1, l1) = res['reference'], res['default']
    out.update(speedup=out['reference_s'] / out['default_s'],
               labels_equal=float(np.mean(l0 == l1)),
               max_score_diff=float(np.abs(s0 - s1).max()))
    return out


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--points', type=int, default=20000)
    p.add_argument('--views', type=int, default=10)
    p.add_argument('--lift-dim', type=int, default=512)
    p.add_argument('--repeats', type=int, default=3,
                   help='lifting runs per formulation (median reported)')
    p.add_argument('--pool-sizes', type=int, nargs='+',
                   default=[10000, 50000, 100000])
    p.add_argument('--dim', type=int, default=518)
    p.add_argument('--geometry', choices=['room', 'cube'], default='room',
                   help='pooling voxels: surfaces of a room (like a scan) '
                   'or uniform in a 200^3 voxel cube')
    p.add_argument('--purify-points', type=int, default=200000,
                   help='purification reference vs default at this size '
                   '(0: skip)')
    p.add_argument('--purify-only', action='store_true',
                   help='run the purification comparison alone')
    p.add_argument('--json', action='store_true')
    args = p.parse_args(argv)
    pur = purify_compare(args.purify_points) if args.purify_points else None
    if pur:
        print(f'Purification, {pur["points"]:,} points ({pur["voxels"]:,} '
              f'voxels), D = {pur["dim"]}, one thread:\n\n'
              '| implementation | seconds | mIoU vs truth |\n|---|---|---|\n'
              f'| reference (earlier code) | {pur["reference_s"]:.2f} | '
              f'{100 * pur["reference_miou"]:.1f} |\n'
              f'| default | {pur["default_s"]:.2f} | '
              f'{100 * pur["default_miou"]:.1f} |\n\n'
              f'speed-up {pur["speedup"]:.2f}x; labels equal on '
              f'{100 * pur["labels_equal"]:.3f} % of points; max |score '
              f'difference| {pur["max_score_diff"]:.2e}\n', flush=True)
    if args.purify_only:
        if args.json:
            print(json.dumps(dict(purify=pur), indent=2))
        return pur
    scene = synthetic_scene(args.points, args.views, args.lift_dim)
    lift_vectorised(*synthetic_scene(100, 2, args.lift_dim))  # warm-up
    # the same protocol for both formulations: the median of R runs
    t_vecs, t_dicts = [], []
    for _ in range(args.repeats):
        t = time.perf_counter()
        fused, seen = lift_vectorised(*scene)
        t_vecs.append(time.perf_counter() - t)
        t = time.perf_counter()
        ref = lift_per_point_dicts(*scene)
        t_dicts.append(time.perf_counter() - t)
    t_vec, t_dict = statistics.median(t_vecs), statistics.median(t_dicts)
    diff = (fused - ref).abs().max().item()  # both: the seen rows
    lift = dict(points=args.points, views=args.views, repeats=args.repeats,
                vectorised_s=t_vec, per_point_dict_s=t_dict,
                vectorised_runs_s=t_vecs, per_point_dict_runs_s=t_dicts,
                speedup=t_dict / t_vec, max_abs_diff=diff,
                seen=int(seen.sum()))
    pools = [run_isolated(pool_case, n, args.dim, args.geometry)
             for n in args.pool_sizes]
    if args.json:
        print(json.dumps(dict(lifting=lift, pooling=pools, purify=pur),
                         indent=2))
        return lift, pools
    print(f'Lifting {args.points} points x {args.views} views (D = '
          f'{args.lift_dim}, median of {args.repeats}): vectorised '
          f'{t_vec:.3f} s, per-point dicts '
          f'{t_dict:.3f} s -> {lift["speedup"]:.1f}x (max abs diff '
          f'{diff:.2e}, {lift["seen"]} points seen)')
    print(f'Geometry-guided pooling, K = 96, T = 18, D = {args.dim}:')
    print('| voxels | seconds (kNN + pooling) | of which kNN | peak mem (MB) |')
    print('|---|---|---|---|')
    for r in pools:
        print(f'| {r["voxels"]} | {r["seconds"]:.2f} | '
              f'{r["knn_seconds"]:.2f} | {r["peak_mb"]:.0f} |')
    if len(pools) > 1:
        print(f'time({pools[-1]["voxels"]}) / time({pools[0]["voxels"]}) = '
              f'{pools[-1]["seconds"] / pools[0]["seconds"]:.1f}')
    return lift, pools


if __name__ == '__main__':
    main()
