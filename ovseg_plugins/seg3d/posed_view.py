"""One posed view of a scene, whatever produced it.

Every source of views builds the same :class:`PosedView`: recorded RGB-D
frames (:mod:`ovseg_plugins.seg3d.rgbd_frames`), views rendered from a
coloured cloud (:func:`ovseg_plugins.seg3d.rendering.render_posed_views`),
or cameras from photogrammetry. :func:`ovseg_plugins.seg3d.lifting.lift_views`
takes any iterable of them, so a new source only has to fill these fields.

Camera convention (ScanNet, COLMAP after inverting its world-to-camera
pose, OpenCV): ``cam2world`` is ``(4, 4)`` camera-to-world with x right,
y down, z forward; ``intrinsic`` is a ``(3, 3)`` pinhole matrix.
"""
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np
import torch

__all__ = ['PosedView']

# largest relative difference of aspect ratios between a depth map and
# its colour image
ASPECT_TOL = 0.05


@dataclass
class PosedView:
    """A posed view: an image (or a feature map), optional depth, camera.

    Args:
        cam2world (ndarray): ``(4, 4)`` camera-to-world pose (OpenCV axes).
            A non-finite pose (ScanNet marks lost tracking with ``inf``)
            makes the lifting skip the view.
        intrinsic (ndarray): ``(3, 3)`` pinhole intrinsics (a ``(4, 4)``
            matrix gives its top-left block) of the frame ``intrinsic_hw``;
            the lifting rescales them to the frame it projects into
            (:func:`ovseg_plugins.seg3d.lifting.rescale_intrinsics`).
        image_hw (tuple): ``(H, W)`` of the colour image, i.e. the frame a
            feature map of this view covers.
        image (ndarray, optional): ``(H, W, 3)`` uint8 RGB (what a 2D model
            sees); None when ``features`` are given.
        depth (ndarray, optional): ``(Hd, Wd)`` float32 metres (0 = no
            reading), any size with the aspect ratio of the image: points
            are projected into the depth frame. None: the lifting z-buffers
            the points themselves (or keeps the frustum).
        features (Tensor, optional): ``(D, h, w)`` precomputed feature map
            covering the whole image.
        intrinsic_hw (tuple, optional): ``(H0, W0)`` of the frame the
            intrinsics belong to (e.g. a COLMAP camera's size). None:
            implied by the principal point (``2·cy × 2·cx``, the GeoPurify
            authors' rule).
        id (str): Frame id (names feature-map files ``<id>.npy``).
        name (str): What the view is, for messages (a frame's file).
        intrinsic_source (str): Where the intrinsics come from (a file),
            named when they are refused.
        index (ndarray, optional): ``(H, W)`` int64 point id per pixel
            (-1 = empty), for views rendered from the points.
    """

    cam2world: np.ndarray
    intrinsic: np.ndarray
    image_hw: Tuple[int, int]
    image: Optional[np.ndarray] = None
    depth: Optional[np.ndarray] = None
    features: Optional[torch.Tensor] = None
    intrinsic_hw: Optional[Tuple[int, int]] = None
    id: str = ''
    name: str = ''
    intrinsic_source: str = 'intrinsics'
    index: Optional[np.ndarray] = None

    def __post_init__(self):
        what = self.name or f'view {self.id!r}'
        self.cam2world = np.asarray(self.cam2world, np.float64)
        if self.cam2world.shape != (4, 4):
            raise ValueError(f'{what}: camera-to-world pose must be (4, 4), '
                             f'got {self.cam2world.shape}')
        K = np.asarray(self.intrinsic, np.float64)
        if K.shape == (4, 4):
            K = K[:3, :3]
        if K.shape != (3, 3):
            raise ValueError(f'{self.intrinsic_source}: intrinsics must be '
                             f'(3, 3) or (4, 4), got {K.shape}')
        self.intrinsic = K
        self.image_hw = tuple(int(x) for x in self.image_hw)
        if len(self.image_hw) != 2 or min(self.image_hw) < 1:
            raise ValueError(f'{what}: image_hw must be (H, W) > 0, got '
                             f'{self.image_hw}')
        if self.image is not None and \
                tuple(self.image.shape) != self.image_hw + (3, ):
            raise ValueError(f'{what}: image of shape {self.image.shape}, '
                             f'expected {self.image_hw + (3, )} (H, W, 3)')
        if self.image is None and self.features is None:
            raise ValueError(f'{what}: a view needs an image or a feature '
                             'map')
        if self.intrinsic_hw is not None:
            self.intrinsic_hw = tuple(int(x) for x in self.intrinsic_hw)
        if self.depth is not None:
            d = self.depth
            if d.ndim != 2:
                raise ValueError(f'{what}: depth map must be (H, W), got '
                                 f'{d.shape}')
            H, W = self.image_hw
            if abs((d.shape[1] / d.shape[0]) / (W / H) - 1) > ASPECT_TOL:
                raise ValueError(
                    f'{what}: depth map {d.shape[1]}x{d.shape[0]} does not '
                    f'have the aspect ratio of its colour frame {W}x{H}')

    @property
    def projection_hw(self) -> Tuple[int, int]:
        """``(H, W)`` of the frame points are projected into: the depth map
        when there is one, else the image."""
        return tuple(self.depth.shape) if self.depth is not None \
            else self.image_hw

    @property
    def has_finite_pose(self) -> bool:
        return bool(np.isfinite(self.cam2world).all())
