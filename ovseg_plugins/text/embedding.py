"""Text embeddings of a vocabulary, averaged over templates, cached on disk."""
import hashlib
import json
import logging
import os.path as osp
from typing import Callable, List, Optional, Sequence

import torch
import torch.nn.functional as F

from ovseg_plugins.utils.io import atomic_write
from ovseg_plugins.utils.paths import default_cache_dir
from ovseg_plugins.utils.validation import check_array


def encode_queries(encode_fn: Callable[[List[str]], torch.Tensor],
                   queries: Sequence[str],
                   templates: Sequence[str],
                   batch_size: int = 256) -> torch.Tensor:
    """Embed every query with every template; average unit vectors.

    For each query: the prompts ``t.format(query)`` for all templates are
    embedded, each embedding is L2-normalised, the mean over templates is
    taken and L2-normalised again.

    Args:
        encode_fn (Callable): Maps a list of prompt strings to ``(n, D)``
            embeddings (tokenisation included).
        queries (Sequence[str]): Query words, length Q.
        templates (Sequence[str]): Templates with one ``{}``, length T.
        batch_size (int): Prompts per ``encode_fn`` call.

    Returns:
        Tensor: ``(Q, D)`` float32 unit vectors.
    """
    prompts = [t.format(q) for q in queries for t in templates]
    outs = []
    for i in range(0, len(prompts), batch_size):
        outs.append(F.normalize(encode_fn(prompts[i:i + batch_size]).float(),
                                dim=-1))
    emb = torch.cat(outs).view(len(queries), len(templates), -1)
    return F.normalize(emb.mean(dim=1), dim=-1)


def text_cache_key(model_id: str, weights_id: str, queries: Sequence[str],
                   templates: Sequence[str]) -> str:
    """A stable key over model, checkpoint hash, vocabulary and templates."""
    payload = json.dumps(
        dict(model=model_id, weights=weights_id, queries=list(queries),
             templates=list(templates)), sort_keys=True)
    return hashlib.sha256(payload.encode()).hexdigest()[:32]


class TextEmbeddingCache:
    """Disk cache of text-embedding matrices.

    Args:
        cache_dir (str, optional): Folder; defaults to ``$OVSEG_CACHE_DIR`` or
            ``~/.cache/ovseg_plugins``, sub-folder ``text``.
    """

    def __init__(self, cache_dir: Optional[str] = None):
        self.cache_dir = osp.join(cache_dir or default_cache_dir(), 'text')
        self.hits = 0
        self.misses = 0

    def path(self, key: str) -> str:
        return osp.join(self.cache_dir, f'{key}.pt')

    @staticmethod
    def check_entry(emb, rows: Optional[int] = None,
                    owner: str = 'text embeddings') -> torch.Tensor:
        """A text-embedding matrix: a ``(rows, D)`` float tensor, finite,
        rows of unit length (:func:`encode_queries` output).

        Raises:
            TypeError / ValueError: Naming ``owner`` and what is wrong.
        """
        check_array('embedding matrix', emb, owner, shape=(rows, None))
        if not isinstance(emb, torch.Tensor) or not emb.is_floating_point():
            raise TypeError(f'{owner}: expected a float tensor, got '
                            f'{type(emb).__name__} '
                            f'{getattr(emb, "dtype", "")}.')
        norms = emb.float().norm(dim=-1)
        if not torch.allclose(norms, torch.ones_like(norms), atol=1e-2):
            raise ValueError(f'{owner}: rows are not unit vectors (norms '
                             f'{norms.min():.3g}..{norms.max():.3g}).')
        return emb

    def get_or_compute(self, key: str, compute: Callable[[], torch.Tensor],
                       rows: Optional[int] = None) -> torch.Tensor:
        """Return the cached matrix for ``key`` or compute and store it.

        A cached entry that cannot be read, or is not a finite ``(rows, D)``
        matrix of unit vectors (a corrupted or foreign file), is recomputed
        and replaced (with a warning); a computed matrix that fails the same
        check raises and is not cached.

        Args:
            rows (int, optional): Expected number of rows (queries).
        """
        p = self.path(key)
        if osp.isfile(p):
            try:
                from ovseg_plugins.utils.checkpoint import load_torch_file
                emb = self.check_entry(
                    load_torch_file(p, 'text-embedding cache entry'),
                    rows, f'text-embedding cache entry {p}')
                self.hits += 1
                return emb
            except Exception as e:  # noqa: BLE001 - a bad entry is rebuilt
                from mmengine.logging import print_log
                print_log(f'Ignoring the text-embedding cache entry {p} '
                          f'({type(e).__name__}: {str(e)[:300]}); '
                          'recomputing it.', 'current', logging.WARNING)
        self.misses += 1
        emb = self.check_entry(compute().detach().cpu(), rows,
                               'text embeddings computed by the text encoder')
        try:
            # atomic: concurrent ranks never see halves
            atomic_write(p, lambda tmp: torch.save(emb, tmp))
        except OSError:
            pass  # an unwritable cache only costs recomputation
        return emb
