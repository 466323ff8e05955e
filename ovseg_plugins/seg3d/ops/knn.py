"""Exact k-nearest neighbours of a 3D point set in near-linear time.

The result is EXACT: identical to a brute-force search on the float32
coordinates (squared distances accumulated per axis in float32) with ties
broken by the lower index. Two ways get there:

- **k-d tree** (CPU tensors, the default): scipy's ``cKDTree`` (C, threads
  as torch's) proposes the ``k + margin`` nearest points of each query in
  float64; their float32 distances are recomputed exactly as above and
  ordered by (distance, index). A row is certified when every point outside
  the candidates is provably farther than its k-th float32 distance (the
  last candidate's float64 distance, less a float32 rounding bound, exceeds
  it); the few rows that are not (many points tied at the k-th distance,
  e.g. on a voxel grid) go to the grid search.
- **grid search** (torch, any device): points are hashed into cubic cells
  sized from the scene's density; each query measures distances only to the
  points of the 3×3×3 cells around its own cell. A query whose k-th
  distance is not provably inside that block (every point outside is then
  strictly farther) is redone with cells twice as large; the work is
  ``O(N · candidates)`` instead of ``O(N²)`` and the memory is bounded by
  the batch budget.
"""
from contextlib import contextmanager
from typing import Optional

import torch

#: the k-d tree path on CPU (False: the grid search only, e.g. to compare)
_USE_TREE = True


@contextmanager
def use_tree(enabled: bool):
    """``with use_tree(False): ...`` runs :func:`knn_indices` with the grid
    search only (the same neighbours, slower; for comparisons)."""
    global _USE_TREE
    old, _USE_TREE = _USE_TREE, bool(enabled)
    try:
        yield
    finally:
        _USE_TREE = old


def _kth_distance_quantile(coords: torch.Tensor, k: int, q: float = 0.9,
                           samples: int = 256) -> float:
    """``q``-quantile of the k-th neighbour distance over a deterministic
    sample of queries (brute force on ``samples × N``, in slices)."""
    N = len(coords)
    step = max(1, N // samples)
    qi = torch.arange(0, N, step, device=coords.device)[:samples]
    kth = []
    for s in range(0, len(qi), 32):
        d2 = ((coords[qi[s:s + 32]][:, None] - coords[None])**2).sum(-1)
        # k + 1: the query itself is at distance 0
        kth.append(d2.topk(k + 1, dim=1, largest=False).values[:, -1])
    r = torch.cat(kth).sqrt().quantile(q).item()
    return max(r, 1e-6)


def _select_k(d2: torch.Tensor, idx: torch.Tensor, k: int):
    """The k smallest of each row of ``(Q, M)`` distances, ties broken by
    the lower global index ``idx (Q, M)``, ordered by (distance, index) —
    two ``topk`` passes and a k-wide sort instead of a full sort.

    Returns:
        tuple: global indices ``(Q, k)`` and the k-th distances ``(Q,)``.
    """
    kth = d2.topk(k, dim=1, largest=False).values[:, -1:]  # (Q, 1)
    big = int(idx.max()) + 1
    key = idx + torch.where(d2 < kth, 0, torch.where(d2 == kth, big,
                                                     2 * big))
    sel = key.topk(k, dim=1, largest=False).indices
    gi = idx.gather(1, sel)
    gi, o = gi.sort(1)
    sd = d2.gather(1, sel).gather(1, o)
    order = torch.sort(sd, dim=1, stable=True).indices
    return gi.gather(1, order), kth[:, 0]


def spatial_order(coords: torch.Tensor, bits: int = 10) -> torch.Tensor:
    """Permutation along a Morton (Z-order) curve of ``(N, 3)`` points
    (``2^bits`` levels per axis over the bounding box): neighbours end up
    close in memory, which makes neighbour gathers cache-friendly."""
    c = coords.float()
    lo = c.min(0).values
    ext = (c.max(0).values - lo).max().clamp(min=1e-12)
    g = ((c - lo) / ext * ((1 << bits) - 1)).long()
    code = torch.zeros(len(c), dtype=torch.long, device=c.device)
    for b in range(bits):
        for a in range(3):
            code |= ((g[:, a] >> b) & 1) << (3 * b + a)
    return torch.argsort(code, stable=True)


def canonical_order(coords: torch.Tensor) -> torch.Tensor:
    """Permutation sorting ``(N, 3)`` points lexicographically by
    ``(x, y, z)`` (stable: exact duplicates keep their input order).

    It depends on the point set only, not on the order the points come in:
    computing kNN in this order (ties broken by the lower index) breaks
    ties at the k-th distance by the lower ``(x, y, z)`` whatever the
    caller's or the processing (e.g. Morton) order."""
    perm = torch.argsort(coords[:, 2], stable=True)
    perm = perm[torch.argsort(coords[perm, 1], stable=True)]
    return perm[torch.argsort(coords[perm, 0], stable=True)]


def _ranges(start: torch.Tensor, count: torch.Tensor) -> torch.Tensor:
    """Concatenation of ``arange(start[i], start[i] + count[i])``."""
    total = int(count.sum())
    if total == 0:
        return start.new_zeros(0)
    base = torch.repeat_interleave(start - (torch.cumsum(count, 0) - count),
                                   count)
    return base + torch.arange(total, device=start.device)


_OFFSETS = torch.stack(torch.meshgrid(*[torch.arange(-1, 2)] * 3,
                                      indexing='ij'), -1).reshape(-1, 3)


def _grid_knn(q_idx: torch.Tensor, coords: torch.Tensor, k: int,
              cell: float, budget: int):
    """kNN of the queries among the points of the 3×3×3 cells around each
    query's cell (cells of size ``cell``).

    Returns:
        tuple: ``(Q, k)`` indices (valid where certified) and the ``(Q,)``
        bool certificate: the k-th distance is within the block, so every
        point outside is strictly farther.
    """
    dev = coords.device
    N = len(coords)
    origin = coords.min(0).values
    g = torch.floor((coords - origin) / cell).long() + 1  # >= 1
    dims = g.max(0).values + 2
    key = (g[:, 0] * dims[1] + g[:, 1]) * dims[2] + g[:, 2]
    perm = torch.argsort(key, stable=True)  # points by cell, then index
    skey = key[perm]
    ukey, ucount = torch.unique_consecutive(skey, return_counts=True)
    ustart = torch.cumsum(ucount, 0) - ucount
    # the query cells and their 27 neighbours' point ranges
    qcell = torch.searchsorted(ukey, key[q_idx])  # (Q,) cell id
    cells, q_of_cell = torch.unique(qcell, return_inverse=True)
    gc = g[perm[ustart[cells]]]  # (U, 3) cell coords
    nb = gc[:, None, :] + _OFFSETS.to(dev)[None]  # (U, 27, 3)
    nkey = (nb[..., 0] * dims[1] + nb[..., 1]) * dims[2] + nb[..., 2]
    pos = torch.searchsorted(ukey, nkey).clamp(max=len(ukey) - 1)
    found = ukey[pos] == nkey
    nstart = torch.where(found, ustart[pos], 0)
    ncount = torch.where(found, ucount[pos], 0)
    M = ncount.sum(1)  # (U,) candidates per query cell
    flat = perm[_ranges(nstart.reshape(-1), ncount.reshape(-1))]
    ptr = torch.cumsum(M, 0) - M
    out = torch.zeros(len(q_idx), k, dtype=torch.long, device=dev)
    exact = torch.zeros(len(q_idx), dtype=torch.bool, device=dev)
    # padding column N sits at +inf: never selected
    cpad_t = torch.cat([coords, coords.new_full((1, 3), float('inf'))]).t(
    ).contiguous()
    # queries ordered by their cell's candidate count, batched by budget
    qM = M[q_of_cell]
    order = torch.argsort(qM, stable=True)
    s = 0
    while s < len(order):
        m = int(qM[order[min(len(order) - 1, s)]])
        e = s + 1
        # grow the batch while (rows × widest row) stays in budget
        e = min(len(order), s + max(1, budget // max(m, 1)))
        while e > s + 1 and int(qM[order[e - 1]]) * (e - s) > budget:
            e = s + max(1, (e - s) // 2)
        rows = order[s:e]
        s = e
        width = int(qM[rows].max())
        if width <= k:
            continue  # too few candidates: not certified
        qi = q_idx[rows]
        u = q_of_cell[rows]
        j = torch.arange(width, device=dev)
        valid = j[None] < M[u][:, None]
        cand = flat[(ptr[u][:, None] + j[None]).clamp(max=max(len(flat) - 1,
                                                              0))]
        cand = torch.where(valid, cand, N)  # N: padding
        # per-axis accumulation: no (Q, M, 3) temporaries
        q = coords[qi]
        d2 = (cpad_t[0][cand] - q[:, 0:1]).square_()
        d2 += (cpad_t[1][cand] - q[:, 1:2]).square_()
        d2 += (cpad_t[2][cand] - q[:, 2:3]).square_()
        d2.masked_fill_(cand == qi[:, None], float('inf'))  # no self
        enough = (valid.sum(1) - 1) >= k
        sel, kd2 = _select_k(d2, cand, k)
        lo = (gc[u] - 2).to(coords.dtype) * cell + origin  # block corner
        hi = lo + 3 * cell
        wall = torch.minimum(q - lo, hi - q).min(1).values
        ok = enough & (kd2 <= wall**2)
        out[rows[ok]] = sel[ok]
        exact[rows[ok]] = True
    return out, exact


def _tree_knn(c: torch.Tensor, q_idx: torch.Tensor, k: int,
              margin: int = 32, batch: int = 8192):
    """kNN of the queries through scipy's k-d tree, certified exact (see
    the module docstring).

    Returns:
        tuple: ``(Q, k)`` indices (valid where certified) and the ``(Q,)``
        bool certificate.
    """
    import numpy as np
    from scipy.spatial import cKDTree
    cf = c.detach().cpu().numpy()  # float32
    N = len(cf)
    tree = cKDTree(cf.astype(np.float64))
    kk = min(k + margin + 1, N)  # + 1: the query itself
    q_all = q_idx.cpu().numpy()
    out = np.zeros((len(q_all), k), np.int64)
    exact = np.zeros(len(q_all), bool)
    workers = max(1, torch.get_num_threads())
    for s in range(0, len(q_all), batch):
        q = q_all[s:s + batch]
        d, idx = tree.query(cf[q].astype(np.float64), k=kk,
                            workers=workers)
        d, idx = d.reshape(len(q), kk), idx.reshape(len(q), kk)
        # the float32 squared distances of the grid search / brute force
        qf = cf[q]
        d2 = np.square(cf[idx, 0] - qf[:, 0:1])
        d2 += np.square(cf[idx, 1] - qf[:, 1:2])
        d2 += np.square(cf[idx, 2] - qf[:, 2:3])
        d2[idx == q[:, None]] = np.inf  # no self
        # order by (distance, index)
        o = np.argsort(idx, axis=1, kind='stable')
        idx, d2 = np.take_along_axis(idx, o, 1), np.take_along_axis(d2, o, 1)
        o = np.argsort(d2, axis=1, kind='stable')[:, :k]
        sel = np.take_along_axis(idx, o, 1)
        kth = np.take_along_axis(d2, o[:, -1:], 1)[:, 0]
        # points outside the candidates are at float64 distance >= d[:, -1];
        # their float32 squared distance is within 1e-5 (relative) of it
        ok = np.isfinite(kth) & (d[:, -1]**2 * (1 - 1e-5) > kth)
        if kk == N:  # every point is a candidate
            ok = np.isfinite(kth)
        out[s:s + batch] = sel
        exact[s:s + batch] = ok
    return (torch.from_numpy(out).to(c.device),
            torch.from_numpy(exact).to(c.device))


def knn_indices(coords: torch.Tensor, k: int = 96,
                chunk: int = 256,
                query: Optional[torch.Tensor] = None) -> torch.Tensor:
    """Exact k nearest neighbours (self excluded) of ``(N, 3)`` points.

    Identical to a brute-force search with ties broken by the lower index,
    but near-linear: see the module docstring.

    Args:
        coords (Tensor): ``(N, 3)`` float coordinates (metres, voxels...).
        k (int): Neighbours. Defaults to 96.
        chunk (int): Memory budget: ``chunk · 4096`` query-candidate
            distances per step.
        query (Tensor, optional): ``(Q,)`` indices of the points whose
            neighbours are wanted (default: all).

    Returns:
        Tensor: ``(N or Q, min(k, N - 1))`` long.
    """
    N = coords.shape[0]
    if N < 2:
        raise ValueError(f'kNN needs at least 2 points, got {N}')
    if coords.ndim != 2 or coords.shape[1] != 3:
        raise ValueError(f'kNN expects (N, 3) coordinates, got '
                         f'{tuple(coords.shape)}')
    k = min(k, N - 1)
    c = coords.float()
    if not torch.isfinite(c).all():
        raise ValueError('kNN coordinates contain NaN/inf')
    all_q = torch.arange(N, device=c.device) if query is None else \
        query.to(c.device).long()
    out = torch.empty(N, k, dtype=torch.long, device=c.device)
    todo = all_q
    if c.device.type == 'cpu' and _USE_TREE:
        nbr, exact = _tree_knn(c, todo, k)
        out[todo[exact]] = nbr[exact]
        todo = todo[~exact]
        if not len(todo):
            return out if query is None else out[all_q]
    # a block margin of at least one cell certifies a query whose k-th
    # neighbour lies within one cell: size cells from the sampled k-th
    # distances so that most queries pass on the first round
    cell = 1.2 * _kth_distance_quantile(c, k)
    extent = float((c.max(0).values - c.min(0).values).max())
    while len(todo):
        if cell > extent:  # one block holds every point: brute force
            nbr, exact = _grid_knn(todo, c, k, 2 * extent + 1, chunk * 4096)
            assert bool(exact.all())
        else:
            nbr, exact = _grid_knn(todo, c, k, cell, chunk * 4096)
        out[todo[exact]] = nbr[exact]
        todo = todo[~exact]
        cell *= 2
    return out if query is None else out[all_q]


def nearest_source(query: torch.Tensor, source: torch.Tensor,
                   chunk: int = 4096) -> torch.Tensor:
    """Index of the nearest ``source (M, 3)`` point of every ``query (N, 3)``
    point (chunked: memory ``chunk × M``). Large problems (``N · M >
    5e7``) use scipy's exact k-d tree (``O((N + M) log M)`` instead of
    ``O(N · M)``; among equidistant sources any may be returned)."""
    if len(query) * len(source) > 5e7 and len(source):
        from scipy.spatial import cKDTree
        tree = cKDTree(source.detach().cpu().double().numpy())
        _, idx = tree.query(query.detach().cpu().double().numpy(), k=1)
        return torch.from_numpy(idx).long().to(query.device)
    out = []
    for s in range(0, len(query), chunk):
        out.append(torch.cdist(query[s:s + chunk].float(),
                               source.float()).argmin(1))
    return torch.cat(out)
