"""Rendered views are consistent with the projection used for lifting."""
import numpy as np
import torch

from ovseg_plugins.seg3d.lifting import project_points
from ovseg_plugins.seg3d.rendering import render_points, render_views
from ovseg_plugins.seg3d.synthetic import procedural_room


def test_rendered_pixels_show_the_points_that_project_there():
    room = procedural_room(0, spacing=0.06)
    frames = render_views(room['points'], views=3, size=(160, 120), splat=1)
    for fr in frames:
        pix, vis = project_points(torch.from_numpy(room['points'][:, :3]),
                                  torch.from_numpy(fr['pose']).float(),
                                  torch.from_numpy(fr['intrinsic']).float(),
                                  (120, 160), torch.from_numpy(fr['depth']),
                                  cut_boundary=2)
        assert vis.sum() > 500
        u, v = pix[vis, 0].numpy(), pix[vis, 1].numpy()
        # the pixel's winning point is the point itself or one at the same
        # depth within the occlusion tolerance; their labels agree mostly
        shown = fr['index'][v, u]
        same = room['labels'][shown] == room['labels'][vis.numpy()]
        assert same.mean() > 0.9
        hit = fr['index'] >= 0
        np.testing.assert_array_equal(
            fr['color'][hit], np.clip(room['points'][fr['index'][hit], 3:6],
                                      0, 255).astype(np.uint8))


def test_chunked_zbuffer_equals_one_pass():
    room = procedural_room(1, spacing=0.08)
    fr = render_views(room['points'], views=1, size=(96, 72))[0]
    idx, depth = render_points(room['points'][:, :3].astype(np.float64),
                               fr['pose'], fr['intrinsic'], (72, 96), 2,
                               chunk=997)
    np.testing.assert_array_equal(idx, fr['index'])
    np.testing.assert_array_equal(depth, fr['depth'])
