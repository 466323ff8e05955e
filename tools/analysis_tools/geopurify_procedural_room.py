"""GeoPurify purification check on procedurally generated labelled rooms.

    python tools/analysis_tools/geopurify_procedural_room.py [--seeds 0 1 2]
        [--steps 60] [--json]

Per seed: a room (``ovseg_plugins.seg3d.synthetic.procedural_room``) with
noisy, view-fragmented semantic features (the documented noise model in
that module); a tiny student affinity network is trained with GeoPurify's
InfoNCE distillation against the training-free ``GeometricTeacher`` (no
labels anywhere in training), then geometry-guided pooling purifies the raw
features. Prints mIoU of the raw features, after pooling with the
untrained student and after pooling with the trained student.
"""
import argparse
import json
import os
import os.path as osp
import sys
import tempfile
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from _bootstrap import bootstrap  # noqa: E402

bootstrap()

import numpy as np  # noqa: E402
import torch  # noqa: E402


def build_model(dim, teacher_dim, text_file, knn=48, hidden=32,
                voxel_size=0.05):
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet3d')
    import ovseg_plugins.seg3d  # noqa: F401
    from mmdet3d.registry import MODELS

    from ovseg_plugins.seg3d.synthetic import ROOM_CLASSES
    return MODELS.build(dict(
        type='GeoPurifySegmentor',
        backbone=dict(type='StudentAffinityNet', in_channels=dim + 6,
                      hidden_channels=hidden, embed_dim=32, num_blocks=2),
        loss=dict(type='AffinityInfoNCELoss', num_anchors=1024,
                  num_macro=48, num_micro=15, tau=0.07),
        class_names=list(ROOM_CLASSES), fused_channels=dim,
        teacher_channels=teacher_dim, text_embeddings=text_file,
        voxel_size=voxel_size, knn=knn, normal_knn=16,
        decode_head=dict(type='AffinityPurifyHead', knn=knn, sharpen=20.,
                         iterations=18)))


def fit_scene(model, cols, steps, lr):
    """Adam on the student for ``steps`` InfoNCE iterations on one scene's
    ``(N, columns)`` points; returns the losses."""
    opt = torch.optim.Adam(model.backbone.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        model.train()
        loss = model.loss(dict(points=[cols]), None)['loss_infonce']
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    return losses


def run_seed(seed, steps=60, dim=32, lr=2e-3, spacing=0.05, log=print):
    """Returns dict of mIoU raw / untrained-pooled / trained-pooled."""
    from ovseg_plugins.seg3d.models.teachers import GeometricTeacher
    from ovseg_plugins.seg3d.synthetic import (ROOM_CLASSES,
                                               class_prototypes, miou,
                                               procedural_room,
                                               view_fragmented_features)
    torch.manual_seed(seed)
    room = procedural_room(seed, spacing=spacing)
    C = len(ROOM_CLASSES)
    protos = class_prototypes(C, dim, seed)
    raw = view_fragmented_features(room['points'][:, :3], room['labels'],
                                   protos, seed=seed)
    pts = torch.from_numpy(room['points'])
    t0 = time.perf_counter()
    teacher = GeometricTeacher()(pts)
    t_teacher = time.perf_counter() - t0
    cols = torch.cat([pts, torch.from_numpy(raw), teacher], 1)
    gt = room['labels']
    with tempfile.TemporaryDirectory() as d:
        text_file = osp.join(d, 'text.pt')
        torch.save(torch.from_numpy(protos), text_file)
        model = build_model(dim, teacher.shape[1], text_file,
                            voxel_size=min(0.05, spacing))

    def score():
        model.eval()
        with torch.no_grad():
            logits = model.decode_head.classify(
                model.purify(cols), model.text_embeds, model.query_to_class,
                C)
        return miou(logits.argmax(0).numpy(), gt, C)

    raw_pred = (torch.from_numpy(raw) @ torch.from_numpy(protos).t()
                ).argmax(1).numpy()
    res = dict(seed=seed, points=len(gt), miou_raw=miou(raw_pred, gt, C))
    res['miou_pooled_untrained'] = score()
    t0 = time.perf_counter()
    losses = fit_scene(model, cols, steps, lr)
    res['train_s'] = time.perf_counter() - t0
    res['teacher_s'] = t_teacher
    res['loss_first'], res['loss_last'] = losses[0], float(
        np.mean(losses[-5:]))
    t0 = time.perf_counter()
    res['miou_pooled_trained'] = score()
    res['pool_s'] = time.perf_counter() - t0
    log(f'seed {seed}: {res["points"]} points, mIoU raw '
        f'{100 * res["miou_raw"]:.1f}, pooled (untrained student) '
        f'{100 * res["miou_pooled_untrained"]:.1f}, pooled (trained) '
        f'{100 * res["miou_pooled_trained"]:.1f}; loss '
        f'{res["loss_first"]:.3f} -> {res["loss_last"]:.3f}; train '
        f'{res["train_s"]:.1f} s')
    return res


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--steps', type=int, default=60)
    p.add_argument('--spacing', type=float, default=0.05,
                   help='point spacing of the room (m)')
    p.add_argument('--json', action='store_true')
    args = p.parse_args(argv)
    rows = [run_seed(s, args.steps, spacing=args.spacing,
                     log=(lambda *a: None) if args.json else print)
            for s in args.seeds]
    if args.json:
        print(json.dumps(rows, indent=2))
        return rows
    print('| seed | points | mIoU raw | pooled, untrained student | '
          'pooled, trained student | train s |')
    print('|---|---|---|---|---|---|')
    for r in rows:
        print(f'| {r["seed"]} | {r["points"]} | {100 * r["miou_raw"]:.1f} | '
              f'{100 * r["miou_pooled_untrained"]:.1f} | '
              f'{100 * r["miou_pooled_trained"]:.1f} | {r["train_s"]:.0f} |')
    return rows


if __name__ == '__main__':
    os.environ.setdefault('OMP_NUM_THREADS', '1')
    main()
