"""Rendered views of the real ScanNet demo scene (40,684 points) lift back
onto the points they show. The whole chain on that scene runs through
GeoPurifyInferencer (tests/apis/test_geopurify_inferencer.py)."""
import os.path as osp
import sys

import numpy as np
import torch

from conftest import REPO_ROOT, shared_data_path

sys.path.insert(0, osp.join(REPO_ROOT, 'tools', 'geopurify'))
sys.path.insert(0, osp.join(REPO_ROOT, 'tools'))


def test_rendered_view_lifts_back_onto_the_points_it_shows(tmp_path):
    """A rendered frame re-projects onto the same points (depth test)."""
    import render_views

    from ovseg_plugins.seg3d.lifting import project_points
    root = shared_data_path('scannet_demo')
    pts = np.fromfile(osp.join(root, 'scene0000_00.bin'),
                      np.float32).reshape(-1, 6)
    render_views.render_scene(pts, str(tmp_path), views=2, size=(160, 120))
    from PIL import Image
    depth = np.array(Image.open(tmp_path / 'depth' / '0.png')) / 1000.
    color = np.array(Image.open(tmp_path / 'color' / '0.png'))
    pose = torch.from_numpy(np.loadtxt(tmp_path / 'pose' / '0.txt')).float()
    K = torch.from_numpy(np.loadtxt(tmp_path / 'intrinsic' /
                                    'intrinsic_color.txt')).float()
    pix, vis = project_points(torch.from_numpy(pts[:, :3]), pose, K,
                              (120, 160), torch.from_numpy(depth).float(),
                              cut_boundary=2)
    assert vis.sum() > 1000
    # visible points' colours match the rendered pixels they project to
    u, v = pix[vis, 0].numpy(), pix[vis, 1].numpy()
    diff = np.abs(color[v, u].astype(float) - pts[vis.numpy(), 3:6])
    assert np.median(diff) < 20
