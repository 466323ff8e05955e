"""Headless picture of a point-cloud segmentation (no display, no open3d)."""
import json
from typing import List, Optional, Sequence, Tuple, Union

import numpy as np
import torch
from mmdet3d.registry import VISUALIZERS
from mmengine.visualization import Visualizer

from ovseg_plugins.utils.io import atomic_write
from .palette import class_palette

IGNORE_RGB = (160, 160, 160)


def _numpy(x) -> np.ndarray:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().numpy()
    if hasattr(x, 'tensor'):  # mmdet3d BasePoints
        return x.tensor.detach().cpu().numpy()
    return np.asarray(x)


def visible_from_above(xyz: np.ndarray, cells: int) -> np.ndarray:
    """Indices of the points a top-down picture shows, lowest first.

    With at most ``cells ** 2`` points, all of them (sorted by height, so
    that higher points are drawn last). Above that, the x-y extent is cut
    into ``cells`` square cells along its longer side and only the highest
    point of each occupied cell is kept: the one a picture of ``cells``
    pixels per side shows there, since higher points are drawn over lower
    ones. The cost and memory of drawing are then bounded by the picture,
    not by the cloud (a 10 M-point scene draws at most ``cells ** 2``
    points).

    Args:
        xyz (ndarray): ``(N, 3)`` coordinates.
        cells (int): Cells along the longer side of the x-y extent.

    Returns:
        ndarray: ``(M,)`` int64 indices, ascending in height (ties in input
        order).
    """
    order = np.argsort(xyz[:, 2], kind='stable')
    if len(xyz) <= cells * cells:
        return order
    xy = xyz[:, :2]
    lo = xy.min(0)
    side = float((xy.max(0) - lo).max()) / cells or 1.
    cx = np.minimum(((xy[:, 0] - lo[0]) / side).astype(np.int64), cells - 1)
    cy = np.minimum(((xy[:, 1] - lo[1]) / side).astype(np.int64), cells - 1)
    key = (cy * cells + cx)[order]
    del cx, cy
    rank = np.arange(len(order))
    top = np.full(cells * cells, -1, np.int64)
    np.maximum.at(top, key, rank)  # the highest (last drawn) point per cell
    return order[np.sort(top[top >= 0])]


@VISUALIZERS.register_module()
class PointSegLocalVisualizer(Visualizer):
    """Draw point-cloud labels as a top-down picture with matplotlib (Agg).

    A drop-in for mmdet3d's ``Det3DVisualizationHook`` with
    ``vis_task='lidar_seg'`` (``tools/test.py ... --show-dir DIR``): one PNG
    per scene with side-by-side panels (input colours when the points have
    them, ground truth, prediction), points seen from above (x right, y up,
    higher points drawn last), coloured by ``dataset_meta['palette']``
    (labels outside the classes, e.g. the ignore index, in grey) and a legend
    of the classes present (with their share of the predicted points). The
    PNG's text metadata hold ``classes`` (all class names, JSON) and
    ``present`` (the predicted ones), so a script can read what a picture
    shows. Works without a display; open3d is not needed. It is the one 3D
    picture renderer: ``tools/test.py --show-dir`` and
    ``GeoPurifyInferencer`` (``<stem>_labels.png``) both draw with it.
    Clouds of more points than a panel has pixels are drawn through
    :func:`visible_from_above` (the highest point per pixel), so a picture
    of a 10 M-point scene costs what one of 250k points does.

    Args:
        name (str): Instance name. Defaults to 'visualizer'.
        vis_backends (list[dict], optional): Backends for pictures without
            an ``out_file`` (``add_image``).
        save_dir (str, optional): Backends' folder.
        panel_size (float): Inches per panel. Defaults to 5.
        dpi (int): Defaults to 100.
        point_size (float, optional): Marker area; None scales it with the
            number of points (60 for 100 points, 5 for 40k, 1 from 200k).
        stamp (str, optional): A notice written in red at the bottom left
            of every picture (e.g. that the model had random weights).
    """

    def __init__(self, name: str = 'visualizer',
                 vis_backends: Optional[List[dict]] = None,
                 save_dir: Optional[str] = None, panel_size: float = 5.,
                 dpi: int = 100,
                 point_size: Optional[float] = None,
                 stamp: Optional[str] = None) -> None:
        super().__init__(name=name, vis_backends=vis_backends,
                         save_dir=save_dir)
        self.panel_size = panel_size
        self.dpi = dpi
        self.point_size = point_size
        self.stamp = stamp

    # ------------------------------------------------------------ colours
    def _classes_palette(self, n_labels: int) -> Tuple[List[str], np.ndarray]:
        meta = self.dataset_meta or {}
        classes = list(meta.get('classes') or [])
        if not classes:
            classes = [str(i) for i in range(n_labels)]
        palette = meta.get('palette')
        if isinstance(palette, (list, tuple, np.ndarray)) and \
                len(palette) >= len(classes):
            pal = np.asarray(palette, dtype=np.float64)[:len(classes)]
        else:  # the 3D outputs' colours when the dataset has no palette
            pal = class_palette(len(classes)).astype(np.float64)
        return classes, pal

    def _label_colors(self, labels: np.ndarray, pal: np.ndarray) -> np.ndarray:
        rgb = np.tile(np.asarray(IGNORE_RGB, np.float64), (len(labels), 1))
        ok = (labels >= 0) & (labels < len(pal))
        rgb[ok] = pal[labels[ok]]
        return rgb / 255.

    # ------------------------------------------------------------ drawing
    def _cells(self) -> int:
        """Pixels along a panel's side: the resolution of
        :func:`visible_from_above`."""
        return max(int(round(self.panel_size * self.dpi)), 1)

    def render(self, xyz: np.ndarray,
               panels: Sequence[Tuple[str, np.ndarray]],
               legend: Sequence[Tuple[str, np.ndarray]] = (),
               n_points: Optional[int] = None) -> np.ndarray:
        """Panels of ``(title, (N, 3) colours in [0, 1])`` -> RGB uint8
        ``(H, W, 3)``. ``n_points``: the size of the cloud ``xyz`` was
        taken from (sets the marker size; default ``len(xyz)``)."""
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
        from matplotlib.patches import Patch
        fig = Figure(figsize=(self.panel_size * len(panels),
                              self.panel_size + (0.6 if legend else 0)),
                     dpi=self.dpi)
        canvas = FigureCanvasAgg(fig)
        order = np.argsort(xyz[:, 2], kind='stable')  # top points last
        n = len(xyz) if n_points is None else n_points
        size = self.point_size or float(np.clip(2e5 / max(n, 1), 1, 60))
        for i, (title, colors) in enumerate(panels):
            ax = fig.add_subplot(1, len(panels), i + 1)
            ax.scatter(xyz[order, 0], xyz[order, 1], c=colors[order],
                       s=size, marker='o', linewidths=0)
            ax.set_title(title)
            ax.set_aspect('equal')
            ax.set_xticks([])
            ax.set_yticks([])
        if legend:
            fig.legend(handles=[Patch(color=c, label=n) for n, c in legend],
                       loc='lower center', ncol=min(len(legend), 8),
                       fontsize='small', frameon=False)
        canvas.draw()
        img = np.asarray(canvas.buffer_rgba())[..., :3].copy()
        if self.stamp:
            from PIL import Image

            from ovseg_plugins.utils.picture_stamp import draw_stamp
            pic = Image.fromarray(img)
            draw_stamp(pic, self.stamp)
            img = np.asarray(pic).copy()
        return img

    def add_datasample(self, name: str, data_input: dict,
                       data_sample=None, draw_gt: bool = True,
                       draw_pred: bool = True, show: bool = False,
                       wait_time: float = 0., out_file: Optional[str] = None,
                       o3d_save_path: Optional[str] = None,
                       vis_task: str = 'lidar_seg',
                       pred_score_thr: float = 0.3, step: int = 0,
                       show_pcd_rgb: bool = False) -> np.ndarray:
        """Draw one scene (the ``Det3DLocalVisualizer`` call signature).

        Args:
            data_input (dict): ``points`` ``(N, >=3)`` (x y z [r g b ...],
                colours 0..255 or 0..1).
            data_sample (Det3DDataSample, optional): ``pred_pts_seg`` /
                ``gt_pts_seg`` with ``pts_semantic_mask (N,)``.
            out_file, o3d_save_path (str, optional): PNG to write
                (atomically); without either the picture goes to the
                backends (``add_image``).

        Returns:
            np.ndarray: The RGB picture ``(H, W, 3)``.
        """
        if vis_task != 'lidar_seg':
            raise ValueError(
                f'PointSegLocalVisualizer draws point segmentation only '
                f"(vis_task='lidar_seg'), got vis_task={vis_task!r}; use "
                "mmdet3d's Det3DLocalVisualizer for detection.")
        if 'points' not in data_input:
            raise KeyError("PointSegLocalVisualizer needs data_input['points']")
        pts = _numpy(data_input['points'])
        if pts.ndim != 2 or pts.shape[1] < 3:
            raise ValueError(f'points must be (N, >=3), got {pts.shape}')
        # draw only what the picture can show (bounded by its pixels)
        shown = visible_from_above(pts[:, :3], self._cells())
        xyz = pts[shown, :3].astype(np.float64)
        panels, present = [], set()
        if pts.shape[1] >= 6:
            rgb = pts[shown, 3:6].astype(np.float64)
            rgb = rgb / 255. if pts[:, 3:6].max() > 1.0 else rgb
            panels.append(('input', np.clip(rgb, 0, 1)))
        n_labels = 0
        masks = {}
        for key, title, on in (('gt_pts_seg', 'ground truth', draw_gt),
                               ('pred_pts_seg', 'prediction', draw_pred)):
            seg = getattr(data_sample, key, None) if on and \
                data_sample is not None else None
            if seg is not None and 'pts_semantic_mask' in seg:
                m = _numpy(seg.pts_semantic_mask).astype(np.int64).reshape(-1)
                if len(m) != len(pts):
                    raise ValueError(
                        f'{key}.pts_semantic_mask has {len(m)} labels for '
                        f'{len(pts)} points; draw the points the model saw.')
                masks[title] = m
                n_labels = max(n_labels, int(m.max()) + 1 if len(m) else 0)
        classes, pal = self._classes_palette(n_labels)
        for title, m in masks.items():
            panels.append((title, self._label_colors(m[shown], pal)))
            present.update(int(v) for v in np.unique(m)
                           if 0 <= v < len(classes))
        if not panels:
            raise ValueError('nothing to draw: no colours, ground truth or '
                             'prediction in this sample')
        pred = masks.get('prediction')
        share = np.bincount(pred[(pred >= 0) & (pred < len(classes))],
                            minlength=len(classes)) / max(len(pred), 1) \
            if pred is not None else np.zeros(len(classes))
        legend = [(f'{classes[i]} ({100 * share[i]:.1f} %)' if share[i] > 0
                   else classes[i], pal[i] / 255.) for i in sorted(present)]
        img = self.render(xyz, panels, legend, n_points=len(pts))
        pred_names = [classes[i] for i in sorted(
            set(int(v) for v in np.unique(pred)) & set(range(len(classes))))
        ] if pred is not None else []
        if show:
            self.show(img, win_name=name, wait_time=wait_time)
        path = out_file or o3d_save_path
        if path is not None:
            self._save_png(path, img, dict(classes=json.dumps(classes),
                                           present=json.dumps(pred_names)))
        else:
            self.add_image(name, img, step)
        return img

    @staticmethod
    def _save_png(path: str, img: np.ndarray, text: dict) -> None:
        from PIL import Image
        from PIL.PngImagePlugin import PngInfo
        info = PngInfo()
        for k, v in text.items():
            info.add_text(k, v)
        atomic_write(path, lambda tmp: Image.fromarray(img).save(
            tmp, format='PNG', pnginfo=info), suffix='.png')
