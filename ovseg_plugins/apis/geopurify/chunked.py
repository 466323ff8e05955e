"""Large scenes in spatial blocks: GeoPurify one block at a time.

A scene of tens of millions of points does not fit the whole-scene chain
(the lifted features alone are ``N × C`` float32). Here the scene is cut
into equal tiles in x-y (about ``block_size`` metres, z unbounded); each tile is
run as its own scene together with the points within ``overlap`` metres
around it (their context: views, the teacher's and the pooling's
neighbourhoods), through the inferencer's own chain (views -> lifting ->
purification -> classification). Each point takes the labels of the block
whose centre is nearest in x-y — on a regular grid of tiles that is the
tile containing it (points on a tile border go to the tile above in x / y)
— so every point is labelled exactly once and overlaps are resolved by a
fixed rule. Where the scene is dense, the tiles are made smaller (one
regular grid still) until no block holds more than ``max_points`` points
with its context, so the memory of a block does not grow with the scene.
Of the whole scene only the coordinates, the colours (bytes when they are
whole numbers), the plan's point order and the ``(N,)`` labels, scores and
seen flags are held (about 26 bytes per point); the features live as long
as one block.

The overlap should be at least the pooling's neighbourhood (the radius of
its K nearest voxels: about 0.1 m for K = 96 on 2 cm voxels of a surface);
the default 1 m also covers the teacher's neighbourhoods and the spread of
the repeated products.

Blocks can run on several processes: launched by ``torchrun`` with
``--launcher pytorch`` (:func:`init_block_processes`: gloo on CPU), rank ``r``
of ``W`` runs the blocks ``r, r + W, ...`` and the per-point results are
combined with one ``all_reduce``; each block's result does not depend on
the process that ran it, so the labels equal those of one process.
"""
import dataclasses
import logging
import time
from typing import Dict, List, Optional, Tuple

import numpy as np
from mmengine.logging import print_log

from ovseg_plugins.seg3d.io.cloud import PointCloud
from .scene_inputs import read_input

__all__ = ['plan_blocks', 'block_points', 'segment_in_blocks',
           'init_block_processes']


def plan_blocks(xyz: np.ndarray, block_size: float, overlap: float,
                max_points: Optional[int] = None, lazy: bool = False
                ) -> Tuple[Optional[np.ndarray], List[Dict]]:
    """Tiles of the scene and the points each one runs on.

    The x-y extent is cut into ``round(extent / block_size)`` (at least
    one) equal tiles per axis: 0.75 to 1.5 ``block_size`` long once there
    are two or more, and no thin sliver is left at a border. With
    ``max_points``, the tiles are then made smaller (still one regular
    grid, 5 % at a time) until no block holds more than ``max_points``
    points with its context, so that the memory of a block is bounded by
    the budget whatever the density (tall facades, dense scans); tiles
    stay at least ``2 * overlap`` and ``block_size / 64`` wide (a warning
    says when that stops it).

    Args:
        xyz (ndarray): ``(N, 3)`` coordinates (metres).
        block_size (float): Tile side in x-y (metres, about; the largest).
        overlap (float): Context margin around each tile (metres, at most
            ``block_size / 2``).
        max_points (int, optional): Most points a block may hold, its
            context included.
        lazy (bool): Leave ``points`` / ``owned`` out of the blocks (and
            return no ``owner``); :func:`block_points` gives them one block
            at a time, so that the plan holds 4 bytes per point (its point
            order) instead of every block's indices and flags.

    Returns:
        tuple: ``owner (N,)`` the block index of each point (None when
        ``lazy``), and per non-empty tile (row-major in y, then x)
        ``dict(index, tile (ix, iy), centre (2,), size (2,), points (M,)
        indices of its points and context, sorted, owned (M,) bool)``.
        Indices are int32 below 2**31 points (int64 above).
    """
    if not block_size > 0:
        raise ValueError(f'block_size must be > 0 metres, got {block_size}')
    if not 0 <= overlap <= block_size / 2:
        raise ValueError(f'overlap must be within [0, block_size / 2 = '
                         f'{block_size / 2}] metres, got {overlap}')
    if max_points is not None and not int(max_points) >= 1:
        raise ValueError(f'max_points must be >= 1 (points per block), got '
                         f'{max_points}')
    xy = np.asarray(xyz[:, :2], np.float64)
    lo = xy.min(0)
    ext = xy.max(0) - lo
    nx, ny = _grid(ext, block_size)
    if max_points is not None:
        nx, ny = _fit_budget(xy, lo, ext, block_size, overlap,
                             int(max_points), nx, ny)
    size = _tile_size(ext, nx, ny, block_size)
    # per-point arrays in the narrowest integer type that holds them: at
    # 10 M points every int64 (N,) array is 80 MB held for the whole run
    idx_t = np.int32 if len(xy) < 2**31 else np.int64
    tile = _tile_of(xy, lo, size, nx, ny)
    del xy
    order = np.argsort(tile, kind='stable').astype(idx_t)
    starts = np.searchsorted(tile[order], np.arange(nx * ny + 1))
    del tile
    grid = dict(xyz=xyz, lo=lo, size=size, nx=nx, ny=ny, order=order,
                starts=starts, overlap=overlap)
    blocks = []
    for b, t in enumerate(np.nonzero(np.diff(starts))[0].tolist()):
        ix, iy = t % nx, t // nx
        t_lo = lo + size * np.array([ix, iy])
        blocks.append(dict(index=b, tile=(int(ix), int(iy)),
                           centre=t_lo + size / 2, size=size, _grid=grid))
    if lazy:
        return None, blocks
    owner = np.full(len(xyz), -1, idx_t)
    for blk in blocks:
        blk['points'], blk['owned'] = block_points(blk)
        owner[blk['points'][blk['owned']]] = blk['index']
    return owner, blocks


def block_points(blk: dict) -> Tuple[np.ndarray, np.ndarray]:
    """``points (M,)`` (sorted indices of the block's points and context)
    and ``owned (M,)`` (bool) of one block of :func:`plan_blocks`."""
    g = blk['_grid']
    nx, ny = g['nx'], g['ny']
    ix, iy = blk['tile']
    order, starts = g['order'], g['starts']
    # overlap <= 0.5 block <= tile: the context lies in the 3 x 3 tiles
    near = [jy * nx + jx for jy in range(max(iy - 1, 0), min(iy + 2, ny))
            for jx in range(max(ix - 1, 0), min(ix + 2, nx))]
    cand = np.sort(np.concatenate([order[starts[u]:starts[u + 1]]
                                   for u in near]))
    # the same float64 values as the plan's (no rounding at the borders)
    p = np.asarray(g['xyz'][cand, :2], np.float64)
    t_lo = g['lo'] + g['size'] * np.array([ix, iy])
    inside = ((p >= t_lo - g['overlap']) &
              (p <= t_lo + g['size'] + g['overlap'])).all(1)
    own = _tile_of(p[inside], g['lo'], g['size'], nx, ny) == iy * nx + ix
    return cand[inside], own


def _grid(ext: np.ndarray, side: float) -> Tuple[int, int]:
    """Equal tiles of about ``side`` over the extent (no thin slivers)."""
    n = np.maximum(np.floor(ext / side + 0.5).astype(np.int64), 1)
    return int(n[0]), int(n[1])


def _tile_size(ext: np.ndarray, nx: int, ny: int,
               block_size: float) -> np.ndarray:
    """``(2,)`` tile side of an ``nx`` x ``ny`` grid over the extent
    (``block_size`` along an axis without extent)."""
    return np.where(ext > 0, ext / [nx, ny], block_size)


def _context_counts(xy: np.ndarray, lo: np.ndarray, size: np.ndarray,
                    nx: int, ny: int, overlap: float) -> np.ndarray:
    """Points per tile with its context (``overlap`` around the tile), all
    tiles at once: a point lies in the context of at most 2 (3 on exact
    borders) tiles per axis."""
    counts = np.zeros(nx * ny, np.int64)
    axes = []
    for a, n in ((0, nx), (1, ny)):
        u = (xy[:, a] - lo[a]) / size[a]
        first = np.ceil(u - 1 - overlap / size[a]).astype(np.int64)
        last = np.floor(u + overlap / size[a]).astype(np.int64)
        axes.append((np.maximum(first, 0), np.minimum(last, n - 1)))
    for dx in range(3):
        ix = axes[0][0] + dx
        okx = ix <= axes[0][1]
        for dy in range(3):
            iy = axes[1][0] + dy
            ok = okx & (iy <= axes[1][1])
            counts += np.bincount((iy * nx + ix)[ok], minlength=nx * ny)
    return counts


def _fit_budget(xy, lo, ext, block_size, overlap, max_points, nx, ny):
    """The grid of the largest tiles (``block_size``, then 5 % smaller at a
    time) whose blocks hold at most ``max_points`` points with context."""
    smallest = max(2 * overlap, block_size / 64)
    side = block_size
    while True:
        size = _tile_size(ext, nx, ny, block_size)
        most = int(_context_counts(xy, lo, size, nx, ny, overlap).max())
        if most <= max_points:
            return nx, ny
        side *= 0.95
        nxt = _grid(ext, side)
        if side < smallest or ((ext > 0) & (ext / nxt < smallest)).any():
            print_log(f'blocks: a block of {size.min():.3g} m tiles still '
                      f'holds {most} points with context (max_points '
                      f'{max_points}); tiles stay at least {smallest:.3g} m '
                      'wide (2 * overlap, block_size / 64). Lower overlap '
                      'or block_size to allow smaller tiles.',
                      logger='current', level=logging.WARNING)
            return nx, ny
        nx, ny = max(nxt[0], nx), max(nxt[1], ny)


def _tile_of(xy: np.ndarray, lo: np.ndarray, size: np.ndarray, nx: int,
             ny: int) -> np.ndarray:
    """``(N,)`` int64 row-major tile index of each point (border points go
    to the tile above; the last row / column is closed)."""
    ij = np.minimum(np.floor((xy - lo) / size), [nx - 1, ny - 1])
    return (ij[:, 1] * nx + ij[:, 0]).astype(np.int64)


def _sub_cloud(cloud: PointCloud, idx: np.ndarray, b: int) -> PointCloud:
    """The points ``idx`` of ``cloud`` as a cloud of its own (same local
    origin, so views and coordinates stay in the scene's frame)."""
    return PointCloud(cloud.xyz[idx],
                      cloud.rgb[idx].astype(np.float32, copy=False),
                      cloud.has_color,
                      None if cloud.normals is None else cloud.normals[idx],
                      None, f'{cloud.path or "input"} [block {b}]',
                      cloud.origin)


def init_block_processes(launcher: str = 'none') -> Tuple[int, int]:
    """Join the process group of ``torchrun`` (``launcher='pytorch'``:
    gloo on CPU, nccl with CUDA: :func:`ovseg_plugins.utils.dist.init_dist`,
    as the raster tools) unless one exists; returns ``(rank, world_size)``."""
    import torch.distributed

    from ...utils import dist
    if launcher not in ('none', 'pytorch'):
        raise ValueError(f"launcher must be 'none' or 'pytorch' (torchrun), "
                         f'got {launcher!r}')
    if launcher == 'pytorch' and not torch.distributed.is_initialized():
        dist.init_dist(launcher)
    return dist.dist_info()


def segment_in_blocks(inferencer, item, block_size: float = 20.,
                      overlap: float = 1., out_dir: str = '',
                      frames: Optional[str] = None,
                      images: Optional[str] = None, undistort: bool = False,
                      load_dim: Optional[int] = None,
                      launcher: str = 'none',
                      max_points: Optional[int] = 1_000_000) -> dict:
    """Segment one scene block by block with a ``GeoPurifyInferencer``.

    Args:
        inferencer (GeoPurifyInferencer): Its chain runs on each block.
        item: A point-cloud file, a :class:`PointCloud`, an array or a
            ``{'points', 'frames'}`` dict, as the inferencer takes.
        block_size (float): Tile side in metres (x-y).
        overlap (float): Context margin in metres (see the module
            docstring).
        out_dir (str): Write the inferencer's files there (rank 0).
        frames, images, undistort, load_dim: As the inferencer's.
        launcher (str): ``'pytorch'``: blocks over the processes of
            ``torchrun`` (see :func:`init_block_processes`).
        max_points (int, optional): Most points a block may hold with
            its context: denser scenes get smaller tiles (see
            :func:`plan_blocks`), so that the memory of a block stays
            bounded whatever the scene's size and density. None: tiles of
            ``block_size`` whatever they hold.

    Returns:
        dict: The inferencer's result for this scene (``predictions``:
        ``pts_semantic_mask``, ``pts_scores``, ``pts_seen``, ``classes``,
        ``files``) plus ``blocks`` (count), ``largest_block`` (points of
        the largest block this process ran, with its context),
        ``stage_times`` (seconds per stage summed over this process's
        blocks), ``stage_spans`` (``(stage, start, end)`` perf_counter
        times of each block's stages), ``world_size`` and ``rank``.
    """
    import torch
    data = read_input(item, frames, load_dim, images, undistort)
    cloud = data['cloud']
    _, blocks = plan_blocks(cloud.xyz, block_size, overlap, max_points,
                            lazy=True)
    rank, world = init_block_processes(launcher)
    N = len(cloud)
    # what is held for the whole scene is kept narrow (about 26 bytes per
    # point: xyz, colours as bytes when they are whole numbers, the plan's
    # order, int16 labels, scores, seen); int64 labels and float colours
    # only for the output, once the blocks are done
    rgb = cloud.rgb
    if len(rgb) and rgb.min() >= 0 and rgb.max() <= 255 and \
            (rgb == np.round(rgb)).all():
        cloud = dataclasses.replace(cloud, rgb=rgb.astype(np.uint8))
        data = dict(data, cloud=cloud)
    del rgb
    n_cls = len(inferencer.vocabulary.class_names)
    labels = np.full(N, -1, np.int16 if n_cls < 2**15 else np.int32)
    scores = np.full(N, -1., np.float32)
    seen = np.zeros(N, np.uint8)
    times: Dict[str, float] = {}
    spans: List[Tuple[str, float, float]] = []
    largest = 0
    for blk in blocks[rank::world]:
        t0 = time.perf_counter()
        idx, own = block_points(blk)
        largest = max(largest, len(idx))
        sub = dict(data, cloud=_sub_cloud(cloud, idx, blk['index']),
                   key=None, name=data['name'])
        try:
            pred = inferencer.forward(sub)[0]
        except ValueError as e:
            raise ValueError(
                f'block {blk["index"] + 1} of {len(blocks)} (tile '
                f'{blk["tile"]}, {len(idx)} points with context): {e} With '
                f'blocks, larger ones (block_size, now {block_size} m) hold '
                'more points per view.') from e
        labels[idx[own]] = pred['pts_semantic_mask'][own]
        scores[idx[own]] = pred['pts_scores'][own]
        seen[idx[own]] = pred['pts_seen'][own]
        for k, v in inferencer.stage_times.items():
            times[k] = times.get(k, 0.) + v
        spans.extend(inferencer.stage_spans)
        print_log(f'block {blk["index"] + 1}/{len(blocks)} (tile '
                  f'{blk["tile"]}): {int(own.sum())} points, '
                  f'{len(idx)} with context, '
                  f'{time.perf_counter() - t0:.1f} s', logger='current')
    if world > 1:
        import torch.distributed as dist
        wide = labels.astype(np.int32)  # gloo reduces int32, not int16
        for arr in (wide, scores, seen):
            t = torch.from_numpy(arr)
            dist.all_reduce(t, op=dist.ReduceOp.MAX)
        labels = wide
    if (labels < 0).any():
        raise RuntimeError(f'{int((labels < 0).sum())} points got no block '
                           '(internal error in the block plan)')
    labels = labels.astype(np.int64)
    if cloud.rgb.dtype != np.float32:
        cloud = dataclasses.replace(cloud, rgb=cloud.rgb.astype(np.float32))
    pred = dict(name=data['name'], cloud=cloud, pts_semantic_mask=labels,
                pts_scores=scores, pts_seen=seen.astype(bool),
                classes=list(inferencer.vocabulary.class_names))
    save = out_dir if rank == 0 else ''
    vis = inferencer.visualize([item], [pred], img_out_dir=save)
    res = inferencer.postprocess([pred], vis, pred_out_dir=save)
    res.update(blocks=len(blocks), stage_times=times, stage_spans=spans,
               world_size=world, rank=rank, largest_block=largest)
    return res
