"""Spectral clustering of the p % subset on a cosine kNN graph (sklearn)."""
from typing import Tuple

import numpy as np


def knn_affinity(x: np.ndarray, k: int = 30):
    """Sparse symmetric affinity of CoIDO's clustering script, re-derived.

    Each row keeps its ``k`` nearest neighbours under cosine distance (self
    included); edge weight ``(1 + cos) / 2``; symmetrised by averaging.

    Args:
        x (np.ndarray): ``(n, D)`` features.
        k (int): Neighbours (capped at n).

    Returns:
        scipy.sparse.csr_matrix: ``(n, n)``.
    """
    from sklearn.neighbors import kneighbors_graph
    n = x.shape[0]
    k = int(min(k, n))
    g = kneighbors_graph(x, n_neighbors=k, metric='cosine', mode='distance',
                         include_self=True)
    # cosine distance d = 1 - cos  ->  weight (1 + cos) / 2 = 1 - d / 2
    g.data = np.clip(1.0 - g.data / 2.0, 1e-6, 1.0)
    return ((g + g.T) * 0.5).tocsr()


def spectral_clusters(x: np.ndarray, n_clusters: int = 20, k: int = 30,
                      seed: int = 0) -> Tuple[np.ndarray, dict]:
    """Global spectral clustering (not chunked) of ``x``.

    ``sklearn.cluster.SpectralClustering(affinity='precomputed',
    assign_labels='discretize')`` on :func:`knn_affinity`.

    Returns:
        tuple: ``labels (n,)`` int64 in ``[0, M)`` and an info dict
        (effective M and k).
    """
    from sklearn.cluster import SpectralClustering
    x = np.asarray(x, dtype=np.float64)
    n = x.shape[0]
    if n < 2:
        raise ValueError(f'spectral clustering needs >= 2 samples, got {n}.')
    m = int(min(n_clusters, n))
    aff = knn_affinity(x, k)
    sc = SpectralClustering(n_clusters=m, affinity='precomputed',
                            assign_labels='discretize', random_state=seed)
    labels = sc.fit_predict(aff)
    # relabel by first appearance so the file is stable across sklearn runs
    _, first = np.unique(labels, return_index=True)
    remap = {int(labels[i]): j for j, i in enumerate(sorted(first))}
    labels = np.array([remap[int(v)] for v in labels], dtype=np.int64)
    return labels, dict(n_clusters=m, k=int(min(k, n)),
                        sizes=np.bincount(labels).tolist())
