"""Render synthetic posed RGB-D frames from a coloured point cloud.

    python tools/geopurify/render_views.py POINTS OUT_SCENE_DIR \
        [--views 8] [--size 320 240] [--fov 70] [--pitch -15] [--splat 2]

For scenes without recorded frames (a point cloud only): cameras stand at
the scene's centre, 1.4 m above the floor, looking outwards at ``--views``
evenly spaced yaw angles (``ovseg_plugins.seg3d.rendering``). POINTS is any
cloud ``GeoPurifyInferencer`` reads (.ply, .pcd, float32 .bin N x 6, .npy,
ScanNet .pth). Writes the ScanNet export layout that ``lift_features.py``
reads: ``color/<i>.png``, ``depth/<i>.png`` (uint16 millimetres),
``pose/<i>.txt`` (4x4 camera-to-world, OpenCV axes) and
``intrinsic/intrinsic_color.txt``. Frame ids are ``0, 20, 40, ...`` (lift
with ``--every 20``).
"""
import argparse
import os.path as osp
import sys
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from _bootstrap import bootstrap  # noqa: E402

bootstrap()

import numpy as np  # noqa: E402

from ovseg_plugins.seg3d.rendering import (look_pose, render_views,  # noqa
                                           write_scannet_frames)

__all__ = ['look_pose', 'render_scene', 'main']


def render_scene(points, out_dir, views=8, size=(320, 240), fov=70.,
                 pitch=-15., splat=2, eye_height=1.4, layout='centre'):
    """Render ``views`` frames of ``points (N, 6)`` into ``out_dir``;
    returns each frame's pixel coverage."""
    frames = render_views(np.asarray(points), views, tuple(size), fov, pitch,
                          splat, eye_height, layout=layout)
    write_scannet_frames(frames, out_dir)
    return [float((f['depth'] > 0).mean()) for f in frames]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('points', help='point cloud (.ply .pcd .bin .npy .pth)')
    p.add_argument('out_dir')
    p.add_argument('--views', type=int, default=8)
    p.add_argument('--size', type=int, nargs=2, default=[320, 240],
                   metavar=('W', 'H'))
    p.add_argument('--fov', type=float, default=70.)
    p.add_argument('--pitch', type=float, default=-15.)
    p.add_argument('--splat', type=int, default=2)
    p.add_argument('--layout', default='centre',
                   choices=['auto', 'centre', 'corners', 'outside'])
    args = p.parse_args(argv)
    from ovseg_plugins.seg3d.pointcloud_io import read_point_cloud
    cloud = read_point_cloud(args.points)
    t = time.perf_counter()
    cov = render_scene(cloud.points, args.out_dir, args.views,
                       tuple(args.size), args.fov, args.pitch, args.splat,
                       layout=args.layout)
    print(f'{args.views} views -> {args.out_dir} (pixel coverage '
          f'{100 * np.mean(cov):.0f} %), {time.perf_counter() - t:.2f} s')


if __name__ == '__main__':
    main()
