"""Procedural labelled rooms and a documented noise model for lifted 2D
features: the controlled setting of GeoPurify's purification check.

Room: a floor, four walls and furniture primitives (boxes and cylinders:
bed, table with legs, cabinet, chairs, sofa, a round lamp column), points
sampled on the visible surfaces at ``spacing``, each object with its own
colour plus per-point colour noise.

Noise model of the lifted ("raw") semantic features, imitating multi-view
2D predictions fused onto points (:func:`view_fragmented_features`):

1. Class prototypes ``t_c`` (``D``-dim unit vectors) play the text
   embeddings; a point's clean feature is its class prototype.
2. View fragmentation: the scene is split into ``num_fragments`` Voronoi
   cells around random seeds (one cell ≈ the footprint one 2D view
   dominated after top-k fusion). In a fraction ``p_wrong`` of the cells the
   2D model was wrong: every point of the cell takes ONE wrong class's
   prototype (a coherent blob that ignores object boundaries, the typical
   error of 2D open-vocabulary models lifted to 3D).
3. Each cell adds its own bias ``σ_view · n_cell`` (view-dependent
   appearance), and every point gets ``σ_point · n_point`` (pixel noise);
   ``n`` are standard normal vectors.
"""
from typing import Dict, List, Tuple

import numpy as np

ROOM_CLASSES = ('wall', 'floor', 'bed', 'table', 'cabinet', 'chair', 'sofa',
                'lamp')


def _box_surface(lo, hi, spacing, rng, skip_bottom=True) -> np.ndarray:
    """Points on the faces of an axis-aligned box (no bottom face)."""
    lo, hi = np.asarray(lo, float), np.asarray(hi, float)
    pts = []
    for axis in range(3):
        for side, val in ((0, lo[axis]), (1, hi[axis])):
            if axis == 2 and side == 0 and skip_bottom:
                continue
            a, b = [i for i in range(3) if i != axis]
            na = max(2, int((hi[a] - lo[a]) / spacing))
            nb = max(2, int((hi[b] - lo[b]) / spacing))
            u, v = np.meshgrid(np.linspace(lo[a], hi[a], na),
                               np.linspace(lo[b], hi[b], nb), indexing='ij')
            f = np.empty((u.size, 3))
            f[:, a], f[:, b], f[:, axis] = u.ravel(), v.ravel(), val
            pts.append(f)
    p = np.concatenate(pts)
    return p + rng.normal(0, spacing * 0.05, p.shape)


def _cylinder_surface(center, radius, height, spacing, rng) -> np.ndarray:
    n_ang = max(8, int(2 * np.pi * radius / spacing))
    n_h = max(2, int(height / spacing))
    a, z = np.meshgrid(np.linspace(0, 2 * np.pi, n_ang, endpoint=False),
                       np.linspace(0, height, n_h), indexing='ij')
    p = np.stack([center[0] + radius * np.cos(a.ravel()),
                  center[1] + radius * np.sin(a.ravel()), z.ravel()], 1)
    return p + rng.normal(0, spacing * 0.05, p.shape)


def procedural_room(seed: int = 0, size: Tuple[float, float] = (3.2, 3.6),
                    height: float = 1.6, spacing: float = 0.05
                    ) -> Dict[str, np.ndarray]:
    """A labelled room.

    Returns:
        dict: ``points (N, 6)`` float32 xyz rgb (0..255), ``labels (N,)``
        int64 indices into :data:`ROOM_CLASSES`, ``instances (N,)``.
    """
    rng = np.random.default_rng(seed)
    W, L = size
    parts: List[Tuple[np.ndarray, int]] = []
    # floor and walls (walls face inwards; the room is open at the top)
    fx, fy = np.meshgrid(np.arange(0, W, spacing), np.arange(0, L, spacing),
                         indexing='ij')
    parts.append((np.stack([fx.ravel(), fy.ravel(),
                            np.zeros(fx.size)], 1), 1))
    for axis, val, length in ((0, 0., L), (0, W, L), (1, 0., W), (1, L, W)):
        a, z = np.meshgrid(np.arange(0, length, spacing),
                           np.arange(spacing, height, spacing), indexing='ij')
        w = np.empty((a.size, 3))
        w[:, axis], w[:, 1 - axis], w[:, 2] = val, a.ravel(), z.ravel()
        parts.append((w, 0))

    def jitter(v, s=0.15):
        return v + rng.uniform(-s, s)

    # furniture (class index, geometry)
    bx, by = jitter(0.3), jitter(0.3)
    parts.append((_box_surface([bx, by, 0], [bx + 1.4, by + 1.0, 0.5],
                               spacing, rng), 2))  # bed
    tx, ty = jitter(1.8), jitter(2.2)
    top = _box_surface([tx, ty, 0.68], [tx + 1.0, ty + 0.6, 0.74], spacing,
                       rng, skip_bottom=False)
    legs = [_box_surface([x, y, 0], [x + 0.06, y + 0.06, 0.68], spacing,
                         rng) for x in (tx, tx + 0.94) for y in (ty, ty + 0.54)]
    parts.append((np.concatenate([top] + legs), 3))  # table
    cx = jitter(W - 0.55, 0.05)
    parts.append((_box_surface([cx, 0.2, 0], [cx + 0.5, 0.8, 1.1], spacing,
                               rng), 4))  # cabinet
    for dx in (0.1, 0.6):
        x0, y0 = tx + dx, ty - 0.5
        parts.append((_box_surface([x0, y0, 0], [x0 + 0.4, y0 + 0.4, 0.45],
                                   spacing, rng), 5))  # chair seat block
        parts.append((_box_surface([x0, y0 - 0.05, 0.45],
                                   [x0 + 0.4, y0, 0.9], spacing, rng), 5))
    sx, sy = jitter(0.3), jitter(L - 0.9, 0.05)
    parts.append((_box_surface([sx, sy, 0], [sx + 1.6, sy + 0.8, 0.42],
                               spacing, rng), 6))  # sofa seat
    parts.append((_box_surface([sx, sy + 0.6, 0.42],
                               [sx + 1.6, sy + 0.8, 0.8], spacing, rng), 6))
    parts.append((_cylinder_surface([W - 0.4, L - 0.4], 0.12, 1.4, spacing,
                                    rng), 7))  # lamp column
    palette = rng.uniform(40, 215, (len(parts), 3))
    xyz, lab, inst, rgb = [], [], [], []
    for i, (p, c) in enumerate(parts):
        xyz.append(p)
        lab.append(np.full(len(p), c))
        inst.append(np.full(len(p), i))
        rgb.append(np.clip(palette[i] + rng.normal(0, 12, p.shape), 0, 255))
    xyz = np.concatenate(xyz)
    keep = (xyz[:, 0] >= -1e-3) & (xyz[:, 0] <= W + 1e-3) & \
        (xyz[:, 1] >= -1e-3) & (xyz[:, 1] <= L + 1e-3)
    pts = np.concatenate([xyz, np.concatenate(rgb)], 1)[keep]
    return dict(points=pts.astype(np.float32),
                labels=np.concatenate(lab)[keep].astype(np.int64),
                instances=np.concatenate(inst)[keep].astype(np.int64))


def class_prototypes(num_classes: int, dim: int, seed: int = 0
                     ) -> np.ndarray:
    """``(num_classes, dim)`` random unit vectors (stand-in text
    embeddings)."""
    rng = np.random.default_rng(seed + 1000)
    t = rng.normal(size=(num_classes, dim))
    return (t / np.linalg.norm(t, axis=1, keepdims=True)).astype(np.float32)


def view_fragmented_features(xyz: np.ndarray, labels: np.ndarray,
                             prototypes: np.ndarray, num_fragments: int = 120,
                             p_wrong: float = 0.3, sigma_view: float = 0.3,
                             sigma_point: float = 0.5, seed: int = 0
                             ) -> np.ndarray:
    """Noisy lifted features by the module's documented noise model.

    Args:
        xyz (ndarray): ``(N, 3)``.
        labels (ndarray): ``(N,)`` true classes.
        prototypes (ndarray): ``(C, D)`` class prototypes.

    Returns:
        ndarray: ``(N, D)`` float32.
    """
    rng = np.random.default_rng(seed)
    C, D = prototypes.shape
    seeds = xyz[rng.choice(len(xyz), num_fragments, replace=False)]
    cell = np.empty(len(xyz), dtype=np.int64)
    for s in range(0, len(xyz), 8192):
        d = ((xyz[s:s + 8192, None] - seeds[None])**2).sum(-1)
        cell[s:s + 8192] = d.argmin(1)
    wrong = rng.random(num_fragments) < p_wrong
    wrong_cls = rng.integers(0, C, num_fragments)
    cls = np.where(wrong[cell], wrong_cls[cell], labels)
    feats = prototypes[cls]
    feats = feats + sigma_view * rng.normal(size=(num_fragments, D))[cell]
    feats = feats + sigma_point * rng.normal(size=(len(xyz), D))
    return feats.astype(np.float32)


def miou(pred: np.ndarray, gt: np.ndarray, num_classes: int) -> float:
    """Mean IoU over the classes present in ``gt`` or ``pred``."""
    ious = []
    for c in range(num_classes):
        i = np.sum((pred == c) & (gt == c))
        u = np.sum((pred == c) | (gt == c))
        if u:
            ious.append(i / u)
    return float(np.mean(ious))


# synonyms the oracle text embeddings also know (same prototype)
ROOM_SYNONYMS = {'sofa': ('couch', ), 'table': ('desk', ),
                 'lamp': ('floor lamp', ), 'cabinet': ('cupboard', )}


def oracle_feature_maps(index_maps: List[np.ndarray], labels: np.ndarray,
                        prototypes: np.ndarray, stride: int = 4,
                        noise: float = 0.3, seed: int = 0
                        ) -> List[np.ndarray]:
    """Oracle-like 2D feature maps of rendered views: each cell of a
    ``stride``-coarser grid holds the prototype of the class of the point
    seen at the cell centre, plus ``noise · n`` (``n`` standard normal);
    empty cells hold noise only.

    Args:
        index_maps (list[ndarray]): ``(H, W)`` visible point per pixel
            (-1 = empty), from ``rendering.render_views``.
        labels (ndarray): ``(N,)`` classes.
        prototypes (ndarray): ``(C, D)``.

    Returns:
        list[ndarray]: ``(D, H // stride, W // stride)`` float32 maps.
    """
    rng = np.random.default_rng(seed)
    D = prototypes.shape[1]
    out = []
    for idx in index_maps:
        H, W = idx.shape
        cells = idx[stride // 2::stride, stride // 2::stride][:H // stride,
                                                             :W // stride]
        f = noise * rng.normal(size=cells.shape + (D, ))
        hit = cells >= 0
        f[hit] += prototypes[labels[cells[hit]]]
        out.append(np.ascontiguousarray(f.transpose(2, 0, 1),
                                        dtype=np.float32))
    return out


def write_oracle_scene(out_dir: str, seed: int = 0, spacing: float = 0.05,
                       views: int = 6, size: Tuple[int, int] = (240, 180),
                       dim: int = 16, noise: float = 0.5) -> Dict[str, str]:
    """A procedural room as a user would bring it: ``room.ply`` (coloured
    points, true labels in a ``label`` property), posed RGB-D frames
    rendered from it (``frames/``, ScanNet layout: ``views`` yaw angles at
    the room centre and at four inner corners), oracle-like 2D feature
    maps of those frames (``frames/features/<id>.npy``, see
    :func:`oracle_feature_maps`) and the matching text embeddings
    (``text_embeds.pt``: the class prototypes under each class name and
    its :data:`ROOM_SYNONYMS`). Every file is written atomically.

    Returns:
        dict: paths ``ply``, ``frames``, ``features``, ``text``.
    """
    import os.path as osp

    import torch

    from ovseg_plugins.utils.io import atomic_write
    from .pointcloud_io import write_ply
    from .rendering import render_views, write_scannet_frames
    room = procedural_room(seed, spacing=spacing)
    protos = class_prototypes(len(ROOM_CLASSES), dim, seed)
    ply = osp.join(out_dir, 'room.ply')
    write_ply(ply, room['points'][:, :3], room['points'][:, 3:6],
              dict(label=room['labels'].astype(np.int32)))
    # a recorded trajectory: the centre and four inner corners, looking
    # down 35 degrees with a 90-degree lens (5 x views frames)
    frames = render_views(room['points'], views, size, fov=90., pitch=-35.,
                          layout='corners')
    fdir = osp.join(out_dir, 'frames')
    ids = write_scannet_frames(frames, fdir)
    maps = oracle_feature_maps([f['index'] for f in frames], room['labels'],
                               protos, noise=noise, seed=seed)
    for i, m in zip(ids, maps):
        atomic_write(osp.join(fdir, 'features', f'{i}.npy'),
                     lambda t, m=m: np.save(t, m), suffix='.npy')
    queries, rows = [], []
    for c, name in enumerate(ROOM_CLASSES):
        for q in (name, ) + ROOM_SYNONYMS.get(name, ()):
            queries.append(q)
            rows.append(protos[c])
    text = osp.join(out_dir, 'text_embeds.pt')
    payload = dict(text_embeds=torch.from_numpy(np.stack(rows)),
                   queries=queries, model='oracle class prototypes',
                   templates=['{}'])
    atomic_write(text, lambda t: torch.save(payload, t), suffix='.pt')
    return dict(ply=ply, frames=fdir, features=osp.join(fdir, 'features'),
                text=text)


CITY_CLASSES = ('ground', 'facade', 'roof', 'tree')


def _city_rectangles(side: float, rng) -> List[Tuple[np.ndarray, int]]:
    """``(origin, u, v)`` rectangles (rows of a ``(3, 3)`` array) and their
    class: the ground, then per 10 m lot a box building (4 facades, a
    roof) and a tree (a square trunk and crown)."""
    rects = [(np.array([[0, 0, 0], [side, 0, 0], [0, side, 0]], float), 0)]
    for cx in np.arange(5., side, 10.):
        for cy in np.arange(5., side, 10.):
            w, d, h = rng.uniform(4, 7), rng.uniform(4, 7), rng.uniform(4, 15)
            x0, y0 = cx - w / 2, cy - d / 2
            for o, u in (([x0, y0, 0], [w, 0, 0]), ([x0, y0 + d, 0],
                                                     [w, 0, 0]),
                         ([x0, y0, 0], [0, d, 0]), ([x0 + w, y0, 0],
                                                    [0, d, 0])):
                rects.append((np.array([o, u, [0, 0, h]], float), 1))
            rects.append((np.array([[x0, y0, h], [w, 0, 0], [0, d, 0]]), 2))
            tx, ty = cx + 4.2, cy + 4.2
            if tx < side and ty < side:
                for o, u in (([tx, ty, 0], [.3, 0, 0]),
                             ([tx, ty, 0], [0, .3, 0])):
                    rects.append((np.array([o, u, [0, 0, 2.5]], float), 3))
                rects.append((np.array([[tx - 1, ty - 1, 2.5], [2, 0, 0],
                                        [0, 2, 0]], float), 3))
    return rects


def procedural_city_block(n_points: int, density: float = 1e4,
                          seed: int = 0) -> Dict[str, np.ndarray]:
    """A labelled city block of ``n_points`` points sampled uniformly on
    its surfaces (about ``density`` points per m², lower when one 10 m lot
    is more than enough; the ground grows with ``n_points``): ground, box buildings on 10 m lots (facades, roofs) and
    trees; colours per surface plus noise.

    Returns:
        dict: ``points (N, 6)`` float32 xyz rgb (0..255), ``labels (N,)``
        int64 indices into :data:`CITY_CLASSES`.
    """
    rng = np.random.default_rng(seed)
    side = np.sqrt(n_points / density / 3.)
    for _ in range(3):  # total area ≈ n_points / density
        state = rng.bit_generator.state
        rects = _city_rectangles(side, rng)
        rng.bit_generator.state = state
        area = sum(np.linalg.norm(np.cross(r[1], r[2])) for r, _ in rects)
        side = max(10., side * np.sqrt(n_points / density / area))
    rects = _city_rectangles(side, rng)
    areas = np.array([np.linalg.norm(np.cross(r[1], r[2])) for r, _ in rects])
    counts = rng.multinomial(n_points, areas / areas.sum())
    palette = rng.uniform(40, 215, (len(rects), 3))
    xyz = np.empty((n_points, 3), np.float32)
    rgb = np.empty((n_points, 3), np.float32)
    labels = np.empty(n_points, np.int64)
    s = 0
    for i, ((r, c), m) in enumerate(zip(rects, counts)):
        ab = rng.random((m, 2))
        xyz[s:s + m] = r[0] + ab[:, :1] * r[1] + ab[:, 1:] * r[2]
        rgb[s:s + m] = np.clip(palette[i] + rng.normal(0, 12, (m, 3)), 0,
                               255)
        labels[s:s + m] = c
        s += m
    return dict(points=np.concatenate([xyz, rgb], 1), labels=labels)
