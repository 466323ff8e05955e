"""The posed views of a scene folder, whatever its layout: recorded RGB-D
frames (ScanNet / mmdet3d layouts, :class:`~ovseg_plugins.seg3d.rgbd_frames.
RGBDFrames`) or a COLMAP model (:class:`~.colmap_views.ColmapViews`), in the
local frame of the cloud (its float64 origin subtracted from the camera
centres)."""
from typing import Iterator, Optional

import numpy as np

from .colmap import find_colmap_model
from .colmap_views import ColmapViews

__all__ = ['open_views', 'ShiftedViews']


class ShiftedViews:
    """A view source whose camera centres are moved by ``-origin`` (so that
    poses written in world coordinates meet a cloud read with a local
    origin)."""

    def __init__(self, views, origin: np.ndarray):
        self.views = views
        self.origin = np.asarray(origin, np.float64)

    def __len__(self) -> int:
        return len(self.views)

    def __iter__(self) -> Iterator:
        for v in self.views:
            c2w = np.array(v.cam2world, np.float64)
            c2w[:3, 3] -= self.origin
            v.cam2world = c2w
            yield v


def open_views(folder: str, origin: Optional[np.ndarray] = None,
               every: int = 20, depth_scale: float = 1000.,
               images: Optional[str] = None, undistort: bool = False,
               xyz: Optional[np.ndarray] = None):
    """A lazily read view source for ``folder``.

    Args:
        folder (str): A COLMAP model or project folder (``cameras`` /
            ``images`` ``.txt|.bin`` in it, in ``sparse/0`` or ``sparse``),
            else a folder of posed RGB-D frames.
        origin (ndarray, optional): ``(3,)`` float64 local origin of the
            cloud (``PointCloud.origin``).
        every (int): RGB-D frames: use ids that are multiples of this.
        depth_scale (float): RGB-D frames: depth PNG units per metre.
        images (str, optional): COLMAP: the image folder (default: the
            project's ``images/``).
        undistort (bool): COLMAP: undistort distorted cameras' images.
        xyz (ndarray, optional): ``(N, 3)`` local points; COLMAP refuses a
            model none of whose cameras sees them.

    Returns:
        A sized iterable of ``PosedView``.
    """
    origin = np.zeros(3) if origin is None else np.asarray(origin,
                                                            np.float64)
    if find_colmap_model(folder) is not None:
        return ColmapViews(folder, images, origin, undistort, xyz=xyz)
    from ..rgbd_frames import RGBDFrames
    frames = RGBDFrames(folder, every, depth_scale)
    return ShiftedViews(frames, origin) if origin.any() else frames
