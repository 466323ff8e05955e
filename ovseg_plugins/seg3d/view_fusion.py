"""Multi-view fusion of 2D features onto points (GeoPurify stage A).

The consensus-weighted top-k fusion of the GeoPurify authors as tensor
operations over (view, point) observations: no per-point Python
dictionaries, never ``views × points × D`` in memory. The whole lifting
(frames -> projection -> visibility -> fusion) is
:func:`ovseg_plugins.seg3d.lifting.lift_views`.
"""
from typing import Optional, Tuple

import torch
import torch.nn.functional as F

from .ops.knn import nearest_source

def sample_feature_map(feat_map: torch.Tensor, pixels: torch.Tensor,
                       visible: torch.Tensor,
                       image_hw: Tuple[int, int]) -> torch.Tensor:
    """Nearest-neighbour sample of a ``(D, h, w)`` map (any resolution) at
    the image pixels of the visible points; invisible rows are zero.

    Returns:
        Tensor: ``(N, D)``.
    """
    out = feat_map.new_zeros(pixels.shape[0], feat_map.shape[0])
    if visible.any():
        out[visible] = sample_visible(feat_map, pixels[visible], image_hw)
    return out


def map_cells(pixels: torch.Tensor, map_hw: Tuple[int, int],
              image_hw: Tuple[int, int]) -> torch.Tensor:
    """Flat ``v·w + u`` cell of an ``(h, w)`` feature map (nearest; the map
    may be coarser than the image) of each ``(M, 2)`` image pixel."""
    h, w = map_hw
    H, W = image_hw
    u = (pixels[:, 0].float() * w / W).long().clamp_(0, w - 1)
    v = (pixels[:, 1].float() * h / H).long().clamp_(0, h - 1)
    return v * w + u


def sample_visible(feat_map: torch.Tensor, pixels: torch.Tensor,
                   image_hw: Tuple[int, int]) -> torch.Tensor:
    """Rows of a ``(D, h, w)`` map at ``(M, 2)`` image pixels ``(u, v)``
    (nearest, the map may be coarser than the image) -> ``(M, D)``."""
    D, h, w = feat_map.shape
    flat = feat_map.reshape(D, h * w)
    lin = map_cells(pixels, (h, w), image_hw)
    # index_select is several times faster than advanced indexing here
    if len(lin) * 4 < h * w:  # few points: gather columns directly
        return flat.index_select(1, lin).t().contiguous()
    # many points: one transpose copy, then contiguous row gathers
    return flat.t().contiguous().index_select(0, lin)


# observation_logits' inverse norm of a zero row (norm clamped to 1e-12)
_ZERO_INV_NORM = float(torch.tensor(1e-12).reciprocal())


def observation_logits(feats: torch.Tensor, text: torch.Tensor,
                       logit_scale: float = 100.
                       ) -> Tuple[torch.Tensor, torch.Tensor]:
    """``ℓ = s · f̂ · t̂ᵀ`` of ``(E, D)`` observations against ``(C, D)``
    text, without materialising the normalised features. ``feats`` may be
    a transposed view (e.g. ``map.reshape(D, -1).t()``): nothing is copied
    into row layout.

    Returns:
        tuple: logits ``(E, C)`` and the inverse feature norms ``(E,)``.
    """
    f = feats.float()
    inv_norm = (f * f).sum(1).sqrt_().clamp_(min=1e-12).reciprocal_()
    t = F.normalize(text.float().to(feats.device), dim=-1)
    logits = (f @ t.t()).mul_(inv_norm[:, None] * logit_scale)
    return logits, inv_norm


def topk_consensus_weights(point_idx: torch.Tensor, logits: torch.Tensor,
                           num_points: int, k: int = 3
                           ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Fusion weight of every (point, view) observation.

    Per point, over its observations: consensus class ``c* = argmax mean ℓ``,
    agreement ``ℓ[c*]``, the top ``min(M, k)`` observations get
    ``softmax(agreement)`` weights, the others 0 (ties by observation
    order, i.e. view order).

    Args:
        point_idx (Tensor): ``(E,)`` long.
        logits (Tensor): ``(E, C)``.
        num_points (int): N.

    Returns:
        tuple: weights ``(E,)`` and ``seen (N,)`` bool.
    """
    E = len(point_idx)
    dev = logits.device
    count = torch.zeros(num_points, dtype=torch.long, device=dev)
    count.index_add_(0, point_idx, torch.ones_like(point_idx))
    seen = count > 0
    weights = torch.zeros(E, device=dev)
    if E == 0:
        return weights, seen
    mean = torch.zeros(num_points, logits.shape[1], device=dev).index_add_(
        0, point_idx, logits)
    c_star = mean.argmax(1)  # (N,) (the count divides every class alike)
    agree = logits.gather(1, c_star[point_idx][:, None])[:, 0]  # (E,)
    # rank observations within their point by agreement (desc), stable
    order = torch.argsort(-agree, stable=True)
    order = order[torch.argsort(point_idx[order], stable=True)]
    first = torch.zeros(num_points, dtype=torch.long, device=dev)
    first[1:] = torch.cumsum(count, 0)[:-1]
    rank = torch.arange(E, device=dev) - first[point_idx[order]]
    keep = order[rank < k]
    pk, ak = point_idx[keep], agree[keep]
    amax = torch.full((num_points, ), -float('inf'), device=dev)
    amax = amax.scatter_reduce(0, pk, ak, reduce='amax')
    ex = torch.exp(ak - amax[pk])
    den = torch.zeros(num_points, device=dev).index_add_(0, pk, ex)
    weights[keep] = ex / den[pk]
    return weights, seen


def consensus_topk_fusion_sparse(point_idx: torch.Tensor,
                                 feats: torch.Tensor, text: torch.Tensor,
                                 num_points: int, logit_scale: float = 100.,
                                 k: int = 3
                                 ) -> Tuple[torch.Tensor, torch.Tensor]:
    """Consensus-weighted top-k fusion over (point, view) observations.

    Only the E observations where a point is visible are stored (memory
    ``O(E·D)``, never ``views × points × D``). Per observation the feature
    is L2-normalised and scored ``ℓ = s · f · tᵀ``; see
    :func:`topk_consensus_weights` for the weights. The fused feature is
    ``Σ w · f̂`` (not re-normalised, as upstream).

    Args:
        point_idx (Tensor): ``(E,)`` long, the point of each observation.
        feats (Tensor): ``(E, D)`` per-observation features.
        text (Tensor): ``(C, D)`` class embeddings.
        num_points (int): N.

    Returns:
        tuple: fused ``(N, D)`` float32 (zeros where never seen) and
        ``seen (N,)`` bool.
    """
    logits, inv_norm = observation_logits(feats, text, logit_scale)
    w, seen = topk_consensus_weights(point_idx, logits, num_points, k)
    fused = torch.zeros(num_points, feats.shape[1], device=feats.device)
    fused.index_add_(0, point_idx, feats.float() * (w * inv_norm)[:, None])
    return fused, seen


def consensus_topk_fusion(view_feats: torch.Tensor, visible: torch.Tensor,
                          text: torch.Tensor, logit_scale: float = 100.,
                          k: int = 3) -> Tuple[torch.Tensor, torch.Tensor]:
    """Dense-input form of :func:`consensus_topk_fusion_sparse`.

    Args:
        view_feats (Tensor): ``(V, N, D)``.
        visible (Tensor): ``(V, N)`` bool.
        text (Tensor): ``(C, D)`` class embeddings.

    Returns:
        tuple: fused ``(N, D)`` (zeros where never seen) and ``seen (N,)``.
    """
    # view-major order of the observations = ties broken by view order
    v_idx, p_idx = visible.nonzero(as_tuple=True)
    return consensus_topk_fusion_sparse(p_idx, view_feats[v_idx, p_idx],
                                        text, visible.shape[1], logit_scale,
                                        k)


class ViewFusionAccumulator:
    """Streams posed views into the consensus top-k fusion.

    ``add(pixels, visible, feat_map, image_hw)`` keeps, per view, only the
    feature-map cells that some visible point falls in (``U <= min(visible,
    h·w)`` rows, optionally fp16) plus one cell index per observation, and
    scores those cells against the text at once. Points that see the same
    cell share its row, so neither the memory nor the text scoring grows
    with the number of observations ``E``. ``fuse()`` ranks the
    observations and accumulates only the kept ones (at most ``k`` per
    point). A scene with hundreds of views never materialises
    ``views × points × D``.

    Two per-view rules follow the GeoPurify authors' lifting code:

    - **small views**: a view with fewer than ``min_visible_points`` (or,
      when set, more than ``max_visible_points``) visible points is skipped
      (authors: fewer than 400 skipped; more than 65000 skipped only while
      training, no upper cap at evaluation);
    - **in-view fill**: a visible point whose map cell holds no feature
      (a zero row, norm <= 1e-12: masked or region-pooled 2D features
      such as X-Decoder / OpenSeg) takes the cell of the nearest (3D)
      visible point of the same view whose cell has one. A view where no
      visible point has a feature is skipped.

    Args:
        num_points (int): N.
        text (Tensor): ``(C, D)`` class embeddings.
        logit_scale (float): Defaults to 100.
        k (int): Views fused per point. Defaults to 3.
        store_dtype (torch.dtype): Storage of the kept map rows. Defaults
            to fp32.
        xyz (Tensor, optional): ``(N, 3)`` point coordinates, needed by the
            in-view fill when a view has uncovered visible points.
        fill_uncovered (bool): In-view fill (authors' rule). Defaults to
            True; False keeps uncovered points as zero-feature
            observations.
        min_visible_points (int): Skip views with fewer visible points.
            Defaults to 400 (authors'); 0 keeps every view.
        max_visible_points (int, optional): Skip views with more. Defaults
            to None (no cap, as the authors' evaluation).
    """

    def __init__(self, num_points: int, text: torch.Tensor,
                 logit_scale: float = 100., k: int = 3,
                 store_dtype: torch.dtype = torch.float32,
                 xyz: Optional[torch.Tensor] = None,
                 fill_uncovered: bool = True,
                 min_visible_points: int = 400,
                 max_visible_points: Optional[int] = None):
        self.num_points = num_points
        self.text = text
        self.logit_scale = logit_scale
        self.k = k
        self.store_dtype = store_dtype
        if xyz is not None and tuple(xyz.shape) != (num_points, 3):
            raise ValueError(f'xyz has shape {tuple(xyz.shape)}, expected '
                             f'({num_points}, 3)')
        self.xyz = xyz
        self.fill_uncovered = fill_uncovered
        self.min_visible_points = int(min_visible_points)
        self.max_visible_points = max_visible_points
        # skipped views: 'few' / 'many' visible points, 'empty' (no feature)
        self.skipped = {'few': 0, 'many': 0, 'empty': 0}
        self.filled = 0  # observations given a neighbour's cell
        # per view: observed points (E_v,), their cell row (E_v,), the
        # cell rows (U_v, D) (a transposed view of the map when it is kept
        # whole), cell logits (U_v, C), cell inverse norms (U_v,)
        self._idx, self._row, self._feats, self._logits, self._inv = \
            [], [], [], [], []
        self._n_views = 0

    @property
    def num_views(self) -> int:
        """Views added so far."""
        return self._n_views

    def accepts(self, num_visible: int) -> bool:
        """The view rule on the number of visible points (see the class
        doc): False counts the view as skipped. :meth:`add` applies it;
        call it first to skip computing the features of a small view."""
        if num_visible < max(self.min_visible_points, 1):
            self.skipped['few'] += 1
            return False
        if self.max_visible_points is not None and \
                num_visible > self.max_visible_points:
            self.skipped['many'] += 1
            return False
        return True

    def add(self, pixels: torch.Tensor, visible: torch.Tensor,
            feat_map: torch.Tensor, image_hw: Tuple[int, int]) -> int:
        """Add one view (``pixels (N, 2)``, ``visible (N,)``, ``feat_map
        (D, h, w)``); returns its number of visible points (0 when the view
        is skipped, see the class doc).

        When most map cells are seen and ``feat_map`` is already
        ``store_dtype``, it is kept by reference (no copy): do not modify it
        in place before :meth:`fuse`."""
        if feat_map.shape[0] != self.text.shape[1]:
            raise ValueError(
                f'feature map has {feat_map.shape[0]} channels but the '
                f'text embeddings have {self.text.shape[1]}: use text '
                'embeddings from the model that produced the features.')
        D, h, w = feat_map.shape
        idx = visible.nonzero(as_tuple=True)[0]
        if not self.accepts(len(idx)):
            return 0
        lin = map_cells(pixels.index_select(0, idx), (h, w), image_hw)
        # the distinct cells (sorted) and each observation's row among them
        used = torch.zeros(h * w, dtype=torch.bool)
        used[lin] = True
        cells = used.nonzero(as_tuple=True)[0]
        flat = feat_map.reshape(D, h * w)
        if len(cells) * 4 < h * w:  # few cells: copy their (U, D) rows
            rows = flat.index_select(1, cells).t().contiguous()
            row = torch.cumsum(used, 0).sub_(1).index_select(0, lin)
        else:  # most cells are seen: the whole map, as a (h·w, D) view
            rows = flat.t()
            row = lin
        logits, inv = observation_logits(rows, self.text, self.logit_scale)
        if self.fill_uncovered:
            # a cell without a feature has norm 0, i.e. the clamped inverse
            # norm (no extra pass over the map)
            row = self._fill_uncovered(idx, row, inv < _ZERO_INV_NORM)
            if row is None:
                self.skipped['empty'] += 1
                return 0
        f = rows.to(self.store_dtype)  # no copy when already store_dtype
        self._idx.append(idx)
        self._row.append(row)
        self._feats.append(f)
        self._logits.append(logits)
        self._inv.append(inv)
        self._n_views += 1
        return len(idx)

    def _fill_uncovered(self, idx: torch.Tensor, row: torch.Tensor,
                        has_feature: torch.Tensor) -> Optional[torch.Tensor]:
        """Cell rows ``row (E,)`` of the visible points ``idx (E,)`` with
        every featureless one (``has_feature (U,)`` False: a zero row)
        replaced by the row of the nearest visible point that has a
        feature; None when no visible point has one."""
        covered = has_feature.index_select(0, row)  # (E,)
        if bool(covered.all()):
            return row
        if not bool(covered.any()):
            return None
        if self.xyz is None:
            raise ValueError(
                'the feature map has visible pixels without a feature (all-'
                'zero cells): pass xyz=(N, 3) to ViewFusionAccumulator for '
                "the authors' in-view fill, or fill_uncovered=False")
        cov = covered.nonzero(as_tuple=True)[0]
        unc = (~covered).nonzero(as_tuple=True)[0]
        near = nearest_source(self.xyz.index_select(0, idx[unc]),
                              self.xyz.index_select(0, idx[cov]))
        row = row.clone()
        row[unc] = row[cov[near]]
        self.filled += len(unc)
        return row

    def fuse(self, compact: bool = False
             ) -> Tuple[torch.Tensor, torch.Tensor]:
        """Fuse the added views (call once: it consumes them).

        Args:
            compact (bool): Return only the seen points' rows.

        Returns:
            tuple: fused ``(N, D)`` float32 (zeros where never seen) and
            ``seen (N,)`` bool; with ``compact``, fused ``(S, D)`` for the
            points ``seen.nonzero()`` in index order.
        """
        if not self._idx:
            raise ValueError(
                'no views were added to the fusion (or fuse() was already '
                f'called); views skipped: {self.skipped["few"]} with fewer '
                f'than {self.min_visible_points} visible points, '
                f'{self.skipped["many"]} with more than '
                f'{self.max_visible_points}, {self.skipped["empty"]} without '
                'features (lower min_visible_points to keep small views)')
        obs_logits = torch.cat([lg.index_select(0, r)
                                for lg, r in zip(self._logits, self._row)])
        w, seen = topk_consensus_weights(torch.cat(self._idx), obs_logits,
                                         self.num_points, self.k)
        if compact:
            dest = torch.cumsum(seen, 0).sub_(1)
            fused = torch.zeros(int(seen.sum()), self.text.shape[1])
        else:
            dest = None
            fused = torch.zeros(self.num_points, self.text.shape[1])
        s = 0
        for idx, row, f, inv in zip(self._idx, self._row, self._feats,
                                    self._inv):
            wv = w[s:s + len(idx)]
            s += len(idx)
            keep = (wv > 0).nonzero(as_tuple=True)[0]  # <= k per point
            r = row.index_select(0, keep)
            # a whole map: one transposed copy, then contiguous row gathers
            g = f.contiguous().index_select(0, r).float()
            g.mul_((wv.index_select(0, keep) * inv.index_select(0, r))[:,
                                                                      None])
            p = idx.index_select(0, keep)
            fused.index_add_(0, p if dest is None else dest.index_select(
                0, p), g)
        self._idx, self._row, self._feats, self._logits, self._inv = \
            [], [], [], [], []
        return fused, seen


def fill_unseen(xyz: torch.Tensor, fused: torch.Tensor,
                seen: torch.Tensor) -> torch.Tensor:
    """Give every unseen point the feature of its nearest seen point.

    Args:
        xyz (Tensor): ``(N, 3)``.
        fused (Tensor): ``(N, D)`` (rows of unseen points are ignored) or
            the compact ``(S, D)`` rows of the seen points in index order
            (``ViewFusionAccumulator.fuse(compact=True)``).
        seen (Tensor): ``(N,)`` bool.

    Returns:
        Tensor: ``(N, D)``; the input itself when it is ``(N, D)`` and
        every point (or none) was seen.
    """
    n_seen = int(seen.sum())
    compact = len(fused) == n_seen and n_seen != len(seen)
    if len(seen) and n_seen == 0 and len(fused) == 0:
        raise ValueError('no point was seen by any view: nothing to fill '
                         'the unseen points from')
    if not compact and len(fused) != len(seen):
        raise ValueError(f'fused has {len(fused)} rows: expected {len(seen)} '
                         f'(all points) or {n_seen} (the seen points)')
    if not compact and n_seen in (0, len(seen)):
        return fused  # nothing to fill, or nothing to fill from
    if not compact:
        fused = fused[seen]
    # one gather: seen points read their own row, unseen the nearest seen
    src = torch.cumsum(seen, 0).sub_(1)
    q = (~seen).nonzero(as_tuple=True)[0]
    src[q] = nearest_source(xyz[q], xyz[seen])
    return fused.index_select(0, src)
