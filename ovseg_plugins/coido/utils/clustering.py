"""Spectral clustering of the p % subset on a cosine kNN graph (sklearn)."""
from typing import Callable, Optional, Tuple

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
                      seed: int = 0,
                      log: Optional[Callable[[str], None]] = None
                      ) -> Tuple[np.ndarray, dict]:
    """Global spectral clustering (not chunked) of ``x``.

    ``sklearn.cluster.SpectralClustering(affinity='precomputed',
    assign_labels='discretize')`` on :func:`knn_affinity`. Works for any
    ``n >= 2`` samples: the number of clusters is capped at ``n - 1`` (the
    eigen-solver needs fewer eigenvectors than samples) and the cap is
    reported through ``log`` and in the info dict.

    Args:
        x (np.ndarray): ``(n, D)`` features.
        n_clusters (int): Requested M (>= 1).
        k (int): kNN-graph neighbours (capped at n).
        seed (int): ``random_state`` of the clustering.
        log (callable, optional): Receives the capping message.

    Returns:
        tuple: ``labels (n,)`` int64 in ``[0, M)`` and an info dict
        (effective M and k, sizes, ``n_clusters_requested``).
    """
    from sklearn.cluster import SpectralClustering
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError('spectral clustering needs (n, D) features, got '
                         f'shape {x.shape}.')
    n = x.shape[0]
    if n < 2:
        raise ValueError(f'spectral clustering needs >= 2 samples, got {n}: '
                         'raise the subset ratio (coido.cluster.ratio).')
    if int(n_clusters) < 1:
        raise ValueError(f'n_clusters must be >= 1, got {n_clusters}.')
    m = int(min(n_clusters, n - 1))
    if m < int(n_clusters) and log is not None:
        log(f'[cluster] n_clusters={n_clusters} is not below the subset '
            f'size {n}: capped at {m}')
    if m == 1:  # one cluster: nothing to solve
        return np.zeros(n, np.int64), dict(
            n_clusters=1, k=int(min(k, n)), sizes=[n],
            n_clusters_requested=int(n_clusters))
    aff = knn_affinity(x, k)
    sc = SpectralClustering(n_clusters=m, affinity='precomputed',
                            assign_labels='discretize', random_state=seed)
    labels = sc.fit_predict(aff)
    # relabel by first appearance so the file is stable across sklearn runs
    _, first = np.unique(labels, return_index=True)
    remap = {int(labels[i]): j for j, i in enumerate(sorted(first))}
    labels = np.array([remap[int(v)] for v in labels], dtype=np.int64)
    return labels, dict(n_clusters=m, k=int(min(k, n)),
                        sizes=np.bincount(labels).tolist(),
                        n_clusters_requested=int(n_clusters))


def nearest_centroid(x_all: np.ndarray, x_sub: np.ndarray,
                     labels: np.ndarray) -> np.ndarray:
    """Assign every row of ``x_all`` to the cluster (of the rows ``x_sub``
    labelled ``labels``) whose mean direction is nearest in cosine.

    Returns:
        np.ndarray: ``(len(x_all),)`` int64 cluster ids.
    """
    x_all = np.asarray(x_all, dtype=np.float64)
    x_sub = np.asarray(x_sub, dtype=np.float64)
    labels = np.asarray(labels)
    ids = np.unique(labels)
    c = np.stack([x_sub[labels == i].mean(0) for i in ids])
    c /= np.maximum(np.linalg.norm(c, axis=1, keepdims=True), 1e-12)
    xa = x_all / np.maximum(np.linalg.norm(x_all, axis=1, keepdims=True),
                            1e-12)
    return ids[np.argmax(xa @ c.T, 1)].astype(np.int64)
