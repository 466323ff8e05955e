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
    acc = ViewFusionAccumulator(N, text, min_visible_points=0)
    for v in range(V):
        acc.add(pix[v], vis[v], maps[v], (60, 80))
    fused2, seen2 = acc.fuse()
    assert acc.num_views == V and torch.equal(seen2, seen)
    assert torch.allclose(fused2, ref, atol=1e-5)
    with pytest.raises(ValueError, match='channels'):
        acc.add(pix[0], vis[0], maps[0][:3], (60, 80))
    # compact output: the seen rows only, in index order
    acc = ViewFusionAccumulator(N, text, store_dtype=torch.float16,
                                min_visible_points=0)
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
    acc = ViewFusionAccumulator(N, text, min_visible_points=0)
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
    # 20 points per view: below the authors' 400-point view threshold
    out = lift_features.main([str(scene), str(tmp_path / 'scene0.bin'),
                              str(tmp_path / 'out'), '--feature-dir',
                              str(fdir), '--text', str(tmp_path / 'text.pt'),
                              '--min-visible', '0'])
    z = np.load(out)
    assert z['feat'].dtype == np.float16 and z['feat'].shape == (20, 2)
    lab = z['feat'].astype(np.float32).argmax(1)
    assert z['seen'].all()
    assert (lab[xs < -0.01] == 0).all() and (lab[xs > 0.01] == 1).all()


# ---------------------------------------------------------------- authors'
# rules (independent few-line references written from the GeoPurify code)


def _fill_reference(dense, vis, xyz):
    """In-view fill as the authors' lifting: per view, a visible point whose
    feature is zero takes the feature of the nearest (KD-tree) visible point
    whose feature is not."""
    from scipy.spatial import cKDTree
    out = dense.clone()
    for v in range(len(dense)):
        idx = vis[v].nonzero(as_tuple=True)[0]
        f = out[v, idx]
        zero = f.abs().sum(1) == 0
        if zero.any() and (~zero).any():
            _, j = cKDTree(xyz[idx][~zero].numpy()).query(
                xyz[idx][zero].numpy(), k=1)
            f[zero] = f[~zero][torch.as_tensor(j)]
            out[v, idx] = f
    return out


def _masked_views(seed=4, V=5, N=400, D=8, C=4, h=6, w=8):
    g = torch.Generator().manual_seed(seed)
    maps = torch.randn(V, D, h, w, generator=g)
    # a quarter of each map's cells without a feature (masked segments)
    maps *= (torch.rand(V, 1, h, w, generator=g) > 0.25)
    text = torch.randn(C, D, generator=g)
    xyz = torch.rand(N, 3, generator=g)
    pix = torch.stack([torch.randint(0, 80, (V, N), generator=g),
                       torch.randint(0, 60, (V, N), generator=g)], -1)
    vis = torch.rand(V, N, generator=g) < 0.6
    dense = torch.stack([sample_feature_map(maps[v], pix[v], vis[v], (60, 80))
                         for v in range(V)])
    return maps, text, xyz, pix, vis, dense


def test_in_view_fill_of_uncovered_pixels_matches_the_authors_rule():
    maps, text, xyz, pix, vis, dense = _masked_views()
    uncovered = (dense.abs().sum(-1) == 0) & vis
    assert uncovered.sum() > 100  # the fill matters for many observations
    ref = _per_point_reference(_fill_reference(dense, vis, xyz), vis, text)
    acc = ViewFusionAccumulator(len(xyz), text, xyz=xyz,
                                min_visible_points=0)
    for v in range(len(maps)):
        acc.add(pix[v], vis[v], maps[v], (60, 80))
    assert acc.filled == int(uncovered.sum())
    fused, seen = acc.fuse()
    torch.testing.assert_close(fused, ref, rtol=1e-4, atol=1e-5)
    # without the fill the result is the old one (zero observations kept)
    off = ViewFusionAccumulator(len(xyz), text, fill_uncovered=False,
                                min_visible_points=0)
    for v in range(len(maps)):
        off.add(pix[v], vis[v], maps[v], (60, 80))
    old = off.fuse()[0]
    torch.testing.assert_close(old, _per_point_reference(dense, vis, text),
                               rtol=1e-4, atol=1e-5)
    assert (old - ref).abs().max() > 0.1
    # uncovered pixels need the point coordinates
    acc = ViewFusionAccumulator(len(xyz), text, min_visible_points=0)
    with pytest.raises(ValueError, match='xyz'):
        acc.add(pix[0], vis[0], maps[0], (60, 80))


def test_view_without_any_feature_is_skipped():
    maps, text, xyz, pix, vis, dense = _masked_views()
    maps[1] = 0  # e.g. no mask kept by the 2D model
    vis2 = vis.clone()
    vis2[1] = False
    dense = torch.stack([sample_feature_map(maps[v], pix[v], vis2[v],
                                            (60, 80)) for v in range(5)])
    ref = _per_point_reference(_fill_reference(dense, vis2, xyz), vis2, text)
    acc = ViewFusionAccumulator(len(xyz), text, xyz=xyz,
                                min_visible_points=0)
    for v in range(5):
        acc.add(pix[v], vis[v], maps[v], (60, 80))
    assert acc.num_views == 4 and acc.skipped['empty'] == 1
    torch.testing.assert_close(acc.fuse()[0], ref, rtol=1e-4, atol=1e-5)


def test_views_below_the_visible_point_threshold_are_skipped():
    g = torch.Generator().manual_seed(5)
    N, D, C = 1000, 8, 3
    maps = torch.randn(3, D, 6, 8, generator=g)
    text = torch.randn(C, D, generator=g)
    pix = torch.stack([torch.randint(0, 80, (3, N), generator=g),
                       torch.randint(0, 60, (3, N), generator=g)], -1)
    vis = torch.zeros(3, N, dtype=torch.bool)
    vis[0, :500] = True  # kept
    vis[1, 300:699] = True  # 399 visible: below the authors' 400
    vis[2, 600:1000] = True  # exactly 400: kept
    dense = torch.stack([sample_feature_map(maps[v], pix[v], vis[v], (60, 80))
                         for v in range(3)])
    acc = ViewFusionAccumulator(N, text)  # the authors' default, 400
    assert acc.min_visible_points == 400
    assert [acc.add(pix[v], vis[v], maps[v], (60, 80)) for v in range(3)] \
        == [500, 0, 400]
    assert acc.num_views == 2 and acc.skipped['few'] == 1
    keep = torch.tensor([True, False, True])
    ref = _per_point_reference(dense[keep], vis[keep], text)
    fused, seen = acc.fuse()
    torch.testing.assert_close(fused, ref, rtol=1e-4, atol=1e-5)
    assert torch.equal(seen, vis[keep].any(0))
    # the option keeps every view
    acc = ViewFusionAccumulator(N, text, min_visible_points=0)
    for v in range(3):
        acc.add(pix[v], vis[v], maps[v], (60, 80))
    torch.testing.assert_close(acc.fuse()[0],
                               _per_point_reference(dense, vis, text),
                               rtol=1e-4, atol=1e-5)
    # every view too small: the error says why
    acc = ViewFusionAccumulator(N, text, min_visible_points=600)
    for v in range(3):
        acc.add(pix[v], vis[v], maps[v], (60, 80))
    with pytest.raises(ValueError, match='fewer than 600 visible'):
        acc.fuse()


# ScanNet's colour intrinsics (1296 x 968 frames)
K_COLOR = torch.tensor([[1169.62, 0., 646.30], [0., 1167.11, 489.93],
                        [0., 0., 1.]])


def _authors_mapping(K, xyz, W, H, cut=10):
    """Pixels as the authors' PointCloudToImageMapper: intrinsics rescaled
    by size / (2 · principal point), principal point at the centre, camera
    at the origin (identity pose), rounded, inside the cut border."""
    import numpy as np
    K = K.double().numpy().copy()
    K[0, 0] *= W / (K[0, 2] * 2)
    K[1, 1] *= H / (K[1, 2] * 2)
    K[0, 2], K[1, 2] = W / 2, H / 2
    p = xyz.double().numpy().T
    u = np.round(p[0] * K[0, 0] / p[2] + K[0, 2]).astype(int)
    v = np.round(p[1] * K[1, 1] / p[2] + K[1, 2]).astype(int)
    inside = (u >= cut) & (v >= cut) & (u < W - cut) & (v < H - cut)
    return torch.from_numpy(np.stack([u, v], 1)), torch.from_numpy(inside)


def test_full_resolution_intrinsics_are_rescaled_never_misprojected():
    from ovseg_plugins.seg3d.lifting import rescale_intrinsics
    g = torch.Generator().manual_seed(6)
    xyz = torch.rand(2000, 3, generator=g) * torch.tensor([3., 2., 3.]) - \
        torch.tensor([1.5, 1., -0.5])
    K, msg = rescale_intrinsics(K_COLOR, (480, 640), name='intr.txt')
    assert 'intr.txt' in msg and "'center'" in msg and '640x480' in msg
    pix, vis = project_points(xyz, torch.eye(4), K, (480, 640))
    ref_pix, ref_vis = _authors_mapping(K_COLOR, xyz, 640, 480)
    assert torch.equal(vis, ref_vis & (xyz[:, 2] > 0)) and vis.sum() > 500
    assert torch.equal(pix[vis], ref_pix[vis])
    # the intrinsics as they are (the former behaviour) would put almost
    # every visible point on another pixel; projecting with them is refused
    raw = (xyz[:, :2] * K_COLOR[[0, 1], [0, 1]] / xyz[:, 2:] +
           K_COLOR[:2, 2]).round().long()
    assert (raw[vis] != pix[vis]).any(1).float().mean() > 0.9
    with pytest.raises(ValueError, match='principal point'):
        project_points(xyz, torch.eye(4), K_COLOR, (480, 640))
    # intrinsics already at the frame size: (almost) the identity
    K_half = K_COLOR.clone()
    K_half[:2] /= 2.025
    K2, _ = rescale_intrinsics(K_half, (480, 640))
    assert torch.allclose(K2, K, rtol=1e-5)


def test_exact_scale_rule_and_inconsistent_intrinsics_refused():
    from ovseg_plugins.seg3d.lifting import rescale_intrinsics
    K, msg = rescale_intrinsics(K_COLOR, (484, 648), rule='scale',
                                source_hw=(968, 1296))
    assert K[0, 0].item() == pytest.approx(1169.62 / 2)
    assert K[0, 2].item() == pytest.approx((646.30 + 0.5) / 2 - 0.5)
    assert K[1, 2].item() == pytest.approx((489.93 + 0.5) / 2 - 0.5)
    # a 4:3 camera's intrinsics on 16:9 frames
    with pytest.raises(ValueError, match=r'cam_k\.txt.*aspect'):
        rescale_intrinsics(K_COLOR, (720, 1280), name='cam_k.txt')
    # a principal point far from the centre of the frame it belongs to
    K_off = K_COLOR.clone()
    K_off[0, 2] = 300.
    with pytest.raises(ValueError, match=r'cam_k\.txt.*principal point'):
        rescale_intrinsics(K_off, (484, 648), rule='scale',
                           source_hw=(968, 1296), name='cam_k.txt')
    with pytest.raises(ValueError, match=r'cam_k\.txt.*positive'):
        rescale_intrinsics(torch.eye(3) * 0, (48, 64), name='cam_k.txt')
    with pytest.raises(ValueError, match='rule'):
        rescale_intrinsics(K_COLOR, (48, 64), rule='crop')


def test_points_depth_map_hides_points_behind_a_nearer_surface():
    """A frame without depth: the z-buffer of the points hides the back
    wall behind a front panel (covering u < W/2) and keeps the rest; the
    frustum test alone keeps both."""
    import numpy as np

    from ovseg_plugins.seg3d.lifting import points_depth_map, project_points
    g = np.linspace(-1, 1, 81)
    x, y = np.meshgrid(g, g)
    back = np.stack([x.ravel(), y.ravel(), np.full(x.size, 2.)], 1)
    xf, yf = np.meshgrid(np.linspace(-0.6, -0.01, 40), np.linspace(-.6, .6, 60))
    front = np.stack([xf.ravel(), yf.ravel(), np.full(xf.size, 1.)], 1)
    xyz = torch.from_numpy(np.concatenate([back, front])).float()
    K = torch.tensor([[50., 0, 50], [0, 50., 50], [0, 0, 1]])
    pose = torch.eye(4)
    depth = points_depth_map(xyz, pose, K, (100, 100))
    _, vis = project_points(xyz, pose, K, (100, 100), depth, cut_boundary=2)
    _, frustum = project_points(xyz, pose, K, (100, 100), None,
                                cut_boundary=2)
    nb = len(back)
    # back point (x, y, 2) -> u = 50 + 25 x; the panel covers u in
    # [20, 49.5], v in [20, 80]: back points with x < -0.1 (u < 47.5, 2 px
    # inside its edge) are behind it
    b = xyz[:nb]
    hidden = (b[:, 0] < -0.1) & frustum[:nb]
    assert hidden.sum() > 1000
    assert not vis[:nb][hidden].any()
    # the back wall beside the panel and the panel itself: visible
    beside = (b[:, 0] > 0.1) & frustum[:nb]
    assert vis[:nb][beside].all() and beside.sum() > 1000
    assert vis[nb:][frustum[nb:]].all()
