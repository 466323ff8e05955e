"""The CoIDO feature bank: per-sample embeddings + label statistics."""
import os.path as osp
from typing import List, Optional

import numpy as np
import torch

from ovseg_plugins.utils.checkpoint import (UnsafeCheckpointError,
                                            load_torch_file)

STAT_NAMES = ('ignore_frac', 'classes_present', 'label_entropy',
              'rare_class_mass')


class FeatureBank:
    """In-memory view of ``feature_bank.pt`` (written by
    ``tools/coido/extract_features.py``), keyed by global sample index.

    Attributes:
        embeddings (Tensor): ``(N, D)`` L2-normalised image/scene embeddings.
        stats (Tensor): ``(N, k)`` label statistics min-max scaled to
            ``[-1, 1]`` over the dataset (CoIDO's score normalisation).
        class_hist (Tensor | None): ``(N, C)`` label class fractions.
        valid (Tensor): ``(N,)`` bool, sample has >= 1 labelled element.
        valid_frac (Tensor | None): ``(N,)`` labelled fraction of the
            sample's pixels / points.
        data_list_hash (str): hash of the data list the bank was made from.
        stamp (str): hash of the bank's content (``bank_stamp``), carried
            by every later CoIDO file so that a stale one is refused.

    Raises:
        KeyError / TypeError / ValueError: a malformed bank, naming the file
        and the field (see :func:`~.validation.check_bank_fields`).
    """

    def __init__(self, obj: dict, path: str = '<memory>'):
        from .validation import bank_stamp, check_bank_fields
        t = check_bank_fields(obj, path)
        self.path = path
        self.embeddings, self.stats = t['embeddings'], t['stats']
        n = self.embeddings.shape[0]
        self.class_hist = t['class_hist']
        self.valid = torch.ones(n, dtype=torch.bool) if t['valid'] is None \
            else t['valid']
        self.valid_frac = t['valid_frac']  # None: not recorded
        self.data_list_hash = obj['data_list_hash']
        self.stamp = obj.get('bank_stamp') or bank_stamp(
            self.embeddings, self.stats, self.data_list_hash)
        self.stat_names: List[str] = list(obj.get('stat_names', []))
        self.meta = {k: v for k, v in obj.items() if not torch.is_tensor(v)
                     and not isinstance(v, np.ndarray)}

    def __len__(self) -> int:
        return self.embeddings.shape[0]

    @property
    def embed_dim(self) -> int:
        return self.embeddings.shape[1]

    @property
    def stats_dim(self) -> int:
        return self.stats.shape[1]


def load_feature_bank(path: str) -> FeatureBank:
    """Load ``feature_bank.pt`` with a clear error when it is missing."""
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'CoIDO feature bank not found: {path!r}. Create it with '
            '`python tools/coido/extract_features.py CONFIG --out '
            f'{path}` (or run tools/coido/run.py CONFIG).')
    try:
        obj = load_torch_file(path, 'CoIDO feature bank')
    except UnsafeCheckpointError:
        raise  # names the file; nothing in it ran
    except ValueError as e:  # truncated / not a torch file
        raise ValueError(f'feature bank {path!r} cannot be read by '
                         f'torch.load ({type(e).__name__}: {str(e)[:200]}); '
                         'the file is damaged or not a feature bank. '
                         'Re-create it with tools/coido/extract_features.py.'
                         ) from None
    return FeatureBank(obj, path)


def cluster_features(bank: FeatureBank, indices: np.ndarray,
                     hist_weight: float = 0.3) -> np.ndarray:
    """Clustering features of the given rows: ``(1 - a)·ê ⊕ a·ĥ`` with ê the
    L2-normalised embedding and ĥ the L2-normalised square root of the class
    histogram (scene type + composition); ``a = hist_weight`` (0 or no
    histogram: the embedding alone).

    Returns:
        np.ndarray: ``(len(indices), D [+ C])`` float64.
    """
    idx = torch.as_tensor(np.asarray(indices), dtype=torch.long)
    e = torch.nn.functional.normalize(bank.embeddings[idx], dim=1)
    if hist_weight <= 0 or bank.class_hist is None:
        return e.double().numpy()
    h = torch.nn.functional.normalize(bank.class_hist[idx].clamp_min(0)
                                      .sqrt(), dim=1)
    return torch.cat([(1 - hist_weight) * e, hist_weight * h],
                     1).double().numpy()


def minmax_pm1(x: np.ndarray) -> np.ndarray:
    """Column-wise min-max to ``[-1, 1]`` (constant columns -> 0)."""
    x = np.asarray(x, dtype=np.float64)
    lo, hi = x.min(0), x.max(0)
    span = np.where(hi > lo, hi - lo, 1.0)
    out = 2 * (x - lo) / span - 1
    out[:, hi <= lo] = 0.0
    return out.astype(np.float32)


def label_stats(hist: np.ndarray, n_ignored: np.ndarray,
                class_freq: Optional[np.ndarray] = None) -> np.ndarray:
    """Cheap per-sample label statistics (raw, before normalisation).

    Args:
        hist (np.ndarray): ``(N, C)`` labelled-element counts per class.
        n_ignored (np.ndarray): ``(N,)`` ignored elements per sample.
        class_freq (np.ndarray, optional): ``(C,)`` dataset class frequency;
            defaults to the frequency in ``hist``.

    Returns:
        np.ndarray: ``(N, 4)`` = ignore fraction, number of classes present,
        label entropy (nats), rare-class mass (Σ_c p_c / f_c normalised by
        Σ_c 1/f_c over present classes' inverse frequency, i.e. the mean
        inverse-frequency weight of the labelled pixels relative to the
        rarest class).
    """
    hist = np.asarray(hist, dtype=np.float64)
    tot = hist.sum(1)
    frac_ign = n_ignored / np.maximum(tot + n_ignored, 1)
    p = hist / np.maximum(tot[:, None], 1)
    present = (hist > 0).sum(1).astype(np.float64)
    with np.errstate(divide='ignore', invalid='ignore'):
        ent = -np.where(p > 0, p * np.log(p), 0).sum(1)
    f = hist.sum(0) if class_freq is None else np.asarray(class_freq, float)
    f = f / max(f.sum(), 1)
    inv = np.where(f > 0, 1.0 / np.maximum(f, 1e-12), 0.0)
    inv = inv / max(inv.max(), 1e-12)
    rare = (p * inv[None]).sum(1)
    return np.stack([frac_ign, present, ent, rare], 1)
