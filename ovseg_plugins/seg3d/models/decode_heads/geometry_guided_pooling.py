"""GeoPurify's geometry-guided pooling: K-sparse affinity, never N×N.

:class:`GeometryGuidedPooling` is the registered module (the one place of
its settings ``knn``, ``sharpen``, ``iterations``, ``chunk``) used by
:class:`~.affinity_purify_head.AffinityPurifyHead`; the functions below are
its steps.
"""
import warnings
from typing import Optional

import torch
import torch.nn.functional as F
from mmdet3d.registry import MODELS
from mmengine.model import BaseModule

from ovseg_plugins.utils.validation import check_int, check_number

from ...ops.ell_spmm import ell_spmm, ell_spmm_available
from ...ops.knn import (canonical_order, knn_indices, spatial_order)

__all__ = ['knn_indices', 'affinity_weights', 'geometry_guided_pooling',
           'affinity_matrix', 'GeometryGuidedPooling']


def affinity_weights(emb: torch.Tensor, nbr: torch.Tensor,
                     sharpen: float = 20., chunk: int = 8192) -> torch.Tensor:
    """Row-softmax of ``sharpen · cos(e_i, e_j)`` over each row's neighbours.

    Args:
        emb (Tensor): ``(N, D)`` embeddings.
        nbr (Tensor): ``(N, K)`` neighbour indices.
        chunk (int): Rows per step (memory ``chunk × K × D``, never
            ``N × K × D``).

    Returns:
        Tensor: ``(N, K)`` weights, rows sum to 1.
    """
    e = F.normalize(emb.float(), dim=-1)
    out = torch.empty(nbr.shape, dtype=e.dtype, device=e.device)
    for s in range(0, len(nbr), chunk):
        sim = torch.bmm(e[nbr[s:s + chunk]], e[s:s + chunk, :, None])[..., 0]
        out[s:s + chunk] = torch.softmax(sharpen * sim, dim=1)
    return out


def affinity_matrix(nbr: torch.Tensor, weights: torch.Tensor
                    ) -> torch.Tensor:
    """The ``(N, N)`` CSR matrix ``A[i, nbr[i, j]] = weights[i, j]`` built
    directly: each row's columns sorted (the order ``coalesce`` gives, so
    the products are the same to the bit), 32-bit indices when they fit
    (less memory traffic per product than 64-bit ones). Neighbour lists
    hold distinct indices (kNN), so no entries need summing."""
    N, K = nbr.shape
    idx = torch.int32 if N * K < 2**31 else torch.int64
    col, order = nbr.sort(1)
    val = weights.float().gather(1, order)
    crow = torch.arange(0, N * K + 1, K, dtype=idx, device=nbr.device)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', UserWarning)  # CSR is 'beta'
        return torch.sparse_csr_tensor(crow, col.reshape(-1).to(idx),
                                       val.reshape(-1), (N, N))


def geometry_guided_pooling(feats: torch.Tensor, nbr: torch.Tensor,
                            weights: torch.Tensor,
                            iterations: int = 19, fast: bool = True,
                            block: int = 64) -> torch.Tensor:
    """``F ← A·F`` for ``iterations`` steps with the K-sparse row-stochastic
    affinity ``A[i, nbr[i, j]] = weights[i, j]``.

    The default 19 is the number of products in the GeoPurify authors'
    code (one, then a loop of 18); the paper's ``T = 18`` is
    ``iterations=18``.

    The fast path (default) runs the products with the compiled ELL kernel
    (:mod:`~ovseg_plugins.seg3d.ops.ell_spmm`: K neighbours per row, CPU,
    no gradients) when it is available, else on ``block`` channels at a time (their ``N
    × block`` rows stay in cache across the neighbour gathers) with
    :func:`affinity_matrix`. The reference path (``fast=False``: one COO ->
    coalesce -> CSR matrix, all channels per product) is kept for
    comparison; the paths differ only in the order of the float sums.

    Args:
        feats (Tensor): ``(N, C)``.
        nbr (Tensor): ``(N, K)`` distinct neighbours per row.
        weights (Tensor): ``(N, K)``.
        fast (bool): The fast path (default), or the reference one.
        block (int): Channels per block of the CSR fast path.

    Returns:
        Tensor: ``(N, C)``.
    """
    needs_grad = torch.is_grad_enabled() and (feats.requires_grad or
                                              weights.requires_grad)
    if fast and not needs_grad and feats.device.type == 'cpu' and \
            ell_spmm_available():
        return ell_spmm(nbr, weights, feats, iterations)
    if fast:
        A = affinity_matrix(nbr, weights)
        f = feats.float()
        outs = []
        for s in range(0, f.shape[1], block):
            b = f[:, s:s + block].contiguous()
            for _ in range(iterations):
                b = A @ b
            outs.append(b)
        return torch.cat(outs, 1) if outs else f.clone()
    N, K = nbr.shape
    rows = torch.arange(N, device=nbr.device).repeat_interleave(K)
    with warnings.catch_warnings():
        warnings.simplefilter('ignore', UserWarning)  # CSR is 'beta'
        A = torch.sparse_coo_tensor(
            torch.stack([rows, nbr.reshape(-1)]), weights.reshape(-1).float(),
            (N, N), check_invariants=False).coalesce().to_sparse_csr()
    # N·K non-zeros (never N×N); CSR matmul per step
    f = feats.float()
    for _ in range(iterations):
        f = A @ f
    return f


@MODELS.register_module()
class GeometryGuidedPooling(BaseModule):
    """GeoPurify's geometry-guided pooling of features with affinities.

    ``nbr = kNN(coords, K)`` (self excluded), ``A = row-softmax(sharpen ·
    cos(emb_i, emb_j))`` over the K neighbours, ``F ← A·F`` for
    ``iterations`` steps (K-sparse, chunked kNN, never N×N). No parameters.

    Neighbours tied at the K-th distance are resolved by the lower
    ``(x, y, z)`` (lexicographic), so the result depends on the point set
    only, not on the order of the rows (the authors' faiss search leaves
    this order implementation-defined).

    Args:
        knn (int): K. Defaults to 96.
        sharpen (float): Defaults to 20.
        iterations (int): Sparse products ``A·F``. Defaults to 19, as the
            authors' code (one product, then 18 more); the paper's
            ``T = 18`` is ``iterations=18``.
        chunk (int): kNN query rows per step (memory).
        fast (bool): The fast products (:func:`geometry_guided_pooling`);
            False runs the reference implementation (the same values up to
            the order of float sums, slower; kept for comparison).
        init_cfg (dict, optional): Unused (no weights).
    """

    def __init__(self, knn: int = 96, sharpen: float = 20.,
                 iterations: int = 19, chunk: int = 4096, fast: bool = True,
                 init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.fast = bool(fast)
        self.knn = check_int('knn', knn, 'GeometryGuidedPooling', lo=1)
        self.sharpen = check_number('sharpen', sharpen,
                                    'GeometryGuidedPooling', lo=0,
                                    lo_open=True)
        self.iterations = check_int('iterations', iterations,
                                    'GeometryGuidedPooling', lo=0)
        self.chunk = check_int('chunk', chunk, 'GeometryGuidedPooling', lo=1)

    def forward(self, feats: torch.Tensor, emb: torch.Tensor,
                coords: torch.Tensor, knn: Optional[int] = None
                ) -> torch.Tensor:
        """Pool ``feats`` with the affinities of ``emb``.

        Args:
            feats (Tensor): ``(N, C)`` features.
            emb (Tensor): ``(N, D)`` embeddings giving the affinities.
            coords (Tensor): ``(N, 3)`` coordinates of the neighbourhoods.
            knn (int, optional): K for this call (default ``self.knn``).

        Returns:
            Tensor: ``(N, C)`` float32 pooled features.
        """
        if not (len(feats) == len(emb) == len(coords)):
            raise ValueError(f'feats {len(feats)}, embeddings {len(emb)} and '
                             f'coords {len(coords)} must have one row each')
        # work in Morton order (3-4x faster sparse products: neighbours'
        # rows are close in memory), return in the caller's order. Both
        # orders are computed from the sorted point set, and the kNN runs
        # in (x, y, z) order (ties -> lower x, y, z), then is re-indexed to
        # Morton positions: nothing depends on the caller's row order.
        lex = canonical_order(coords)
        perm = lex[spatial_order(coords[lex])]
        nbr_lex = knn_indices(coords[lex].float(), knn or self.knn,
                              self.chunk)
        lpos = torch.argsort(lex)
        nbr = torch.argsort(perm)[lex[nbr_lex[lpos[perm]]]]
        w = affinity_weights(emb[perm], nbr, self.sharpen)
        out = geometry_guided_pooling(feats[perm], nbr, w, self.iterations,
                                      self.fast)
        return out[torch.argsort(perm)]
