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
fixed rule. Only the ``(N,)`` labels, scores and seen flags of the scene
are held; the features live as long as one block.

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
import time
from typing import Dict, List, Optional, Tuple

import numpy as np
from mmengine.logging import print_log

from ovseg_plugins.seg3d.io.cloud import PointCloud
from .scene_inputs import read_input

__all__ = ['plan_blocks', 'segment_in_blocks', 'init_block_processes']


def plan_blocks(xyz: np.ndarray, block_size: float, overlap: float
                ) -> Tuple[np.ndarray, List[Dict]]:
    """Tiles of the scene and the points each one runs on.

    The x-y extent is cut into ``round(extent / block_size)`` (at least
    one) equal tiles per axis: 0.75 to 1.5 ``block_size`` long once there
    are two or more, and no thin sliver is left at a border.

    Args:
        xyz (ndarray): ``(N, 3)`` coordinates (metres).
        block_size (float): Tile side in x-y (metres, about).
        overlap (float): Context margin around each tile (metres, at most
            ``block_size / 2``).

    Returns:
        tuple: ``owner (N,)`` the block index of each point, and per
        non-empty tile (row-major in y, then x) ``dict(index, tile (ix, iy),
        centre (2,), size (2,), points (M,) indices of its points and context, sorted,
        owned (M,) bool)``.
    """
    if not block_size > 0:
        raise ValueError(f'block_size must be > 0 metres, got {block_size}')
    if not 0 <= overlap <= block_size / 2:
        raise ValueError(f'overlap must be within [0, block_size / 2 = '
                         f'{block_size / 2}] metres, got {overlap}')
    xy = np.asarray(xyz, np.float64)[:, :2]
    lo = xy.min(0)
    ext = xy.max(0) - lo
    # equal tiles of about block_size over the extent (no thin slivers)
    nx, ny = np.maximum(np.floor(ext / block_size + 0.5).astype(np.int64),
                        1)
    size = np.where(ext > 0, ext / [nx, ny], block_size)
    ij = np.minimum(np.floor((xy - lo) / size).astype(np.int64),
                    [nx - 1, ny - 1])
    tile = ij[:, 1] * nx + ij[:, 0]
    order = np.argsort(tile, kind='stable')
    starts = np.searchsorted(tile[order], np.arange(nx * ny + 1))
    occupied = np.nonzero(np.diff(starts))[0]
    owner = np.full(len(xy), -1, np.int64)
    blocks = []
    for b, t in enumerate(occupied.tolist()):
        ix, iy = t % nx, t // nx
        owner[order[starts[t]:starts[t + 1]]] = b
        # overlap <= 0.5 block <= tile: the context lies in the 3 x 3 tiles
        near = [jy * nx + jx for jy in range(max(iy - 1, 0), min(iy + 2, ny))
                for jx in range(max(ix - 1, 0), min(ix + 2, nx))]
        cand = np.sort(np.concatenate([order[starts[u]:starts[u + 1]]
                                       for u in near]))
        t_lo = lo + size * np.array([ix, iy])
        p = xy[cand]
        inside = ((p >= t_lo - overlap) & (p <= t_lo + size + overlap)
                  ).all(1)
        blocks.append(dict(index=b, tile=(int(ix), int(iy)),
                           centre=t_lo + size / 2, size=size,
                           points=cand[inside]))
    for blk in blocks:
        blk['owned'] = owner[blk['points']] == blk['index']
    return owner, blocks


def _sub_cloud(cloud: PointCloud, idx: np.ndarray, b: int) -> PointCloud:
    """The points ``idx`` of ``cloud`` as a cloud of its own (same local
    origin, so views and coordinates stay in the scene's frame)."""
    return PointCloud(cloud.xyz[idx], cloud.rgb[idx], cloud.has_color,
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
                      launcher: str = 'none') -> dict:
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

    Returns:
        dict: The inferencer's result for this scene (``predictions``:
        ``pts_semantic_mask``, ``pts_scores``, ``pts_seen``, ``classes``,
        ``files``) plus ``blocks`` (count), ``stage_times`` (seconds per
        stage summed over this process's blocks), ``world_size`` and
        ``rank``.
    """
    import torch
    data = read_input(item, frames, load_dim, images, undistort)
    cloud = data['cloud']
    owner, blocks = plan_blocks(cloud.xyz, block_size, overlap)
    rank, world = init_block_processes(launcher)
    N = len(cloud)
    labels = np.full(N, -1, np.int64)
    scores = np.full(N, -1., np.float32)
    seen = np.zeros(N, np.uint8)
    times: Dict[str, float] = {}
    for blk in blocks[rank::world]:
        t0 = time.perf_counter()
        idx, own = blk['points'], blk['owned']
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
        print_log(f'block {blk["index"] + 1}/{len(blocks)} (tile '
                  f'{blk["tile"]}): {int(own.sum())} points, '
                  f'{len(idx)} with context, '
                  f'{time.perf_counter() - t0:.1f} s', logger='current')
    if world > 1:
        import torch.distributed as dist
        for arr in (labels, scores, seen):
            t = torch.from_numpy(arr)
            dist.all_reduce(t, op=dist.ReduceOp.MAX)
    if (labels < 0).any():
        raise RuntimeError(f'{int((labels < 0).sum())} points got no block '
                           '(internal error in the block plan)')
    pred = dict(name=data['name'], cloud=cloud, pts_semantic_mask=labels,
                pts_scores=scores, pts_seen=seen.astype(bool),
                classes=list(inferencer.vocabulary.class_names))
    save = out_dir if rank == 0 else ''
    vis = inferencer.visualize([item], [pred], img_out_dir=save)
    res = inferencer.postprocess([pred], vis, pred_out_dir=save)
    res.update(blocks=len(blocks), stage_times=times, world_size=world,
               rank=rank)
    return res
