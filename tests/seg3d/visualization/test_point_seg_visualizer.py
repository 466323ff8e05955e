"""PointSegLocalVisualizer: headless pictures of point labels."""
import json

import numpy as np
import pytest
import torch


@pytest.fixture
def vis(tmp_path):
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet3d')
    from ovseg_plugins.seg3d.visualization import PointSegLocalVisualizer
    v = PointSegLocalVisualizer(name=f'pointseg_{id(tmp_path)}', dpi=40,
                                point_size=200.)
    v.dataset_meta = dict(classes=['wall', 'floor', 'chair'],
                          palette=[[255, 0, 0], [0, 255, 0], [0, 0, 255]])
    return v


def sample(pred, gt=None):
    from mmdet3d.structures import Det3DDataSample, PointData
    s = Det3DDataSample()
    s.pred_pts_seg = PointData(pts_semantic_mask=torch.as_tensor(pred))
    if gt is not None:
        s.gt_pts_seg = PointData(pts_semantic_mask=torch.as_tensor(gt))
    return s


def test_png_with_palette_colours_and_class_metadata(vis, tmp_path):
    from PIL import Image
    pts = np.array([[0, 0, 0, 9, 9, 9], [1, 1, 0, 9, 9, 9]], np.float32)
    out = tmp_path / 'a' / 'scene.png'
    img = vis.add_datasample('s', dict(points=pts), sample([2, 2], [0, 20]),
                             out_file=str(out))
    png = Image.open(out)
    assert json.loads(png.text['classes']) == ['wall', 'floor', 'chair']
    assert json.loads(png.text['present']) == ['chair']
    # three panels: input colours, ground truth, prediction
    w = int(vis.panel_size * vis.dpi)
    assert img.shape[1] == 3 * w
    pred_panel = img[:, 2 * w:].reshape(-1, 3)
    gt_panel = img[:, w:2 * w].reshape(-1, 3)
    assert ((pred_panel == [0, 0, 255]).all(1)).any()  # chair = blue
    assert ((gt_panel == [255, 0, 0]).all(1)).any()  # wall = red
    assert not ((pred_panel == [255, 0, 0]).all(1)).any()
    assert not list(tmp_path.glob('a/.tmp_*'))  # atomic write


def test_bad_task_and_mismatched_labels(vis):
    pts = np.zeros((3, 3), np.float32)
    with pytest.raises(ValueError, match="vis_task='lidar_seg'"):
        vis.add_datasample('s', dict(points=pts), sample([0, 0, 0]),
                           vis_task='lidar_det')
    with pytest.raises(ValueError, match='2 labels for 3 points'):
        vis.add_datasample('s', dict(points=pts), sample([0, 0]))


def test_default_palette_is_the_3d_outputs_palette(tmp_path):
    """Without a dataset palette the visualizer colours classes as every
    other 3D output (class_palette), and the legend gives the predicted
    share of each class."""
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet3d')
    from ovseg_plugins.seg3d.visualization import PointSegLocalVisualizer
    from ovseg_plugins.seg3d.visualization.palette import class_palette
    v = PointSegLocalVisualizer(name=f'pointseg_pal_{id(tmp_path)}', dpi=40,
                                point_size=200.)
    v.dataset_meta = dict(classes=['wall', 'floor'])
    pts = np.array([[0, 0, 0], [1, 1, 0]], np.float32)
    img = v.add_datasample('s', dict(points=pts), sample([1, 1]))
    floor = class_palette(2)[1]
    assert ((img.reshape(-1, 3) == floor).all(1)).any()
    assert not ((img.reshape(-1, 3) == class_palette(2)[0]).all(1)).any()


def test_visible_from_above_keeps_the_highest_point_per_cell():
    """Against a brute-force restatement: per occupied cell of the x-y grid
    the highest point (the last one drawn), all points for small clouds."""
    from ovseg_plugins.seg3d.visualization.point_seg_visualizer import \
        visible_from_above
    g = np.random.default_rng(0)
    xyz = g.uniform(0, 1, (5000, 3)).astype(np.float32)
    xyz[:, 0] *= 3  # a 3 x 1 extent: 12 x 4 cells of side 0.25
    small = visible_from_above(xyz, 100)  # 5000 <= 100 ** 2: all
    assert sorted(small.tolist()) == list(range(5000))
    assert (np.diff(xyz[small, 2]) >= 0).all()
    got = visible_from_above(xyz, 12)
    assert (np.diff(xyz[got, 2]) >= 0).all()  # still drawn lowest first
    side = 3. / 12
    cell = (np.minimum((xyz[:, 1] / side).astype(int), 11) * 12 +
            np.minimum((xyz[:, 0] / side).astype(int), 11))
    want = {c: max(np.nonzero(cell == c)[0], key=lambda i: xyz[i, 2])
            for c in np.unique(cell)}
    assert sorted(got.tolist()) == sorted(want.values())
    assert len(got) == 48  # 12 x 4 occupied cells


def test_large_cloud_draws_what_the_picture_shows(tmp_path):
    """Above a panel's pixel count only the highest point per pixel is
    drawn: a high layer in one class hides a low one in another, as in
    a picture of the whole cloud."""
    from mmengine.registry import init_default_scope
    init_default_scope('mmdet3d')
    from ovseg_plugins.seg3d.visualization import PointSegLocalVisualizer
    v = PointSegLocalVisualizer(name=f'pointseg_big_{id(tmp_path)}', dpi=20,
                                panel_size=2., point_size=100.)  # 40 px
    v.dataset_meta = dict(classes=['low', 'high'],
                          palette=[[255, 0, 0], [0, 0, 255]])
    g = np.random.default_rng(1)
    # a low layer of random points under a regular high layer with two
    # points per pixel along each axis (every pixel has a high point)
    low = np.concatenate([g.uniform(0, 1, (20000, 2)),
                          np.zeros((20000, 1))], 1)
    u = (np.arange(80) + 0.5) / 80
    high = np.stack([*np.meshgrid(u, u), np.ones((80, 80))], -1)
    xyz = np.concatenate([low, high.reshape(-1, 3)]).astype(np.float32)
    labels = np.repeat([0, 1], [20000, 6400])
    img = v.add_datasample('s', dict(points=xyz), sample(labels))
    px = img[:40].reshape(-1, 3)  # the panel, above the legend
    assert not (px == [255, 0, 0]).all(1).any()  # the low layer is hidden
    assert (px == [0, 0, 255]).all(1).sum() > 40 * 40 // 4
    legend = img[40:].reshape(-1, 3)  # both classes are in the cloud
    assert (legend == [255, 0, 0]).all(1).any()
