"""Posed RGB-D views rendered from a coloured point cloud.

For scenes without recorded frames (a point cloud only): cameras stand at
the scene's centre, ``eye_height`` above its lowest point, looking outwards
at evenly spaced yaw angles (pitched down), and points are z-buffered into
``(H, W)`` images with a ``(2·splat + 1)²`` pixel footprint. Camera
convention as in ScanNet exports: 4×4 camera-to-world poses with OpenCV
axes (x right, y down, z forward) and a 3×3 pinhole intrinsic.

The z-buffer is built in two passes over point chunks (nearest depth per
pixel, then the winning point per pixel), so memory is bounded by the
chunk size and not by ``N · (2·splat + 1)²``.
"""
import math
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from ovseg_plugins.utils.io import atomic_write

__all__ = ['look_pose', 'pinhole_intrinsic', 'orbit_cameras',
           'render_points', 'render_views', 'render_posed_views',
           'write_scannet_frames']


def look_pose(eye: Sequence[float], yaw: float, pitch: float) -> np.ndarray:
    """Camera-to-world ``(4, 4)`` (OpenCV axes) at ``eye`` looking along
    ``yaw`` (radians about +z) pitched by ``pitch`` (radians, negative =
    down)."""
    fwd = np.array([math.cos(yaw) * math.cos(pitch),
                    math.sin(yaw) * math.cos(pitch), math.sin(pitch)])
    right = np.cross(fwd, [0., 0., 1.])
    right /= np.linalg.norm(right)
    down = np.cross(fwd, right)
    c2w = np.eye(4)
    c2w[:3, 0], c2w[:3, 1], c2w[:3, 2], c2w[:3, 3] = right, down, fwd, eye
    return c2w


def pinhole_intrinsic(size: Tuple[int, int], fov: float = 70.) -> np.ndarray:
    """``(3, 3)`` intrinsic of a ``size = (W, H)`` image with horizontal
    field of view ``fov`` degrees, principal point at the centre."""
    W, H = size
    f = W / (2 * math.tan(math.radians(fov) / 2))
    return np.array([[f, 0, W / 2], [0, f, H / 2], [0, 0, 1.]])


def orbit_cameras(xyz: np.ndarray, views: int = 8,
                  size: Tuple[int, int] = (320, 240), fov: float = 70.,
                  pitch: float = -15., eye_height: float = 1.4,
                  layout: str = 'auto') -> List[Tuple[np.ndarray, np.ndarray]]:
    """Cameras for a cloud without recorded frames.

    Layouts: ``'centre'``: ``views`` yaw angles at the scene centre,
    ``eye_height`` above the lowest point, looking outwards (a room scanned
    from inside); ``'corners'``: the same at the centre and at the four
    points a quarter of the way in from the corners of the floor plan
    (``5 × views`` cameras, fewer occluded surfaces); ``'outside'``:
    ``views`` cameras on a ring around the scene looking at its centre (an
    object or a small scan); ``'auto'``: ``'outside'`` when the floor plan
    is under 2.5 m on its longer side, else ``'centre'``.

    Args:
        xyz (ndarray): ``(N, 3)`` points (z up, metres).
        views (int): Yaw angles per eye position.
        size (tuple): ``(W, H)``.
        fov (float): Horizontal field of view, degrees.
        pitch (float): Degrees, negative looks down.
        eye_height (float): Metres above the lowest point (inside layouts).
        layout (str): See above.

    Returns:
        list[tuple]: ``(c2w (4, 4), K (3, 3))`` per view.
    """
    if views < 1:
        raise ValueError(f'views must be >= 1, got {views}')
    if layout not in ('auto', 'centre', 'corners', 'outside'):
        raise ValueError(f"layout must be 'auto', 'centre', 'corners' or "
                         f"'outside', got {layout!r}")
    lo, hi = xyz.min(0), xyz.max(0)
    ext = hi - lo
    if layout == 'auto':
        layout = 'outside' if max(ext[0], ext[1]) < 2.5 else 'centre'
    K = pinhole_intrinsic(size, fov)
    centre = (lo + hi) / 2
    if layout == 'outside':
        # far enough for the whole bounding sphere to fit the view
        radius = 0.5 * float(np.linalg.norm(ext)) or 1.
        dist = radius / math.sin(math.radians(min(fov, 60.)) / 2)
        p = math.radians(-25.)
        cams = []
        for i in range(views):
            yaw = 2 * math.pi * i / views
            fwd = np.array([math.cos(yaw) * math.cos(p),
                            math.sin(yaw) * math.cos(p), math.sin(p)])
            cams.append((look_pose(centre - fwd * dist, yaw, p), K))
        return cams
    z = lo[2] + eye_height
    eyes = [np.array([centre[0], centre[1], z])]
    if layout == 'corners':
        for fx in (0.25, 0.75):
            for fy in (0.25, 0.75):
                eyes.append(np.array([lo[0] + fx * ext[0],
                                      lo[1] + fy * ext[1], z]))
    return [(look_pose(eye, 2 * math.pi * i / views, math.radians(pitch)), K)
            for eye in eyes for i in range(views)]


def _candidates(xyz: torch.Tensor, w2c: torch.Tensor, K: torch.Tensor,
                hw: Tuple[int, int], splat: int, offset: int):
    """Pixels, depths and point ids of the splat footprints of a chunk."""
    H, W = hw
    p = xyz @ w2c[:3, :3].t() + w2c[:3, 3]
    z = p[:, 2]
    front = (z > 0.05).nonzero(as_tuple=True)[0]
    p, z = p[front], z[front]
    u = torch.round(p[:, 0] * K[0, 0] / z + K[0, 2]).long()
    v = torch.round(p[:, 1] * K[1, 1] / z + K[1, 2]).long()
    pix, zz, ii = [], [], []
    for du in range(-splat, splat + 1):
        for dv in range(-splat, splat + 1):
            uu, vv = u + du, v + dv
            ok = ((uu >= 0) & (uu < W) & (vv >= 0) & (vv < H)).nonzero(
                as_tuple=True)[0]
            pix.append(vv[ok] * W + uu[ok])
            zz.append(z[ok])
            ii.append(front[ok] + offset)
    return torch.cat(pix), torch.cat(zz), torch.cat(ii)


def render_points(xyz: np.ndarray, c2w: np.ndarray, K: np.ndarray,
                  hw: Tuple[int, int], splat: int = 2,
                  chunk: int = 200_000) -> Tuple[np.ndarray, np.ndarray]:
    """Z-buffer ``(N, 3)`` points into one view.

    Args:
        xyz (ndarray): ``(N, 3)`` world coordinates.
        c2w (ndarray): ``(4, 4)`` camera-to-world.
        K (ndarray): ``(3, 3)`` intrinsic.
        hw (tuple): ``(H, W)``.
        splat (int): Footprint half-width in pixels.
        chunk (int): Points per step (bounds the memory).

    Returns:
        tuple: ``index (H, W)`` int64 of the visible point at each pixel
        (-1 = empty) and ``depth (H, W)`` float32 metres (0 = empty).
    """
    H, W = hw
    pts = torch.from_numpy(np.ascontiguousarray(xyz, dtype=np.float64))
    w2c = torch.from_numpy(np.linalg.inv(c2w))
    Kt = torch.from_numpy(np.asarray(K, np.float64))
    zbuf = torch.full((H * W, ), float('inf'), dtype=torch.float64)
    for s in range(0, len(pts), chunk):  # pass 1: nearest depth per pixel
        pix, zz, _ = _candidates(pts[s:s + chunk], w2c, Kt, hw, splat, s)
        zbuf.scatter_reduce_(0, pix, zz, reduce='amin')
    index = torch.full((H * W, ), -1, dtype=torch.long)
    for s in range(0, len(pts), chunk):  # pass 2: the point at that depth
        pix, zz, ii = _candidates(pts[s:s + chunk], w2c, Kt, hw, splat, s)
        win = zz == zbuf[pix]
        index.scatter_reduce_(0, pix[win], ii[win], reduce='amax')
    depth = zbuf.float()
    depth[~torch.isfinite(depth)] = 0
    return index.view(H, W).numpy(), depth.view(H, W).numpy()


def render_views(points: np.ndarray, views: int = 8,
                 size: Tuple[int, int] = (320, 240), fov: float = 70.,
                 pitch: float = -15., splat: int = 2,
                 eye_height: float = 1.4,
                 cameras: Optional[List[Tuple[np.ndarray, np.ndarray]]] = None,
                 layout: str = 'auto') -> List[Dict[str, np.ndarray]]:
    """Render ``views`` frames of a coloured cloud.

    Args:
        points (ndarray): ``(N, 6)`` xyz + rgb (0..255).
        views, size, fov, pitch, eye_height, layout: See
            :func:`orbit_cameras`.
        splat (int): See :func:`render_points`.
        cameras (list, optional): ``(c2w, K)`` pairs instead of the orbit.

    Returns:
        list[dict]: per view ``color (H, W, 3)`` uint8, ``depth (H, W)``
        float32 metres, ``index (H, W)`` int64 (-1 = empty), ``pose (4, 4)``
        camera-to-world and ``intrinsic (3, 3)``.
    """
    if len(points) == 0:
        raise ValueError('cannot render an empty point cloud')
    if points.ndim != 2 or points.shape[1] < 6:
        raise ValueError(f'points must be (N, 6) xyz rgb, got '
                         f'{tuple(points.shape)}')
    xyz = points[:, :3].astype(np.float64)
    rgb = np.clip(points[:, 3:6], 0, 255).astype(np.uint8)
    W, H = size
    cams = cameras if cameras is not None else orbit_cameras(
        xyz, views, size, fov, pitch, eye_height, layout)
    out = []
    for c2w, K in cams:
        index, depth = render_points(xyz, c2w, K, (H, W), splat)
        color = np.zeros((H, W, 3), np.uint8)
        hit = index >= 0
        color[hit] = rgb[index[hit]]
        out.append(dict(color=color, depth=depth, index=index,
                        pose=np.asarray(c2w, np.float64),
                        intrinsic=np.asarray(K, np.float64)))
    return out


def render_posed_views(points: np.ndarray,
                       cameras: List[Tuple[np.ndarray, np.ndarray]],
                       size: Tuple[int, int] = (320, 240), splat: int = 2,
                       every: int = 20):
    """Views rendered from a coloured cloud, one at a time, as
    :class:`~ovseg_plugins.seg3d.posed_view.PosedView` (the view source
    :func:`ovseg_plugins.seg3d.lifting.lift_views` takes).

    Args:
        points (ndarray): ``(N, 6)`` xyz + rgb (0..255).
        cameras (list): ``(c2w, K)`` pairs (:func:`orbit_cameras`).
        size (tuple): ``(W, H)``.
        splat (int): See :func:`render_points`.
        every (int): View ``i`` gets the id ``str(every · i)`` (as the
            frames :func:`write_scannet_frames` writes).

    Yields:
        PosedView: image, depth, index, pose and intrinsics of each view.
    """
    from .posed_view import PosedView
    W, H = size
    for i, cam in enumerate(cameras):
        fr = render_views(points, splat=splat, size=size, cameras=[cam])[0]
        yield PosedView(cam2world=fr['pose'], intrinsic=fr['intrinsic'],
                        image_hw=(H, W), image=fr['color'],
                        depth=fr['depth'], id=str(every * i),
                        name=f'rendered view {i}',
                        intrinsic_source='rendered camera',
                        index=fr['index'])


def write_scannet_frames(frames: List[Dict[str, np.ndarray]], out_dir: str,
                         every: int = 20) -> List[str]:
    """Write rendered frames in the ScanNet export layout.

    ``color/<id>.png``, ``depth/<id>.png`` (uint16 millimetres),
    ``pose/<id>.txt`` and ``intrinsic/intrinsic_color.txt``; frame ids are
    ``0, every, 2·every, ...``. Every file is written atomically.

    Returns:
        list[str]: The frame ids.
    """
    from PIL import Image
    if not frames:
        raise ValueError('no frames to write')

    def save_png(path, arr):
        atomic_write(path, lambda t: Image.fromarray(arr).save(t,
                                                                format='PNG'))

    def save_txt(path, m):
        atomic_write(path, lambda t: np.savetxt(t, m))

    save_txt(osp.join(out_dir, 'intrinsic', 'intrinsic_color.txt'),
             frames[0]['intrinsic'])
    ids = []
    for i, fr in enumerate(frames):
        fid = str(every * i)
        save_png(osp.join(out_dir, 'color', fid + '.png'), fr['color'])
        save_png(osp.join(out_dir, 'depth', fid + '.png'),
                 np.round(fr['depth'] * 1000).astype(np.uint16))
        save_txt(osp.join(out_dir, 'pose', fid + '.txt'), fr['pose'])
        ids.append(fid)
    return ids
