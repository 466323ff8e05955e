"""Render synthetic posed RGB-D frames from a coloured point cloud.

    python tools/geopurify/render_views.py POINTS OUT_SCENE_DIR \
        [--views 8] [--size 320 240] [--fov 70] [--pitch -15] [--splat 2]

For scenes without recorded frames (a point cloud only, e.g. mmdet3d's demo
ScanNet scene): cameras stand at the scene's centre, 1.4 m above the floor,
looking outwards at ``--views`` evenly spaced yaw angles (pitched down by
``--pitch`` degrees); points are z-buffered into ``(H, W)`` colour and depth
images with a ``(2·splat + 1)²`` pixel footprint. Writes the ScanNet export
layout that ``lift_features.py`` reads: ``color/<i>.png``, ``depth/<i>.png``
(uint16 millimetres), ``pose/<i>.txt`` (4x4 camera-to-world, OpenCV axes:
x right, y down, z forward) and ``intrinsic/intrinsic_color.txt``. Frame ids
are ``0, 20, 40, ...`` (lift with ``--every 20``).
"""
import argparse
import math
import os
import os.path as osp
import sys
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from _bootstrap import bootstrap  # noqa: E402

bootstrap()

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402


def look_pose(eye, yaw, pitch):
    """Camera-to-world (OpenCV axes) at ``eye`` looking along ``yaw``
    (radians about +z) pitched by ``pitch`` (radians, negative = down)."""
    fwd = np.array([math.cos(yaw) * math.cos(pitch),
                    math.sin(yaw) * math.cos(pitch), math.sin(pitch)])
    right = np.cross(fwd, [0., 0., 1.])
    right /= np.linalg.norm(right)
    down = np.cross(fwd, right)
    c2w = np.eye(4)
    c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = right, down, fwd, eye
    return c2w


def render(xyz, rgb, c2w, K, hw, splat=2):
    """Z-buffer splatting of points. Returns ``color (H, W, 3)`` uint8 and
    ``depth (H, W)`` float metres (0 = empty)."""
    H, W = hw
    w2c = np.linalg.inv(c2w)
    p = xyz @ w2c[:3, :3].T + w2c[:3, 3]
    z = p[:, 2]
    front = z > 0.05
    p, z, col = p[front], z[front], rgb[front]
    u = np.round(p[:, 0] * K[0, 0] / z + K[0, 2]).astype(np.int64)
    v = np.round(p[:, 1] * K[1, 1] / z + K[1, 2]).astype(np.int64)
    zbuf = torch.full((H * W, ), float('inf'), dtype=torch.float64)
    cand_pix, cand_z, cand_i = [], [], []
    for du in range(-splat, splat + 1):
        for dv in range(-splat, splat + 1):
            uu, vv = u + du, v + dv
            ok = (uu >= 0) & (uu < W) & (vv >= 0) & (vv < H)
            cand_pix.append(vv[ok] * W + uu[ok])
            cand_z.append(z[ok])
            cand_i.append(np.nonzero(ok)[0])
    pix = torch.from_numpy(np.concatenate(cand_pix))
    zz = torch.from_numpy(np.concatenate(cand_z)).double()
    ii = np.concatenate(cand_i)
    zbuf.scatter_reduce_(0, pix, zz, reduce='amin')
    win = (zz == zbuf[pix]).numpy()
    color = np.zeros((H * W, 3), np.uint8)
    color[pix.numpy()[win]] = col[ii[win]].astype(np.uint8)
    depth = zbuf.numpy()
    depth[~np.isfinite(depth)] = 0
    return color.reshape(H, W, 3), depth.reshape(H, W)


def render_scene(points, out_dir, views=8, size=(320, 240), fov=70.,
                 pitch=-15., splat=2, eye_height=1.4):
    """Render ``views`` frames of ``points (N, 6)`` into ``out_dir``."""
    if len(points) == 0:
        raise ValueError('cannot render an empty point cloud')
    xyz, rgb = points[:, :3].astype(np.float64), points[:, 3:6]
    W, H = size
    f = W / (2 * math.tan(math.radians(fov) / 2))
    K = np.array([[f, 0, W / 2], [0, f, H / 2], [0, 0, 1.]])
    lo, hi = xyz.min(0), xyz.max(0)
    eye = np.array([(lo[0] + hi[0]) / 2, (lo[1] + hi[1]) / 2,
                    lo[2] + eye_height])
    for d in ('color', 'depth', 'pose', 'intrinsic'):
        os.makedirs(osp.join(out_dir, d), exist_ok=True)
    np.savetxt(osp.join(out_dir, 'intrinsic', 'intrinsic_color.txt'), K)
    covered = []
    for i in range(views):
        c2w = look_pose(eye, 2 * math.pi * i / views, math.radians(pitch))
        color, depth = render(xyz, rgb, c2w, K, (H, W), splat)
        fid = str(20 * i)
        Image.fromarray(color).save(osp.join(out_dir, 'color', fid + '.png'))
        Image.fromarray(np.round(depth * 1000).astype(np.uint16)).save(
            osp.join(out_dir, 'depth', fid + '.png'))
        np.savetxt(osp.join(out_dir, 'pose', fid + '.txt'), c2w)
        covered.append(float((depth > 0).mean()))
    return covered


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('points', help='float32 .bin, N x 6 (xyz rgb 0..255)')
    p.add_argument('out_dir')
    p.add_argument('--views', type=int, default=8)
    p.add_argument('--size', type=int, nargs=2, default=[320, 240],
                   metavar=('W', 'H'))
    p.add_argument('--fov', type=float, default=70.)
    p.add_argument('--pitch', type=float, default=-15.)
    p.add_argument('--splat', type=int, default=2)
    args = p.parse_args(argv)
    pts = np.fromfile(args.points, dtype=np.float32)
    if pts.size == 0 or pts.size % 6:
        raise ValueError(f'{args.points}: expected a non-empty float32 N x 6 '
                         'point file (xyz rgb)')
    t = time.perf_counter()
    cov = render_scene(pts.reshape(-1, 6), args.out_dir, args.views,
                       tuple(args.size), args.fov, args.pitch, args.splat)
    print(f'{args.views} views -> {args.out_dir} (pixel coverage '
          f'{100 * np.mean(cov):.0f} %), {time.perf_counter() - t:.2f} s')


if __name__ == '__main__':
    main()
