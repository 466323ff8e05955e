"""Inputs of :class:`~ovseg_plugins.apis.GeoPurifyInferencer`: point-cloud
files, folders, arrays or :class:`PointCloud` objects, and the views of a
scene (its posed frames or COLMAP model, else views rendered from the
coloured cloud)."""
import os
import os.path as osp
from typing import Optional

import numpy as np
from mmengine.logging import print_log

from ovseg_plugins.seg3d.pointcloud_io import (SUPPORTED_FORMATS, PointCloud,
                                               finish_cloud, read_point_cloud)
from .progress import SizedIterable

__all__ = ['inputs_to_list', 'read_input', 'scene_views']


def inputs_to_list(inputs) -> list:
    """A folder (its point clouds, sorted), a list, or one input -> list."""
    if isinstance(inputs, str) and osp.isdir(inputs):
        files = sorted(f for f in os.listdir(inputs)
                       if osp.splitext(f)[1].lower() in SUPPORTED_FORMATS)
        if not files:
            raise FileNotFoundError(f'no point clouds '
                                    f'({", ".join(SUPPORTED_FORMATS)}) '
                                    f'in {inputs!r}')
        return [osp.join(inputs, f) for f in files]
    if isinstance(inputs, (list, tuple)):
        return list(inputs)
    return [inputs]


def read_input(item, frames: Optional[str], load_dim: Optional[int],
               images: Optional[str] = None, undistort: bool = False
               ) -> dict:
    """Read one input.

    Args:
        item: A file, an ``(N, 3|6)`` array, a :class:`PointCloud` or
            ``{'points': ..., 'frames': ..., 'images': ...}``.
        frames, images (str, optional): Posed views (see the inferencer).
        load_dim (int, optional): Columns of ``.bin`` files.
        undistort (bool): COLMAP: undistort distorted cameras' images.

    Returns:
        dict: ``cloud``, ``frames``, ``images``, ``undistort``, ``name``
        (file stem or None) and ``key`` (identifies a file's scene for the
        purified-feature cache; None for in-memory inputs).
    """
    if isinstance(item, dict):
        frames = item.get('frames', frames)
        images = item.get('images', images)
        item = item['points']
    if isinstance(item, PointCloud):
        cloud, name, key = item, osp.splitext(osp.basename(
            item.path))[0] or 'points', None
    elif isinstance(item, np.ndarray):
        if item.ndim != 2 or item.shape[1] < 3:
            raise ValueError(f'point array of shape {item.shape}: expected'
                             ' (N, 3) xyz or (N, 6) xyz rgb (0..255)')
        cloud = finish_cloud(item[:, :3], item[:, 3:6] if item.shape[1] >= 6
                             else None, '<array>')
        name, key = None, None
    else:
        cloud = read_point_cloud(str(item), load_dim)
        name = osp.splitext(osp.basename(str(item)))[0]
        st = osp.getmtime(str(item))
        key = (osp.abspath(str(item)), st, frames, images, undistort)
    if not cloud.has_color:
        print_log(f'{cloud.path or "input"}: no colours; rendered views '
                  'and the teacher see grey points', logger='current')
    return dict(cloud=cloud, frames=frames, images=images,
                undistort=undistort, name=name, key=key)


def scene_views(data: dict, render_cfg: dict, frame_step: int,
                depth_scale: float):
    """The views of one read input: its posed RGB-D frames or COLMAP model
    (in the cloud's local frame), else views rendered from the coloured
    cloud (a :class:`SizedIterable`); read / rendered lazily.

    Args:
        data (dict): From :func:`read_input`.
        render_cfg (dict): ``views``, ``size``, ``fov``, ``pitch``,
            ``eye_height``, ``layout``, ``splat`` of rendered views.
        frame_step (int): Use frames whose id is a multiple of this.
        depth_scale (float): Depth PNG units per metre.
    """
    from ovseg_plugins.seg3d.rendering import (orbit_cameras,
                                               render_posed_views)
    cloud = data['cloud']
    if data['frames'] is not None:
        from ovseg_plugins.seg3d.io.view_sources import open_views
        return open_views(data['frames'], cloud.origin, frame_step,
                          depth_scale, data.get('images'),
                          data.get('undistort', False), cloud.xyz)
    rc = render_cfg
    cams = orbit_cameras(cloud.xyz.astype(np.float64), rc['views'],
                         rc['size'], rc['fov'], rc['pitch'],
                         rc['eye_height'], rc['layout'])
    print_log(f'{cloud.path or "input"}: no images: rendering '
              f'{len(cams)} views from the coloured points '
              f'({len(cloud)} points)', logger='current')
    return SizedIterable(render_posed_views(cloud.points, cams, rc['size'],
                                            rc['splat']), len(cams))
