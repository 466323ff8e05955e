"""COLMAP images as posed views (:class:`~ovseg_plugins.seg3d.posed_view.
PosedView`), the structure every view source gives the lifting."""
import os.path as osp
from typing import Iterator, List, Optional

import numpy as np
from mmengine.logging import print_log

from .colmap import SUPPORTED, find_colmap_model, read_colmap_model

__all__ = ['ColmapViews']


class ColmapViews:
    """The registered images of a COLMAP model as a lazily read view source
    (``len`` and iteration over ``PosedView``), see
    :mod:`ovseg_plugins.seg3d.io.colmap` for the formats and the
    undistortion rule.

    Args:
        model (str): The model folder (``cameras`` / ``images`` ``.txt`` or
            ``.bin``) or a project folder holding ``sparse/0`` or
            ``sparse``.
        image_dir (str, optional): Folder the image names are relative to
            (default: ``images/`` of the project, found next to the model).
        origin (ndarray, optional): ``(3,)`` float64 local origin of the
            cloud (``PointCloud.origin``): subtracted from the camera
            centres, so poses and points share the local frame.
        undistort (bool): Undistort the images of distorted cameras with
            OpenCV instead of refusing them.
        distortion_tol (float): Pixels; cameras whose distortion moves no
            pixel further are used as pinholes.
        xyz (ndarray, optional): ``(N, 3)`` local points: when given, a
            model none of whose cameras has a point in front of it and
            inside its image is refused (the model and the cloud are in
            different frames).

    Raises:
        FileNotFoundError: No model, no image folder, or none of the image
            names in the image folder.
        ValueError: Unsupported camera models, distortion beyond the
            tolerance (without ``undistort``), cameras that see no point.
    """

    def __init__(self, model: str, image_dir: Optional[str] = None,
                 origin: Optional[np.ndarray] = None,
                 undistort: bool = False, distortion_tol: float = 0.5,
                 xyz: Optional[np.ndarray] = None):
        found = find_colmap_model(model)
        if found is None:
            raise FileNotFoundError(
                f'{model}: no COLMAP model (cameras.bin/.txt and '
                'images.bin/.txt) in it, in sparse/0 or in sparse/.')
        self.model_dir, default_images = found
        self.image_dir = image_dir or default_images
        if self.image_dir is None or not osp.isdir(self.image_dir):
            raise FileNotFoundError(
                f'{self.model_dir}: image folder '
                f'{self.image_dir or "images/"} not found; give the folder '
                "the model's image names are relative to (COLMAP's "
                '--image_path).')
        self.cameras, images = read_colmap_model(self.model_dir)
        self.cam_file = next(osp.join(self.model_dir, 'cameras' + e)
                             for e in ('.bin', '.txt') if osp.isfile(
                                 osp.join(self.model_dir, 'cameras' + e)))
        self.origin = np.zeros(3) if origin is None else np.asarray(
            origin, np.float64)
        self.undistort = undistort
        self._check_cameras(distortion_tol,
                            {im.camera_id for im in images.values()})
        ordered = sorted(images.values(), key=lambda im: im.name)
        have = [im for im in ordered
                if osp.isfile(osp.join(self.image_dir, im.name))]
        if not have:
            import os
            listed = sorted(os.listdir(self.image_dir))[:3]
            raise FileNotFoundError(
                f'{self.model_dir}: none of the {len(ordered)} image names '
                f'of the model (e.g. {[im.name for im in ordered[:3]]}) is '
                f'in {self.image_dir} (has e.g. {listed}): give the folder '
                'COLMAP was run on (--image_path), or for an undistorted '
                'model its images/ folder.')
        if len(have) < len(ordered):
            miss = [im.name for im in ordered if im not in have]
            print_log(f'{self.model_dir}: {len(miss)} of {len(ordered)} '
                      f'images are not in {self.image_dir} (e.g. '
                      f'{miss[:3]}): lifting from the other {len(have)}',
                      logger='current', level=30)
        self.images = have
        if xyz is not None:
            self._check_sees(np.asarray(xyz, np.float64))

    def _check_cameras(self, tol: float, used: set) -> None:
        for cid in sorted(used):
            cam = self.cameras[cid]
            if cam.model not in SUPPORTED:
                raise ValueError(
                    f'{self.cam_file}: camera {cid} is {cam.model}; supported '
                    f'are {", ".join(SUPPORTED)}. Undistort the images '
                    'with colmap image_undistorter (it writes a PINHOLE '
                    'model) and give its output folder.')
            px = cam.max_distortion_px()
            if px > tol and not self.undistort:
                raise ValueError(
                    f'{self.cam_file}: camera {cid} ({cam.model}) distorts '
                    f'the image by up to {px:.1f} px (> {tol} px): the '
                    'lifting needs pinhole images. Run colmap '
                    'image_undistorter and give its output folder, or '
                    'undistort=True (--colmap-undistort) to undistort the '
                    'images with OpenCV.')

    def _check_sees(self, xyz: np.ndarray) -> None:
        """Refuse a model none of whose cameras has a point in view."""
        sample = xyz[np.linspace(0, len(xyz) - 1, min(len(xyz), 20000)
                                 ).astype(np.int64)]
        for im in self.images:
            cam = self.cameras[im.camera_id]
            K, _ = cam.pinhole()
            c2w = self._pose(im)
            R, t = c2w[:3, :3], c2w[:3, 3]
            p = (sample - t) @ R  # world -> camera (R orthonormal)
            z = p[:, 2]
            front = z > 1e-6
            uv = (p[front, :2] / z[front, None]) * K[[0, 1], [0, 1]] + \
                K[:2, 2]
            if ((uv[:, 0] >= 0) & (uv[:, 0] < cam.width) & (uv[:, 1] >= 0)
                    & (uv[:, 1] < cam.height)).any():
                return
        raise ValueError(
            f'{self.model_dir}: none of the {len(self.images)} cameras '
            'has a point of the cloud in front of it and inside its image: '
            'the model and the cloud are not in the same coordinate frame '
            '(a cloud georeferenced or shifted after the reconstruction, or '
            'of another model). Give the cloud this model reconstructed '
            '(e.g. dense/fused.ply) or the model aligned to the cloud '
            '(colmap model_aligner).')

    def _pose(self, im) -> np.ndarray:
        c2w = im.cam2world()
        c2w[:3, 3] -= self.origin
        return c2w

    def __len__(self) -> int:
        return len(self.images)

    @property
    def names(self) -> List[str]:
        return [im.name for im in self.images]

    def __iter__(self) -> Iterator:
        from PIL import Image

        from ..posed_view import PosedView
        for im in self.images:
            cam = self.cameras[im.camera_id]
            path = osp.join(self.image_dir, im.name)
            img = np.array(Image.open(path).convert('RGB'))
            K, dist = cam.pinhole()
            if self.undistort and np.any(dist):
                import cv2
                H, W = img.shape[:2]
                Ks = K.copy()  # the camera's intrinsics at this image size
                Ks[0] *= W / cam.width
                Ks[1] *= H / cam.height
                img = cv2.undistort(img, Ks, dist, None, Ks)
            yield PosedView(
                cam2world=self._pose(im), intrinsic=K,
                image_hw=img.shape[:2], image=img, depth=None,
                intrinsic_hw=(cam.height, cam.width),
                id=osp.splitext(im.name)[0], name=path,
                intrinsic_source=f'{self.cam_file} camera {cam.id}')
