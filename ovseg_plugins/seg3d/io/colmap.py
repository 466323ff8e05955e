"""Cameras from photogrammetry: COLMAP sparse models (text or binary) as
posed views for the lifting.

A COLMAP model is a folder with ``cameras.txt|bin`` (intrinsics per camera)
and ``images.txt|bin`` (per registered image: the world-to-camera rotation
as a unit quaternion ``(qw, qx, qy, qz)``, the translation ``t`` and the
image's file name relative to the image folder). The camera-to-world pose
of an image is ``[Rᵀ | -Rᵀ t]`` (COLMAP's camera axes are OpenCV's: x
right, y down, z forward, as the lifting's). Formats: the COLMAP
documentation's "Output format" page; both are parsed below (a few dozen
lines; the ``pycolmap`` wheel would bring a whole reconstruction library
for three small files).

Camera models: ``SIMPLE_PINHOLE``, ``PINHOLE``, and the distorted
``SIMPLE_RADIAL``, ``RADIAL`` and ``OPENCV`` (COLMAP's ``OPENCV`` is
OpenCV's four-coefficient model; the radial ones are its ``k1`` / ``k1, k2``
special cases). **Undistortion rule**: a camera whose distortion moves no
image pixel by more than ``distortion_tol`` (0.5 px, measured at the image
corners, where it is largest) is used as a pinhole; a larger distortion is
refused, naming COLMAP's ``image_undistorter`` (which writes undistorted
images with a ``PINHOLE`` model), unless ``undistort=True``: the colour
images are then undistorted with OpenCV onto the same pinhole intrinsics
(precomputed 2D feature maps cannot be undistorted this way: give maps of
undistorted images). Fisheye and other models are refused.

Images have no depth: the lifting z-buffers the points (as for recorded
frames without depth). Intrinsics belong to the camera's ``WIDTH x HEIGHT``
(``PosedView.intrinsic_hw``), so the lifting's one intrinsics rule and its
refusals apply to images of another size.
"""
import os.path as osp
import struct
from dataclasses import dataclass
from typing import Dict, List, Optional, Tuple

import numpy as np

__all__ = ['ColmapCamera', 'ColmapImage', 'read_colmap_model',
           'find_colmap_model', 'qvec_to_rotation']

# model id -> (name, number of parameters)
CAMERA_MODELS = {0: ('SIMPLE_PINHOLE', 3), 1: ('PINHOLE', 4),
                 2: ('SIMPLE_RADIAL', 4), 3: ('RADIAL', 5), 4: ('OPENCV', 8),
                 5: ('OPENCV_FISHEYE', 8), 6: ('FULL_OPENCV', 12),
                 7: ('FOV', 5), 8: ('SIMPLE_RADIAL_FISHEYE', 4),
                 9: ('RADIAL_FISHEYE', 5), 10: ('THIN_PRISM_FISHEYE', 12)}
_BY_NAME = {name: (i, n) for i, (name, n) in CAMERA_MODELS.items()}
SUPPORTED = ('SIMPLE_PINHOLE', 'PINHOLE', 'SIMPLE_RADIAL', 'RADIAL',
             'OPENCV')


@dataclass
class ColmapCamera:
    """One COLMAP camera: ``model`` name, ``width``, ``height`` and its
    ``params`` in COLMAP's order."""
    id: int
    model: str
    width: int
    height: int
    params: np.ndarray

    def pinhole(self) -> Tuple[np.ndarray, np.ndarray]:
        """``(3, 3)`` intrinsics and OpenCV distortion ``(k1, k2, p1,
        p2)``."""
        p = self.params
        if self.model == 'SIMPLE_PINHOLE':
            (f, cx, cy), d = p, (0, 0, 0, 0)
            fx = fy = f
        elif self.model == 'PINHOLE':
            (fx, fy, cx, cy), d = p, (0, 0, 0, 0)
        elif self.model == 'SIMPLE_RADIAL':
            f, cx, cy, k = p
            fx = fy = f
            d = (k, 0, 0, 0)
        elif self.model == 'RADIAL':
            f, cx, cy, k1, k2 = p
            fx = fy = f
            d = (k1, k2, 0, 0)
        elif self.model == 'OPENCV':
            fx, fy, cx, cy = p[:4]
            d = tuple(p[4:8])
        else:
            raise ValueError(f'camera {self.id}: model {self.model}')
        K = np.array([[fx, 0, cx], [0, fy, cy], [0, 0, 1]], np.float64)
        return K, np.asarray(d, np.float64)

    def max_distortion_px(self) -> float:
        """Largest pixel displacement of the distortion over the image (at
        its corners)."""
        K, d = self.pinhole()
        if not np.any(d):
            return 0.
        fx, fy, cx, cy = K[0, 0], K[1, 1], K[0, 2], K[1, 2]
        u = np.array([0., self.width, 0., self.width])
        v = np.array([0., 0., self.height, self.height])
        x, y = (u - cx) / fx, (v - cy) / fy
        k1, k2, p1, p2 = d
        r2 = x * x + y * y
        radial = k1 * r2 + k2 * r2 * r2
        dx = x * radial + 2 * p1 * x * y + p2 * (r2 + 2 * x * x)
        dy = y * radial + p1 * (r2 + 2 * y * y) + 2 * p2 * x * y
        return float(np.max(np.hypot(dx * fx, dy * fy)))


@dataclass
class ColmapImage:
    """One registered image: world-to-camera ``qvec (qw, qx, qy, qz)``,
    ``tvec``, its camera and its file ``name`` (relative to the image
    folder)."""
    id: int
    qvec: np.ndarray
    tvec: np.ndarray
    camera_id: int
    name: str

    def cam2world(self) -> np.ndarray:
        """``(4, 4)`` camera-to-world pose."""
        R = qvec_to_rotation(self.qvec)
        T = np.eye(4)
        T[:3, :3] = R.T
        T[:3, 3] = -R.T @ self.tvec
        return T


def qvec_to_rotation(q) -> np.ndarray:
    """Rotation matrix of a (normalised) Hamilton quaternion ``(w, x, y,
    z)``."""
    w, x, y, z = np.asarray(q, np.float64) / np.linalg.norm(q)
    return np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - w * z), 2 * (x * z + w * y)],
        [2 * (x * y + w * z), 1 - 2 * (x * x + z * z), 2 * (y * z - w * x)],
        [2 * (x * z - w * y), 2 * (y * z + w * x), 1 - 2 * (x * x + y * y)]])


def _text_lines(path: str) -> List[str]:
    with open(path, encoding='utf-8') as f:
        return [ln.rstrip('\r\n') for ln in f]


def _read_cameras_txt(path: str) -> Dict[int, ColmapCamera]:
    cams = {}
    for i, ln in enumerate(_text_lines(path), 1):
        if not ln.strip() or ln.lstrip().startswith('#'):
            continue
        parts = ln.split()
        try:
            cid, model, w, h = int(parts[0]), parts[1], int(parts[2]), \
                int(parts[3])
            params = np.array([float(v) for v in parts[4:]])
        except (IndexError, ValueError) as e:
            raise ValueError(f'{path}: line {i} is not "CAMERA_ID MODEL '
                             f'WIDTH HEIGHT PARAMS[]": {ln[:80]!r}') from e
        if model in _BY_NAME and len(params) != _BY_NAME[model][1]:
            raise ValueError(f'{path}: line {i}: {model} takes '
                             f'{_BY_NAME[model][1]} parameters, got '
                             f'{len(params)}')
        cams[cid] = ColmapCamera(cid, model, w, h, params)
    return cams


def _read_images_txt(path: str) -> Dict[int, ColmapImage]:
    rows = [(i, ln) for i, ln in enumerate(_text_lines(path), 1)
            if not ln.lstrip().startswith('#')]
    images = {}
    j = 0
    while j < len(rows):
        i, ln = rows[j]
        if not ln.strip():  # blank line between records / at the end
            j += 1
            continue
        parts = ln.split(maxsplit=9)
        try:
            iid = int(parts[0])
            q = np.array([float(v) for v in parts[1:5]])
            t = np.array([float(v) for v in parts[5:8]])
            cid, name = int(parts[8]), parts[9]
        except (IndexError, ValueError) as e:
            raise ValueError(
                f'{path}: line {i} is not "IMAGE_ID QW QX QY QZ TX TY TZ '
                f'CAMERA_ID NAME": {ln[:80]!r}') from e
        images[iid] = ColmapImage(iid, q, t, cid, name)
        j += 2  # the next line lists the image's 2D points (maybe empty)
    return images


class _Bin:
    """Little-endian reads of a COLMAP ``.bin`` file, naming it on
    truncation."""

    def __init__(self, path: str):
        self.path = path
        with open(path, 'rb') as f:
            self.buf = f.read()
        self.pos = 0

    def read(self, fmt: str):
        size = struct.calcsize('<' + fmt)
        if self.pos + size > len(self.buf):
            raise ValueError(f'{self.path}: truncated (needs {size} more '
                             f'bytes at offset {self.pos}); re-export the '
                             'model (colmap model_converter).')
        out = struct.unpack_from('<' + fmt, self.buf, self.pos)
        self.pos += size
        return out

    def string(self) -> str:
        end = self.buf.find(b'\x00', self.pos)
        if end < 0:
            raise ValueError(f'{self.path}: truncated image name.')
        s = self.buf[self.pos:end].decode('utf-8')
        self.pos = end + 1
        return s


def _read_cameras_bin(path: str) -> Dict[int, ColmapCamera]:
    b = _Bin(path)
    cams = {}
    for _ in range(b.read('Q')[0]):
        cid, mid, w, h = b.read('iiQQ')
        if mid not in CAMERA_MODELS:
            raise ValueError(f'{path}: camera {cid} has unknown model id '
                             f'{mid}.')
        name, n = CAMERA_MODELS[mid]
        cams[cid] = ColmapCamera(cid, name, int(w), int(h),
                                 np.array(b.read('d' * n)))
    return cams


def _read_images_bin(path: str) -> Dict[int, ColmapImage]:
    b = _Bin(path)
    images = {}
    for _ in range(b.read('Q')[0]):
        iid = b.read('i')[0]
        q = np.array(b.read('dddd'))
        t = np.array(b.read('ddd'))
        cid = b.read('i')[0]
        name = b.string()
        n2d = b.read('Q')[0]
        b.pos += n2d * struct.calcsize('<ddq')  # 2D points: not needed
        images[iid] = ColmapImage(iid, q, t, cid, name)
    return images


def read_colmap_model(model_dir: str
                      ) -> Tuple[Dict[int, ColmapCamera],
                                 Dict[int, ColmapImage]]:
    """Cameras and images of a COLMAP model folder (binary files are used
    when both forms are there, as COLMAP does).

    Raises:
        FileNotFoundError: No ``cameras`` / ``images`` file.
        ValueError: A malformed or truncated file, an image of an unknown
            camera - naming the file.
    """
    found = {}
    for kind in ('cameras', 'images'):
        for ext in ('.bin', '.txt'):
            p = osp.join(model_dir, kind + ext)
            if osp.isfile(p):
                found[kind] = p
                break
        else:
            raise FileNotFoundError(
                f'{model_dir}: no {kind}.bin / {kind}.txt: not a COLMAP '
                'sparse model folder (e.g. <project>/sparse/0, or the '
                'sparse/ folder written by colmap image_undistorter).')
    cp, ip = found['cameras'], found['images']
    cams = _read_cameras_bin(cp) if cp.endswith('.bin') else \
        _read_cameras_txt(cp)
    images = _read_images_bin(ip) if ip.endswith('.bin') else \
        _read_images_txt(ip)
    if not images:
        raise ValueError(f'{ip}: the model has no registered images.')
    unknown = sorted({im.camera_id for im in images.values()} - set(cams))
    if unknown:
        raise ValueError(f'{ip}: images use camera ids {unknown[:5]} that '
                         f'{cp} does not define.')
    return cams, images


def find_colmap_model(path: str) -> Optional[Tuple[str, Optional[str]]]:
    """``(model folder, image folder)`` when ``path`` is a COLMAP model
    folder or a project folder holding one (``sparse/0`` or ``sparse``,
    images in ``images/``, as ``colmap automatic_reconstructor`` and
    ``image_undistorter`` lay them out); None when it holds no model. The
    image folder is None when none of those places has one."""
    def is_model(d):
        return any(osp.isfile(osp.join(d, 'cameras' + e))
                   for e in ('.bin', '.txt'))

    for model in (path, osp.join(path, 'sparse', '0'),
                  osp.join(path, 'sparse')):
        if osp.isdir(model) and is_model(model):
            break
    else:
        return None
    up = osp.dirname(osp.abspath(model))
    for cand in (osp.join(path, 'images'), osp.join(up, 'images'),
                 osp.join(osp.dirname(up), 'images')):
        if osp.isdir(cand):
            return model, cand
    return model, None
