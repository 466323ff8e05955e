"""2D→3D feature lifting (GeoPurify stage A): the one lifting path.

:func:`lift_views` is what every door runs (``GeoPurifyInferencer``,
``tools/demo/pointcloud_demo.py``, ``tools/geopurify/lift_features.py``):
posed views (:class:`~ovseg_plugins.seg3d.posed_view.PosedView`, from RGB-D
frames, rendered from the cloud, or photogrammetry cameras) -> intrinsics
for the frame projected into (one rule, with its refusals) -> projection
and visibility (depth test, or a z-buffer of the points) -> 2D features ->
consensus top-k fusion (:mod:`~ovseg_plugins.seg3d.view_fusion`) with the
authors' view rules -> unseen points filled from the nearest seen one.
Vectorised: no per-point Python dictionaries.
"""
from dataclasses import dataclass, fields
from typing import Callable, Dict, Iterable, Optional, Tuple

import numpy as np
import torch

from .posed_view import PosedView
from .view_fusion import (ViewFusionAccumulator, consensus_topk_fusion,
                          consensus_topk_fusion_sparse, fill_unseen,
                          map_cells, observation_logits, sample_feature_map,
                          sample_visible, topk_consensus_weights)

__all__ = [
    'LiftConfig', 'LiftResult', 'lift_views', 'view_intrinsics',
    'rescale_intrinsics', 'project_points', 'points_depth_map', 'PosedView',
    # fusion (view_fusion), re-exported
    'ViewFusionAccumulator', 'consensus_topk_fusion',
    'consensus_topk_fusion_sparse', 'fill_unseen', 'map_cells',
    'observation_logits', 'sample_feature_map', 'sample_visible',
    'topk_consensus_weights'
]


def rescale_intrinsics(intrinsic: torch.Tensor, image_hw: Tuple[int, int],
                       rule: str = 'center',
                       source_hw: Optional[Tuple[int, int]] = None,
                       tol: float = 0.05,
                       name: str = 'intrinsics') -> Tuple[torch.Tensor, str]:
    """Intrinsics for the ``image_hw`` frame that is actually projected into.

    Rules:

    - ``'center'`` (GeoPurify's code, ``PointCloudToImageMapper``): the
      intrinsics are taken to describe a frame centred on their principal
      point, i.e. of size ``(2·cy, 2·cx)``; ``fx ← fx · W / (2·cx)``,
      ``fy ← fy · H / (2·cy)`` and the principal point moves to the image
      centre ``(W / 2, H / 2)``. Almost the identity when the intrinsics
      already belong to ``image_hw``.
    - ``'scale'``: an exact resize from ``source_hw`` (default the centred
      frame above): focal lengths scale by ``W / W0``, ``H / H0``, the
      principal point by the pixel-centre rule ``(c + 0.5)·s − 0.5``.

    Args:
        intrinsic (Tensor): ``(3, 3)`` (or ``(4, 4)``, top-left block used).
        image_hw (tuple): ``(H, W)`` of the frame points are projected into
            (the depth map when there is one, else the colour image).
        rule (str): ``'center'`` (default) or ``'scale'``.
        source_hw (tuple, optional): ``(H0, W0)`` the intrinsics belong to
            (default: twice the principal point).
        tol (float): Largest relative difference of aspect ratios (source
            vs ``image_hw``) and, with ``source_hw``, of the principal point
            from that frame's centre. Defaults to 0.05.
        name (str): The file or field named in errors and in the message.

    Returns:
        tuple: ``(3, 3)`` float32 intrinsics for ``image_hw`` and a one-line
        description of what was done (for the log).

    Raises:
        ValueError: Intrinsics that cannot belong to a frame of this shape
            (aspect ratio or principal point off by more than ``tol``).
    """
    if rule not in ('center', 'scale'):
        raise ValueError(f"intrinsic rule must be 'center' or 'scale', got "
                         f'{rule!r}')
    K = torch.as_tensor(intrinsic, dtype=torch.float64)[:3, :3].clone()
    H, W = (int(x) for x in image_hw)
    fx, fy, cx, cy = (float(K[0, 0]), float(K[1, 1]), float(K[0, 2]),
                      float(K[1, 2]))
    if not (fx > 0 and fy > 0 and cx > 0 and cy > 0):
        raise ValueError(f'{name}: expected a pinhole matrix with positive '
                         f'fx, fy, cx, cy, got fx={fx:g} fy={fy:g} cx={cx:g} '
                         f'cy={cy:g}')
    implied = (2 * cy, 2 * cx)
    H0, W0 = (float(x) for x in (source_hw or implied))
    src = 'given' if source_hw else 'implied by the principal point'
    if abs((W0 / H0) / (W / H) - 1) > tol:
        raise ValueError(
            f'{name}: intrinsics for a {W0:.0f}x{H0:.0f} frame ({src}) do not '
            f'fit the {W}x{H} frames read (aspect ratios {W0 / H0:.3f} vs '
            f'{W / H:.3f}): give the intrinsics of these frames '
            '(e.g. intrinsic_depth.txt for the depth maps).')
    if source_hw and (abs(cx / (W0 / 2) - 1) > tol
                      or abs(cy / (H0 / 2) - 1) > tol):
        raise ValueError(
            f'{name}: principal point ({cx:g}, {cy:g}) is not near the centre '
            f'of the {W0:.0f}x{H0:.0f} frame it is said to belong to: check '
            'the intrinsic file and its frame size.')
    if rule == 'center':
        sx, sy = W / (2 * cx), H / (2 * cy)
        K[0, 0] *= sx
        K[1, 1] *= sy
        K[0, 2], K[1, 2] = W / 2, H / 2
    else:
        sx, sy = W / W0, H / H0
        K[0, 0] *= sx
        K[1, 1] *= sy
        K[0, 2] = (cx + 0.5) * sx - 0.5
        K[1, 2] = (cy + 0.5) * sy - 0.5
    msg = (f'{name}: fx={fx:.2f} fy={fy:.2f} cx={cx:.2f} cy={cy:.2f} '
           f'({W0:.0f}x{H0:.0f} frame, {src}) -> {W}x{H} frames, rule '
           f'{rule!r}: fx={float(K[0, 0]):.2f} fy={float(K[1, 1]):.2f} '
           f'cx={float(K[0, 2]):.2f} cy={float(K[1, 2]):.2f} '
           f'(scale {sx:.4f}, {sy:.4f})')
    return K.float(), msg


def project_points(xyz: torch.Tensor, cam2world: torch.Tensor,
                   intrinsic: torch.Tensor, image_hw: Tuple[int, int],
                   depth: Optional[torch.Tensor] = None,
                   cut_boundary: int = 10,
                   vis_threshold: float = 0.05
                   ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Project points into one posed view.

    Args:
        xyz (Tensor): ``(N, 3)`` world coordinates.
        cam2world (Tensor): ``(4, 4)`` camera-to-world pose.
        intrinsic (Tensor): ``(3, 3)`` pinhole intrinsics for ``image_hw``.
        image_hw (tuple): ``(H, W)``.
        depth (Tensor, optional): ``(H, W)`` depth in metres; a point is
            occluded when ``|depth(u, v) - z| > vis_threshold · depth(u, v)``.
            Without depth only the frustum test applies (see
            :func:`points_depth_map` for frames recorded without depth).
        cut_boundary (int): Pixels this close to the border are not used.
        vis_threshold (float): Relative depth tolerance (0.05 ScanNet,
            0.02 Matterport).

    Returns:
        tuple: ``pixels (N, 2)`` long ``(u, v)`` and ``visible (N,)`` bool.

    Raises:
        ValueError: The principal point lies outside the image: the
            intrinsics belong to another resolution (see
            :func:`rescale_intrinsics`).
    """
    H, W = image_hw
    cx, cy = float(intrinsic[0, 2]), float(intrinsic[1, 2])
    if not (0 < cx < W and 0 < cy < H):
        raise ValueError(
            f'intrinsics with principal point ({cx:g}, {cy:g}) do not belong '
            f'to a {W}x{H} image: they are for another resolution; rescale '
            'them to the frames projected into (rescale_intrinsics)')
    w2c = torch.linalg.inv(cam2world.double())
    # one (3, 4) projection: rows 0-1 give z·(u, v), row 2 the depth z
    # (a pinhole intrinsic's last row is (0, 0, 1))
    proj = intrinsic.double() @ w2c[:3]
    if not torch.equal(intrinsic[2].double(),
                       torch.tensor([0., 0., 1.], dtype=torch.float64)):
        proj[2] = w2c[2]
    proj = proj.float()
    uvz = torch.addmm(proj[:, 3], xyz.float(), proj[:, :3].t())
    z = uvz[:, 2]
    uv = uvz[:, :2] / z.clamp(min=1e-6)[:, None]
    u, v = uv.round_().long().unbind(1)
    vis = (z > 1e-6) & (u >= cut_boundary) & (u < W - cut_boundary) & \
        (v >= cut_boundary) & (v < H - cut_boundary)
    if depth is not None:
        d = torch.zeros_like(z)
        d[vis] = depth[v[vis], u[vis]].float()
        vis = vis & (d > 0) & ((d - z).abs() <= vis_threshold * d)
    return torch.stack([u, v], 1), vis


def points_depth_map(xyz: torch.Tensor, cam2world: torch.Tensor,
                     intrinsic: torch.Tensor, image_hw: Tuple[int, int],
                     splat: int = 2) -> torch.Tensor:
    """Depth map of a view z-buffered from the points themselves, for frames
    recorded without depth (mmdet3d's ``extract_posed_images.py`` exports
    none): with it, :func:`project_points` drops the points hidden behind
    nearer ones instead of keeping everything in the frustum.

    Args:
        xyz (Tensor): ``(N, 3)`` world coordinates.
        cam2world (Tensor): ``(4, 4)`` camera-to-world pose.
        intrinsic (Tensor): ``(3, 3)`` intrinsics for ``image_hw``.
        image_hw (tuple): ``(H, W)``.
        splat (int): Footprint half-width in pixels of each point, so that
            a surface's points cover the pixels between them.

    Returns:
        Tensor: ``(H, W)`` float32 metres (0 where no point projects).
    """
    from .rendering import render_points
    _, depth = render_points(xyz.double().numpy(),
                             cam2world.double().numpy(),
                             intrinsic.double().numpy(), image_hw, splat)
    return torch.from_numpy(depth)



@dataclass
class LiftConfig:
    """The lifting settings, with the GeoPurify authors' defaults.

    Attributes:
        vis_threshold (float): Relative depth tolerance of the occlusion
            test (0.05 ScanNet, 0.02 Matterport).
        cut_boundary (int): Pixels this close to the border are not used.
        k (int): Views fused per point (consensus top-k).
        logit_scale (float): Scale of the cosines ranking the views.
        min_visible (int): Views with fewer visible points are skipped
            (authors: 400; 0 keeps every view).
        max_visible (int, optional): Views with more are skipped (authors:
            65000 while training only; None: no cap).
        fill_uncovered (bool): A visible point whose feature-map cell holds
            no feature (all zeros) takes the cell of the nearest visible
            point of the same view that has one (authors' rule).
        zbuffer (bool): Views without depth get a depth map z-buffered from
            the points (hidden points are not lifted); False keeps the
            whole frustum.
        intrinsic_rule (str): ``'center'`` (authors') or ``'scale'``, see
            :func:`rescale_intrinsics`.
        store_dtype (str): ``'float16'`` or ``'float32'`` storage of the
            kept feature-map rows.
    """

    vis_threshold: float = 0.05
    cut_boundary: int = 10
    k: int = 3
    logit_scale: float = 100.
    min_visible: int = 400
    max_visible: Optional[int] = None
    fill_uncovered: bool = True
    zbuffer: bool = True
    intrinsic_rule: str = 'center'
    store_dtype: str = 'float16'

    @classmethod
    def build(cls, cfg=None, where: str = 'lift_cfg') -> 'LiftConfig':
        """From None, a :class:`LiftConfig` or a dict; unknown keys are
        refused naming ``where`` and the known ones."""
        if cfg is None:
            return cls()
        if isinstance(cfg, cls):
            return cfg
        known = [f.name for f in fields(cls)]
        bad = sorted(set(cfg) - set(known))
        if bad:
            raise KeyError(f'{where}: unknown lifting setting(s) {bad}; the '
                           f'settings are {known}')
        out = cls(**dict(cfg))
        if out.intrinsic_rule not in ('center', 'scale'):
            raise ValueError(f"{where}.intrinsic_rule must be 'center' or "
                             f"'scale', got {out.intrinsic_rule!r}")
        if out.store_dtype not in ('float16', 'float32'):
            raise ValueError(f"{where}.store_dtype must be 'float16' or "
                             f"'float32', got {out.store_dtype!r}")
        return out


@dataclass
class LiftResult:
    """What :func:`lift_views` returns.

    Attributes:
        fused (Tensor): ``(N, D)`` float32 per-point features (unseen
            points copy their nearest seen point).
        seen (Tensor): ``(N,)`` bool, seen by some used view.
        views (int): Views fused.
        skipped (dict): Views skipped: ``few`` / ``many`` visible points,
            ``empty`` (no feature), ``pose`` (non-finite pose).
        filled (int): Observations given a neighbour's cell (in-view fill).
        zbuffered (int): Views whose depth came from the points.
        cfg (LiftConfig): The settings used.
    """

    fused: torch.Tensor
    seen: torch.Tensor
    views: int
    skipped: Dict[str, int]
    filled: int
    zbuffered: int
    cfg: LiftConfig

    def summary(self) -> str:
        """One log line: views used and skipped, points seen."""
        sk = self.skipped
        return (f'{self.views} views ({sk["few"]} skipped with < '
                f'{self.cfg.min_visible} visible points, {sk["many"]} with '
                f'more than {self.cfg.max_visible}, '
                f'{sk["empty"]} without features, {sk["pose"]} with a '
                f'non-finite pose; {self.filled} observations filled '
                f'in-view), {int(self.seen.sum())}/{len(self.seen)} points '
                'seen')


def view_intrinsics(view: PosedView, rule: str = 'center'
                    ) -> Tuple[torch.Tensor, str]:
    """The one intrinsics rule: ``view.intrinsic`` rescaled to the frame
    points are projected into (the depth map when there is one, else the
    image), refused when they cannot belong to it (see
    :func:`rescale_intrinsics`).

    Returns:
        tuple: ``(3, 3)`` float32 intrinsics and the log line.
    """
    return rescale_intrinsics(torch.from_numpy(view.intrinsic),
                              view.projection_hw, rule, view.intrinsic_hw,
                              name=view.intrinsic_source)


FeatureFn = Callable[[PosedView], Tuple[torch.Tensor, Tuple[int, int]]]


def _view_features(view: PosedView, features: Optional[FeatureFn]):
    if features is not None:
        return features(view)
    if view.features is None:
        raise ValueError(f'{view.name or view.id}: the view has no feature '
                         'map and no 2D model was given')
    return torch.as_tensor(view.features).float(), view.image_hw


def lift_views(xyz: torch.Tensor, views: Iterable[PosedView],
               text: torch.Tensor, features: Optional[FeatureFn] = None,
               cfg=None, log: Optional[Callable[[str], None]] = None,
               progress: Optional[Callable[[], None]] = None,
               name: str = 'input', option_hint: str = 'min_visible'
               ) -> LiftResult:
    """Lift 2D features of posed views onto points (GeoPurify stage A).

    Per view: skip a non-finite pose; intrinsics for the projection frame
    (:func:`view_intrinsics`); depth from the view, else z-buffered from
    the points (``cfg.zbuffer``); projection and visibility
    (:func:`project_points`); the view rule on the number of visible points
    (checked before the 2D model runs); the feature map; the view added to
    the consensus top-k fusion (with the in-view fill). Then the fused
    features, unseen points filled from their nearest seen point.

    Args:
        xyz (Tensor): ``(N, 3)`` point coordinates.
        views (iterable[PosedView]): Any view source (lazily read).
        text (Tensor): ``(C, D)`` class embeddings in the features' space
            (they rank the views).
        features (callable, optional): ``view -> (map (D, h, w), (H', W'))``
            where the map covers the top-left ``(H', W')`` pixels of a
            (possibly padded) image of ``view.image_hw``; None: the views'
            own ``features`` (covering the image).
        cfg (LiftConfig | dict, optional): Settings (authors' defaults).
        log (callable, optional): Takes each log line (default: mmengine's
            current logger).
        progress (callable, optional): Called once per view.
        name (str): The scene, for messages.
        option_hint (str): How the caller's users set ``min_visible`` (e.g.
            ``'--min-visible'``), named when no view is usable.

    Returns:
        LiftResult: Fused features and statistics.

    Raises:
        ValueError: No usable view, no point seen, intrinsics that do not
            belong to the frames, feature maps of another width than the
            text embeddings.
    """
    cfg = LiftConfig.build(cfg)
    if log is None:
        from mmengine.logging import print_log

        def log(msg):
            print_log(msg, logger='current')

    xyz = torch.as_tensor(xyz).float()
    acc = ViewFusionAccumulator(
        len(xyz), text, cfg.logit_scale, k=cfg.k,
        store_dtype=getattr(torch, cfg.store_dtype), xyz=xyz,
        fill_uncovered=cfg.fill_uncovered,
        min_visible_points=cfg.min_visible,
        max_visible_points=cfg.max_visible)
    intrinsics: Dict[tuple, torch.Tensor] = {}
    n_views = bad_pose = zbuffered = 0
    for view in views:
        n_views += 1
        if not view.has_finite_pose:  # ScanNet: lost tracking
            bad_pose += 1
            if progress is not None:
                progress()
            continue
        hw = view.projection_hw
        key = (view.intrinsic_source, view.intrinsic.tobytes(),
               view.intrinsic_hw, hw)
        if key not in intrinsics:
            intrinsics[key], msg = view_intrinsics(view, cfg.intrinsic_rule)
            kind = 'depth' if view.depth is not None else 'colour'
            log(f'intrinsics ({kind} frames): {msg}')
        K = intrinsics[key]
        pose = torch.from_numpy(view.cam2world).float()
        depth = None if view.depth is None else \
            torch.from_numpy(np.asarray(view.depth, np.float32))
        if depth is None and cfg.zbuffer:
            if not zbuffered:
                log('views without depth maps: occlusion from a z-buffer of '
                    'the points (zbuffer=False: frustum only)')
            zbuffered += 1
            depth = points_depth_map(xyz, pose, K, hw)
        pix, vis = project_points(xyz, pose, K, hw, depth, cfg.cut_boundary,
                                  cfg.vis_threshold)
        if acc.accepts(int(vis.sum())):  # small views: no 2D model run
            fmap, cover = _view_features(view, features)
            if fmap.ndim != 3 or fmap.shape[0] != text.shape[1]:
                raise ValueError(
                    f'{view.name or view.id}: feature map of shape '
                    f'{tuple(fmap.shape)} but {text.shape[1]}-d text '
                    'embeddings: they must come from the same 2D model '
                    '(D, h, w).')
            H, W = view.image_hw
            # the map covers (H', W') image pixels = this many frame pixels
            map_hw = hw if tuple(cover) == (H, W) else \
                (hw[0] * cover[0] / H, hw[1] * cover[1] / W)
            acc.add(pix, vis, fmap, map_hw)
        if progress is not None:
            progress()
    skipped = dict(acc.skipped, pose=bad_pose)
    if acc.num_views == 0:
        raise ValueError(
            f'{name}: none of the {n_views} views could be used: '
            f'{skipped["few"]} with fewer than {cfg.min_visible} visible '
            f'points, {skipped["many"]} with more than {cfg.max_visible}, '
            f'{skipped["empty"]} without features, {bad_pose} with a '
            f'non-finite pose. Lower {option_hint} to keep small views, or '
            'check the poses (camera-to-world), intrinsics and depth scale.')
    fused, seen = acc.fuse(compact=True)
    if not seen.any():
        raise ValueError(
            f'{name}: no point is visible in any of the {acc.num_views} '
            'views: check the poses (camera-to-world), the intrinsics and '
            'the depth scale.')
    return LiftResult(fill_unseen(xyz, fused, seen), seen, acc.num_views,
                      skipped, acc.filled, zbuffered, cfg)
