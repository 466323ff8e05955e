"""Checks and stamps of CoIDO's files (one place for this surface).

Every file CoIDO writes carries a *stamp*: the phase that wrote it
(``'extract'``, ``'cluster'``, ``'selection'``), the ``data_list_hash`` of
the training set and, after the extract phase, the ``bank_stamp`` (a hash of
the feature bank's content). A later phase compares the stamps with what it
has in hand and refuses a file made for another data list or from another
(older) feature bank, naming the file, the field and the fix.
"""
import hashlib
from typing import Optional

import numpy as np
import torch

EXTRACT_FIX = 'Re-create it with tools/coido/extract_features.py (or ' \
    'tools/coido/run.py CONFIG --phases extract).'
CLUSTER_FIX = 'Re-create it with tools/coido/cluster.py on the current ' \
    'feature bank (or tools/coido/run.py CONFIG --phases cluster).'
SELECT_FIX = 'Re-run the CoIDO selection (phase 1: tools/coido/run.py ' \
    'CONFIG --phases phase1) for this feature bank.'


def bank_stamp(embeddings: torch.Tensor, stats: torch.Tensor,
               data_hash: str) -> str:
    """SHA-256 (16 hex digits) of a bank's embeddings, statistics and data
    list hash: any re-extraction that changes a number changes it."""
    h = hashlib.sha256(str(data_hash).encode())
    for t in (embeddings, stats):
        a = np.ascontiguousarray(torch.as_tensor(t).detach().float().cpu()
                                 .numpy())
        h.update(str(a.shape).encode())
        h.update(a.tobytes())
    return h.hexdigest()[:16]


def _as_tensor(obj: dict, key: str, path: str) -> torch.Tensor:
    v = obj[key]
    try:
        return torch.as_tensor(v)
    except (TypeError, ValueError, RuntimeError) as e:
        raise TypeError(f'feature bank {path!r}: field {key!r} is not a '
                        f'numeric array ({type(v).__name__}: {e}). '
                        f'{EXTRACT_FIX}') from None


def check_bank_fields(obj: dict, path: str) -> dict:
    """Validate the fields of a loaded ``feature_bank.pt`` dict.

    Required: ``embeddings`` ``(N, D)`` finite floats (N >= 1, D >= 1),
    ``stats`` ``(N, k)`` (or ``(N,)``) finite, ``data_list_hash`` (str).
    Optional, checked when present: ``class_hist`` ``(N, C)`` finite and
    >= 0, ``valid`` ``(N,)``, ``valid_frac`` ``(N,)`` in [0, 1],
    ``bank_stamp`` equal to the content's stamp (a file edited by hand or
    half-replaced is refused).

    Returns:
        dict: the tensors, converted (``embeddings``, ``stats``,
        ``class_hist``, ``valid``, ``valid_frac``).

    Raises:
        KeyError: a required field is missing.
        TypeError: a field has the wrong type.
        ValueError: wrong shape, NaN/inf, out-of-range values, stale stamp.
    """
    if not isinstance(obj, dict):
        raise TypeError(f'feature bank {path!r} holds a '
                        f'{type(obj).__name__}, not a dict. {EXTRACT_FIX}')
    miss = [k for k in ('embeddings', 'stats', 'data_list_hash')
            if k not in obj]
    if miss:
        raise KeyError(f'feature bank {path!r} lacks the field(s) {miss}. '
                       f'{EXTRACT_FIX}')
    if not isinstance(obj['data_list_hash'], str):
        raise TypeError(f'feature bank {path!r}: field \'data_list_hash\' '
                        'must be a string, got '
                        f'{type(obj["data_list_hash"]).__name__}. '
                        f'{EXTRACT_FIX}')
    out = {}
    emb = _as_tensor(obj, 'embeddings', path)
    if emb.ndim != 2 or emb.shape[0] < 1 or emb.shape[1] < 1:
        raise ValueError(f'feature bank {path!r}: field \'embeddings\' must '
                         'be (N, D) with N, D >= 1, got shape '
                         f'{tuple(emb.shape)}. {EXTRACT_FIX}')
    n = emb.shape[0]
    stats = _as_tensor(obj, 'stats', path)
    if stats.ndim == 1:
        stats = stats[:, None]
    if stats.ndim != 2 or stats.shape[0] != n:
        raise ValueError(f'feature bank {path!r}: field \'stats\' must be '
                         f'(N, k) with N = {n} (the rows of \'embeddings\'), '
                         f'got shape {tuple(stats.shape)}. {EXTRACT_FIX}')
    out['embeddings'], out['stats'] = emb.float(), stats.float()
    hist = obj.get('class_hist')
    if hist is not None:
        hist = _as_tensor(obj, 'class_hist', path).float()
        if hist.ndim != 2 or hist.shape[0] != n:
            raise ValueError(f'feature bank {path!r}: field \'class_hist\' '
                             f'must be (N, C) with N = {n}, got shape '
                             f'{tuple(hist.shape)}. {EXTRACT_FIX}')
    out['class_hist'] = hist
    for key in ('valid', 'valid_frac'):
        v = obj.get(key)
        if v is not None:
            v = _as_tensor(obj, key, path)
            if tuple(v.shape) != (n, ):
                raise ValueError(f'feature bank {path!r}: field {key!r} '
                                 f'must have shape ({n},), got '
                                 f'{tuple(v.shape)}. {EXTRACT_FIX}')
        out[key] = v
    for key in ('embeddings', 'stats', 'class_hist', 'valid_frac'):
        t = out[key]
        if t is not None and not bool(torch.isfinite(t.float()).all()):
            bad = int((~torch.isfinite(t.float())).any(-1).sum()
                      if t.ndim > 1 else (~torch.isfinite(t.float())).sum())
            raise ValueError(f'feature bank {path!r}: field {key!r} has '
                             f'NaN/inf in {bad} of {n} samples (the embedder '
                             f'diverged or the file is damaged). '
                             f'{EXTRACT_FIX}')
    if out['class_hist'] is not None and bool((out['class_hist'] < 0).any()):
        raise ValueError(f'feature bank {path!r}: field \'class_hist\' has '
                         f'negative class fractions. {EXTRACT_FIX}')
    if out['valid_frac'] is not None:
        f = out['valid_frac'].float()
        if bool(((f < 0) | (f > 1)).any()):
            raise ValueError(f'feature bank {path!r}: field \'valid_frac\' '
                             'must lie in [0, 1] (a labelled fraction). '
                             f'{EXTRACT_FIX}')
        out['valid_frac'] = f
    if out['valid'] is not None:
        out['valid'] = out['valid'].bool()
    stamp = obj.get('bank_stamp')
    if stamp is not None and stamp != bank_stamp(
            out['embeddings'], out['stats'], obj['data_list_hash']):
        raise ValueError(f'feature bank {path!r}: field \'bank_stamp\' does '
                         'not match the file\'s content (edited or '
                         f'partly replaced). {EXTRACT_FIX}')
    return out


def check_file_stamp(obj: dict, path: str, what: str, fix: str,
                     data_hash: Optional[str] = None,
                     stamp: Optional[str] = None,
                     phase: Optional[str] = None) -> None:
    """Refuse a CoIDO JSON file written for another data list, from another
    feature bank, or by another phase.

    Args:
        obj (dict): The loaded file.
        path (str): Its path (named in the errors).
        what (str): What the file is (``'clusters file'``).
        fix (str): How to make a good one.
        data_hash (str, optional): The dataset's / bank's data-list hash.
        stamp (str, optional): The current feature bank's ``bank_stamp``.
        phase (str, optional): The phase that must have written the file.

    Raises:
        ValueError: naming the file and the mismatching field.
    """
    from .data_list import check_hash
    if phase is not None and obj.get('phase') not in (None, phase):
        raise ValueError(f'{what} {path!r}: field \'phase\' is '
                         f'{obj.get("phase")!r}, expected {phase!r} (another '
                         f'CoIDO file was given here). {fix}')
    if data_hash is not None:
        if obj.get('data_list_hash') is None:
            raise ValueError(
                f'{what} {path!r} has no \'data_list_hash\' field: nothing '
                'tells which data list its sample indices refer to (a '
                'hand-written or truncated file). ' + fix)
        check_hash(obj.get('data_list_hash'), data_hash, f'{what} {path!r}',
                   fix)
    if stamp is not None and obj.get('bank_stamp') not in (None, stamp):
        raise ValueError(f'{what} {path!r}: field \'bank_stamp\' is '
                         f'{obj["bank_stamp"]!r} but the feature bank in use '
                         f'has {stamp!r}: the file is stale (made from an '
                         f'earlier or another feature bank). {fix}')


def check_clusters(obj, path: str, n: int) -> tuple:
    """Validate a loaded ``clusters.json`` against a bank of ``n`` rows.

    ``clusters``: ``{"<sample_idx>": cluster_id}`` with integer keys in
    ``[0, n)`` and integer ids >= 0 (at least one entry); ``assignments``
    (optional): ``n`` integer ids >= 0.

    Returns:
        tuple: ``(ids (n,) long, -1 = not in the subset; assign (n,) long,
        all -1 when the file has no assignments)``.

    Raises:
        KeyError / TypeError / ValueError: naming the file and the field.
    """
    if not isinstance(obj, dict):
        raise TypeError(f'clusters file {path!r} must hold a JSON object, '
                        f'got {type(obj).__name__}. {CLUSTER_FIX}')
    if 'clusters' not in obj:
        raise KeyError(f'clusters file {path!r} has no "clusters" field. '
                       f'{CLUSTER_FIX}')
    cl = obj['clusters']
    if not isinstance(cl, dict) or not cl:
        raise ValueError(f'clusters file {path!r}: field "clusters" must be '
                         'a non-empty {"sample_idx": cluster_id} object. '
                         f'{CLUSTER_FIX}')
    ids = torch.full((n, ), -1, dtype=torch.long)
    for k, c in cl.items():
        try:
            i = int(k)
        except ValueError:
            raise ValueError(f'clusters file {path!r}: field "clusters" key '
                             f'{k!r} is not a sample index. '
                             f'{CLUSTER_FIX}') from None
        if not 0 <= i < n:
            raise ValueError(f'clusters file {path!r}: field "clusters" has '
                             f'sample {i}, out of range for a bank of {n} '
                             f'samples. {CLUSTER_FIX}')
        if not isinstance(c, int) or isinstance(c, bool) or c < 0:
            raise ValueError(f'clusters file {path!r}: field "clusters" '
                             f'gives sample {i} the cluster {c!r}; cluster '
                             f'ids are integers >= 0. {CLUSTER_FIX}')
        ids[i] = c
    assign = torch.full((n, ), -1, dtype=torch.long)
    a = obj.get('assignments')
    if a is not None:
        if not isinstance(a, list) or len(a) != n:
            got = len(a) if isinstance(a, list) else type(a).__name__
            raise ValueError(f'clusters file {path!r}: field "assignments" '
                             f'must list one cluster id per bank row ({n}), '
                             f'got {got}. {CLUSTER_FIX}')
        if not all(isinstance(c, int) and not isinstance(c, bool) and c >= 0
                   for c in a):
            raise ValueError(f'clusters file {path!r}: field "assignments" '
                             'must hold integer cluster ids >= 0 (missing '
                             f'or negative entries found). {CLUSTER_FIX}')
        assign = torch.as_tensor(a, dtype=torch.long)
    return ids, assign
