import pytest
import torch

from ovseg_plugins.seg3d.lifting import (ViewFusionAccumulator,
                                         consensus_topk_fusion, fill_unseen,
                                         project_points, sample_feature_map)

K = torch.tensor([[100., 0., 50.], [0., 100., 40.], [0., 0., 1.]])


def test_projection_hand_built_camera():
    pose = torch.eye(4)  # camera at the origin looking down +z
    xyz = torch.tensor([[0., 0., 1.],      # centre -> (50, 40)
                        [0.1, 0.05, 1.],   # -> (60, 45)
                        [0., 0., -1.],     # behind the camera
                        [0.45, 0., 1.],    # u = 95 -> within 10 px border
                        [0., 0., 2.]])     # behind the surface (occluded)
    depth = torch.ones(80, 100)
    pix, vis = project_points(xyz, pose, K, (80, 100), depth)
    assert pix[0].tolist() == [50, 40] and pix[1].tolist() == [60, 45]
    assert vis.tolist() == [True, True, False, False, False]
    _, vis_nodepth = project_points(xyz, pose, K, (80, 100), None)
    assert vis_nodepth.tolist() == [True, True, False, False, True]
    # a camera moved 1 m back along z sees the first point at depth 2
    pose2 = torch.eye(4)
    pose2[2, 3] = -1.0
    pix2, vis2 = project_points(xyz[:1], pose2, K, (80, 100),
                                torch.full((80, 100), 2.0))
    assert vis2.item() and pix2[0].tolist() == [50, 40]


def test_sample_feature_map_scales_pixels():
    fmap = torch.arange(2 * 4 * 5, dtype=torch.float).view(2, 4, 5)
    pix = torch.tensor([[50, 40], [99, 79]])
    out = sample_feature_map(fmap, pix, torch.tensor([True, False]),
                             (80, 100))
    assert out[0].tolist() == [fmap[0, 2, 2].item(), fmap[1, 2, 2].item()]
    assert out[1].abs().sum() == 0


def test_consensus_top3_fusion_toy_views():
    text = torch.eye(2)  # class 0 = e0, class 1 = e1
    # 4 views of 2 points. Point 0: views agree on class 0 mostly.
    f = torch.tensor([
        [[1., 0.], [0., 1.]],
        [[1., 0.1], [0., 1.]],
        [[0., 1.], [1., 0.]],
        [[1., 0.2], [0., 1.]],
    ])
    vis = torch.tensor([[True, True], [True, False], [True, False],
                        [True, False]])
    fused, seen = consensus_topk_fusion(f, vis, text, logit_scale=10., k=3)
    assert seen.all()
    # point 0: c* = 0; agreement = 10·cos(f_v, e0): view 2 (0) is dropped,
    # views 0, 1, 3 kept with softmax weights over their agreements
    fn = torch.nn.functional.normalize(f[:, 0], dim=-1)
    a = 10 * fn[[0, 1, 3], 0]
    w = torch.softmax(a, 0)
    ref = (w[:, None] * fn[[0, 1, 3]]).sum(0)
    assert torch.allclose(fused[0], ref, atol=1e-6)
    # point 1: only view 0 sees it -> its feature
    assert torch.allclose(fused[1], torch.tensor([0., 1.]))


def _per_point_reference(f, vis, text, k=3, s=100.):
    """Upstream structure: one point at a time over its visible views."""
    fn = torch.nn.functional.normalize(f, dim=-1)
    t = torch.nn.functional.normalize(text, dim=-1)
    out = torch.zeros(f.shape[1], f.shape[2])
    for i in range(f.shape[1]):
        views = vis[:, i].nonzero(as_tuple=True)[0]
        if len(views) == 0:
            continue
        lg = s * fn[views, i] @ t.t()
        a = lg[:, lg.mean(0).argmax()]
        top, j = a.topk(min(k, len(views)))
        out[i] = (torch.softmax(top, 0)[:, None] * fn[views[j], i]).sum(0)
    return out


def test_streaming_fusion_equals_per_point_reference():
    g = torch.Generator().manual_seed(0)
    V, N, D, C, h, w = 6, 300, 16, 5, 6, 8
    maps = torch.randn(V, D, h, w, generator=g)
    text = torch.randn(C, D, generator=g)
    pix = torch.stack([torch.randint(0, 80, (V, N), generator=g),
                       torch.randint(0, 60, (V, N), generator=g)], -1)
    vis = torch.rand(V, N, generator=g) < 0.4
    dense = torch.stack([sample_feature_map(maps[v], pix[v], vis[v], (60, 80))
                         for v in range(V)])
    ref = _per_point_reference(dense, vis, text)
    fused, seen = consensus_topk_fusion(dense, vis, text)
    assert torch.equal(seen, vis.any(0))
    assert torch.allclose(fused, ref, atol=1e-5)
    acc = ViewFusionAccumulator(N, text)
    for v in range(V):
        acc.add(pix[v], vis[v], maps[v], (60, 80))
    fused2, seen2 = acc.fuse()
    assert acc.num_views == V and torch.equal(seen2, seen)
    assert torch.allclose(fused2, ref, atol=1e-5)
    with pytest.raises(ValueError, match='channels'):
        acc.add(pix[0], vis[0], maps[0][:3], (60, 80))
    # compact output: the seen rows only, in index order
    acc = ViewFusionAccumulator(N, text, store_dtype=torch.float16)
    for v in range(V):
        acc.add(pix[v], vis[v], maps[v], (60, 80))
    rows, seen3 = acc.fuse(compact=True)
    assert torch.equal(seen3, seen) and rows.shape == (int(seen.sum()), D)
    assert torch.allclose(rows, ref[seen], atol=2e-3)  # fp16 storage
    with pytest.raises(ValueError, match='already called'):
        acc.fuse()


@pytest.mark.parametrize('hw', [(3, 4), (30, 40)])
def test_streaming_fusion_shares_cells_and_keeps_top_k(hw):
    """Many points in few map cells (whole map kept, shared rows) or few
    points in a large map (only the seen cells kept), and many views per
    point (only the top 3 accumulated), still match the reference."""
    g = torch.Generator().manual_seed(1)
    V, N, D, C = 9, 200, 8, 4
    maps = torch.randn(V, D, *hw, generator=g)
    text = torch.randn(C, D, generator=g)
    pix = torch.stack([torch.randint(0, 40, (V, N), generator=g),
                       torch.randint(0, 30, (V, N), generator=g)], -1)
    vis = torch.rand(V, N, generator=g) < 0.8
    vis[:, 0] = False  # one point never seen
    dense = torch.stack([sample_feature_map(maps[v], pix[v], vis[v], (30, 40))
                         for v in range(V)])
    ref = _per_point_reference(dense, vis, text)
    acc = ViewFusionAccumulator(N, text)
    for v in range(V):
        acc.add(pix[v], vis[v], maps[v], (30, 40))
    fused, seen = acc.fuse()
    assert not seen[0] and seen[1:].all()
    assert torch.allclose(fused, ref, atol=1e-5)


def test_unseen_points_copy_nearest_seen():
    xyz = torch.tensor([[0., 0, 0], [1., 0, 0], [0.9, 0, 0]])
    fused = torch.tensor([[1., 0], [0., 1], [0., 0]])
    seen = torch.tensor([True, True, False])
    out = fill_unseen(xyz, fused, seen)
    assert out[2].tolist() == [0., 1.]
    # the compact (seen rows) form gives the same (N, D) result
    assert torch.equal(fill_unseen(xyz, fused[:2], seen), out)
    with pytest.raises(ValueError, match='rows'):
        fill_unseen(xyz, fused[:1], seen)
    with pytest.raises(ValueError, match='no point was seen'):
        fill_unseen(xyz, fused[:0], torch.zeros(3, dtype=torch.bool))


def test_lift_features_tool_on_a_toy_scene(tmp_path):
    import os.path as osp
    import sys

    import numpy as np
    from PIL import Image

    from conftest import REPO_ROOT
    sys.path.insert(0, osp.join(REPO_ROOT, 'tools', 'geopurify'))
    sys.path.insert(0, osp.join(REPO_ROOT, 'tools'))
    import lift_features
    scene = tmp_path / 'scene'
    for d in ('color', 'pose', 'intrinsic', 'depth'):
        (scene / d).mkdir(parents=True)
    for f in ('0', '20', '7'):  # frame 7 is skipped (not a multiple of 20)
        Image.fromarray(np.zeros((80, 100, 3), np.uint8)).save(
            scene / 'color' / f'{f}.jpg')
        np.savetxt(scene / 'pose' / f'{f}.txt', np.eye(4))
        Image.fromarray(np.full((80, 100), 1000, np.uint16)).save(
            scene / 'depth' / f'{f}.png')
    np.savetxt(scene / 'intrinsic' / 'intrinsic_color.txt', K.numpy())
    # points on the z = 1 plane: left half x < 0, right half x > 0
    xs = np.linspace(-0.3, 0.3, 20)
    pts = np.stack([xs, np.zeros(20), np.ones(20), np.zeros(20),
                    np.zeros(20), np.zeros(20)], 1).astype(np.float32)
    pts.tofile(tmp_path / 'scene0.bin')
    fdir = tmp_path / 'feats'
    fdir.mkdir()
    fmap = np.zeros((2, 8, 10), np.float32)
    fmap[0, :, :5] = 1  # left half of the image -> class 0
    fmap[1, :, 5:] = 1
    for f in ('0', '20'):
        np.save(fdir / f'{f}.npy', fmap)
    torch.save(torch.eye(2), tmp_path / 'text.pt')
    out = lift_features.main([str(scene), str(tmp_path / 'scene0.bin'),
                              str(tmp_path / 'out'), '--feature-dir',
                              str(fdir), '--text', str(tmp_path / 'text.pt')])
    z = np.load(out)
    assert z['feat'].dtype == np.float16 and z['feat'].shape == (20, 2)
    lab = z['feat'].astype(np.float32).argmax(1)
    assert z['mask'].all()
    assert (lab[xs < -0.01] == 0).all() and (lab[xs > 0.01] == 1).all()
