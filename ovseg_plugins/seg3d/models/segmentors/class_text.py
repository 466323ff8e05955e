"""Class text embeddings of a GeoPurify model: from a file (rows picked by
query name) or an open_clip text tower (cached)."""
from typing import Optional, Sequence

import numpy as np
import torch

from ovseg_plugins.text import (TextEmbeddingCache, encode_queries,
                                text_cache_key)
from ovseg_plugins.utils.checkpoint import load_torch_file
from ovseg_plugins.utils.validation import check_array, file_errors

__all__ = ['select_queries', 'class_text_embeddings']


def select_queries(payload: dict, queries: Sequence[str],
                   source: str = 'text embeddings') -> torch.Tensor:
    """Rows of a text-embeddings file for ``queries``.

    A file from ``tools/geopurify/text_embeddings.py`` is a dict with
    ``text_embeds (Q, C)`` and the ``queries`` they embed: rows are picked
    by name (any subset, any order). A dict without ``queries`` is used
    as is (row ``i`` = query ``i``).
    """
    emb = payload.get('text_embeds')
    if emb is None:
        raise TypeError(f'{source} must be an array/tensor, got dict '
                        f'without "text_embeds" (keys {sorted(payload)[:6]}); '
                        'write the file with tools/geopurify/text_embeddings.py.')
    emb = torch.as_tensor(emb)
    names = payload.get('queries')
    if names is None:
        return emb
    names = list(names)
    missing = [q for q in queries if q not in names]
    if missing:
        raise ValueError(
            f'{source}: no embedding for {missing[:5]} (the file embeds '
            f'{len(names)} queries, e.g. {names[:5]}); write a file for '
            'these classes with tools/geopurify/text_embeddings.py.')
    return emb[[names.index(q) for q in queries]]


def class_text_embeddings(queries: Sequence[str], channels: int,
                          path=None, encoder_cfg: Optional[dict] = None,
                          templates: Sequence[str] = ('a {} in a scene', )
                          ) -> torch.Tensor:
    """``(Q, channels)`` embeddings of ``queries``.

    Args:
        queries (list[str]): The vocabulary's queries.
        channels (int): The fused features' width (checked).
        path (str | Tensor | ndarray, optional): ``.pt`` / ``.npy`` file
            (a dict from ``tools/geopurify/text_embeddings.py``: rows by
            name) or an array in query order.
        encoder_cfg (dict, optional): open_clip tower ``dict(model_name=...,
            pretrained=..., model_cfg=None)`` instead of a file.
        templates (list[str]): Prompt templates of the tower.
    """
    n_q = len(queries)
    if isinstance(path, (torch.Tensor, np.ndarray)):
        emb = torch.as_tensor(path).detach().float().cpu()
    elif path is not None:
        if path.endswith('.npy'):
            import os.path as osp
            if not osp.isfile(path):
                raise FileNotFoundError(f'text embeddings not found: '
                                        f'{path!r}')
            with file_errors(path, 'text embeddings'):
                emb = torch.from_numpy(np.load(path))
        else:
            emb = load_torch_file(path, 'text embeddings')
            if isinstance(emb, dict):
                emb = select_queries(emb, queries, path)
        check_array('text embeddings', emb, path, nonzero_rows=True)
    elif encoder_cfg is not None:
        from ovseg_plugins.utils.open_clip_loader import build_open_clip
        cfg = dict(encoder_cfg)
        name = cfg.pop('model_name')
        clip, weights_id = build_open_clip(name, **cfg)
        import open_clip
        tok = open_clip.get_tokenizer(name)

        def compute():
            with torch.no_grad():
                return encode_queries(
                    lambda p: clip.encode_text(tok(p)),
                    queries, templates)

        if weights_id is None:
            emb = compute()
        else:
            emb = TextEmbeddingCache().get_or_compute(
                text_cache_key(f'open_clip:{name}', weights_id,
                               queries, templates),
                compute, rows=n_q)
    else:
        raise ValueError('GeoPurifySegmentor needs text_embeddings (a '
                         'file) or text_encoder (an open_clip tower).')
    if tuple(emb.shape) != (n_q, channels):
        raise ValueError(
            f'text embeddings have shape {tuple(emb.shape)}, expected '
            f'({n_q} queries, {channels}) to match the '
            'vocabulary and the fused features.')
    return emb
