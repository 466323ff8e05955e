"""CoIDO phase 0a: the feature bank of the FULL training set.

    python tools/coido/extract_features.py CONFIG [--out FILE]
        [--checkpoint CKPT] [--cfg-options k=v ...]

Iterates ``train_dataloader.dataset`` with the test-style pipeline of
``coido.extract.pipeline`` (no augmentation; labels loaded), in index order,
so row i of the bank is ``sample_idx`` i. Per sample it stores

* an embedding ``(D,)``, L2-normalised, from ``coido.extract.embedder``:
  ``dict(source='backbone')`` the model's own ``extract_feat`` pooled (the
  last output: a ``(B, C)`` tensor as is - e.g. the dense CLIP backbone's
  CLS token - a ``(B, C, H, W)`` map averaged, a list of per-scene
  ``(N_i, C)`` averaged); ``dict(source='module', module=dict(type=...))``
  any registered module on the preprocessed inputs, pooled the same way
  (e.g. ``DenseCLIPViT`` with CLIP weights); ``dict(source='points',
  columns=(6, 518))`` the mean and std of point-feature columns (3D: the
  lifted CLIP features of GeoPurify). ``checkpoint=`` loads weights.
* label statistics (ignore fraction, classes present, label entropy,
  rare-class mass; min-max to [-1, 1]) from ``gt_sem_seg`` (2D) or
  ``gt_pts_seg.pts_semantic_mask`` (3D); without labels: log #elements.
  ``coido.extract.stats=[...]`` keeps a subset (``[]``: none).
* the per-sample class histogram, a valid flag, the image/scene paths and
  the data-list hash (``feature_bank.pt``, one file).
"""
import argparse
import copy
import os.path as osp
import sys
import time

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
import _common  # noqa: E402,F401

import numpy as np  # noqa: E402
import torch  # noqa: E402


def _pool(out) -> torch.Tensor:
    """Pool a model output to ``(B, C)`` (see module docstring).

    A *list* of 2-D tensors is per-sample features (3D scenes, ``(N_i, C)``
    each): each is averaged. Otherwise the last element of a list/tuple is
    used: ``(B, C)`` as is (CLS token), ``(B, C, ...)`` averaged over space.
    """
    if isinstance(out, list) and out and all(
            torch.is_tensor(o) and o.ndim == 2 for o in out):
        return torch.stack([o.float().mean(0) for o in out])
    if isinstance(out, (list, tuple)):
        return _pool(out[-1])
    if out.ndim == 2:
        return out.float()
    if out.ndim >= 3:
        return out.float().flatten(2).mean(-1)
    raise ValueError(f'cannot pool an output of shape {tuple(out.shape)}.')


def _labels(ds, num_classes: int):
    """Flat label tensor of a data sample (None: unlabelled)."""
    if hasattr(ds, 'gt_sem_seg'):
        return ds.gt_sem_seg.data.flatten()
    seg = getattr(ds, 'gt_pts_seg', None)
    if seg is not None and hasattr(seg, 'pts_semantic_mask'):
        return torch.as_tensor(seg.pts_semantic_mask).flatten()
    return None


def _elements(inputs, i: int) -> int:
    if isinstance(inputs, dict) and 'points' in inputs:
        return int(inputs['points'][i].shape[0])
    x = inputs[i] if not torch.is_tensor(inputs) else inputs[i]
    return int(x[0].numel())


def build_dataset(cfg, pipeline):
    from mmengine.registry import DATASETS
    dcfg = copy.deepcopy(cfg.train_dataloader.dataset)
    if pipeline is not None:
        dcfg['pipeline'] = pipeline
    ds = DATASETS.build(dcfg)
    ds.full_init()
    return ds


def _inner_model_cfg(cfg, override=None):
    m = copy.deepcopy(override or cfg.model)
    while m.get('type') == 'CoIDOSegmentor':
        m = m['segmentor']
    return m


def extract(cfg, out: str, checkpoint=None, log=print) -> dict:
    """Write the feature bank for ``cfg``; returns a timing/info dict."""
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import MODELS, init_default_scope
    from mmengine.runner import load_checkpoint

    from ovseg_plugins.engine.utils import atomic_save_torch, data_list_hash
    from ovseg_plugins.engine.utils.feature_bank import (STAT_NAMES,
                                                         label_stats,
                                                         minmax_pm1)
    t0 = time.perf_counter()
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    ex = dict(cfg.get('coido', {}).get('extract', {}))
    pipeline = ex.get('pipeline')
    if pipeline is None:
        raise KeyError('coido.extract.pipeline is missing: give a test-style '
                       'pipeline that also loads the labels (no random '
                       'crop/flip).')
    emb_cfg = dict(ex.get('embedder', dict(source='backbone')))
    bs = int(ex.get('batch_size', 1))
    ds = build_dataset(cfg, pipeline)
    n = len(ds)
    classes = ds.metainfo.get('classes') or ()
    C = len(classes)
    model = MODELS.build(_inner_model_cfg(cfg, ex.get('model')))
    model.eval()
    ckpt = checkpoint or emb_cfg.get('checkpoint')
    if ckpt:
        load_checkpoint(model, ckpt, map_location='cpu', strict=False)
    source = emb_cfg.get('source', 'backbone')
    module = None
    if source == 'module':
        module = MODELS.build(emb_cfg['module'])
        module.eval()
    elif source not in ('backbone', 'points'):
        raise ValueError(f'coido.extract.embedder.source must be backbone, '
                         f'module or points, got {source!r}.')
    embs, hists, n_ign, n_el, has_lab, paths = [], [], [], [], [], []
    loader = torch.utils.data.DataLoader(
        ds, batch_size=bs, shuffle=False, collate_fn=pseudo_collate,
        num_workers=int(ex.get('num_workers', 0)))
    done, t_last = 0, time.perf_counter()
    with torch.no_grad():
        for batch in loader:
            data = model.data_preprocessor(batch, False)
            inputs, samples = data['inputs'], data['data_samples']
            if source == 'points':
                a, b = emb_cfg.get('columns', (6, None))
                f = [p[:, a:b].float() for p in inputs['points']]
                e = torch.stack([torch.cat([x.mean(0), x.std(0)]) for x in f])
            elif source == 'module':
                e = _pool(module(inputs))
            else:
                e = _pool(model.extract_feat(inputs))
            embs.append(torch.nn.functional.normalize(e, dim=1).cpu())
            for i, s in enumerate(samples):
                lab = _labels(s, C)
                m = s.metainfo
                paths.append(m.get('img_path') or m.get('lidar_path') or '')
                if lab is None or C == 0:
                    hists.append(np.zeros(max(C, 1)))
                    n_ign.append(0)
                    has_lab.append(False)
                    n_el.append(_elements(inputs, i))
                    continue
                lab = lab.long()
                ok = (lab >= 0) & (lab < C)
                hists.append(torch.bincount(lab[ok], minlength=C).numpy())
                n_ign.append(int((~ok).sum()))
                n_el.append(int(lab.numel()))
                has_lab.append(True)
            done += len(samples)
            if time.perf_counter() - t_last > 10 or done == n:
                log(f'[extract] {done}/{n} samples '
                    f'({time.perf_counter() - t0:.1f} s)')
                t_last = time.perf_counter()
    if done != n:
        raise RuntimeError(f'extracted {done} samples, dataset has {n}.')
    emb = torch.cat(embs)
    hist = np.stack(hists).astype(np.float64)
    labelled = np.asarray(has_lab)
    if labelled.any():
        raw = label_stats(hist, np.asarray(n_ign, float))
        names = list(STAT_NAMES)
        valid = hist.sum(1) > 0
    else:
        raw = np.log1p(np.asarray(n_el, float))[:, None]
        names = ['log_num_elements']
        valid = np.ones(n, bool)
    keep = ex.get('stats', None)  # subset of the statistics ([] = none)
    if keep is not None:
        unknown = [k for k in keep if k not in names]
        if unknown:
            raise KeyError(f'coido.extract.stats: unknown {unknown}; '
                           f'available: {names}.')
        raw = raw[:, [names.index(k) for k in keep]]
        names = list(keep)
    stats = minmax_pm1(raw) if raw.shape[1] else np.zeros((n, 0), np.float32)
    obj = dict(embeddings=emb.float(), stats=torch.from_numpy(stats),
               stats_raw=torch.from_numpy(raw.astype(np.float32)),
               stat_names=names,
               class_hist=torch.from_numpy(
                   (hist / np.maximum(hist.sum(1, keepdims=True), 1)).astype(
                       np.float32)) if labelled.any() else None,
               valid=torch.from_numpy(valid), sample_idx=torch.arange(n),
               paths=paths, classes=list(classes),
               data_list_hash=data_list_hash(ds),
               encoder=dict(source=source, checkpoint=ckpt,
                            module=emb_cfg.get('module')),
               num_samples=n)
    atomic_save_torch(out, obj)
    dt = time.perf_counter() - t0
    log(f'[extract] wrote {out}: N={n}, D={emb.shape[1]}, stats={names}, '
        f'hash={obj["data_list_hash"]} ({dt:.1f} s)')
    return dict(seconds=dt, n=n, dim=int(emb.shape[1]))


def main(argv=None):
    from mmengine.config import Config, DictAction

    from _common import coido_dir, paths
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config')
    p.add_argument('--out', help='default: <coido dir>/feature_bank.pt')
    p.add_argument('--checkpoint', help='weights for the embedder')
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    a = p.parse_args(argv)
    cfg = Config.fromfile(a.config)
    if a.cfg_options:
        cfg.merge_from_dict(a.cfg_options)
    extract(cfg, a.out or paths(coido_dir(cfg))['bank'], a.checkpoint)


if __name__ == '__main__':
    main()
