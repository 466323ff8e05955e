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
  (e.g. ``DenseCLIPViT`` with CLIP weights); ``dict(source='simclr',
  steps=500)`` the model's backbone first trained self-supervised (SimCLR,
  no labels, no weights; ``ovseg_plugins.coido.utils.simclr``) on the
  training images of this pipeline, then pooled as ``backbone`` (options:
  ``batch_size=128, tau=0.2, view_size=48, lr=1e-3, weight_decay=1e-4,
  proj_dim=64, cache=True`` - keep the preprocessed images in memory,
  False re-loads them every step; ``cache_side=4 * view_size`` - images
  are downsampled to this shorter side first: a view is a crop of >= 1/2
  of the shorter side resized to ``view_size``, so no view loses detail;
  the bank itself embeds the full-size images); ``dict(source='points',
  columns=(6, 518))`` the mean and std of point-feature columns (3D: the
  lifted CLIP features of GeoPurify). ``checkpoint=`` loads weights;
  ``seed=0`` fixes the model's initialisation and the SimCLR draws.
* label statistics (ignore fraction, classes present, label entropy,
  rare-class mass; min-max to [-1, 1]) from ``gt_sem_seg`` (2D) or
  ``gt_pts_seg.pts_semantic_mask`` (3D); without labels: log #elements.
  ``coido.extract.stats=[...]`` keeps a subset (``[]``: none).
* the per-sample class histogram, a valid flag, the labelled fraction of
  the pixels/points (``valid_frac``), the image/scene paths and the
  data-list hash (``feature_bank.pt``, one file).
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


SIMCLR_KEYS = ('batch_size', 'tau', 'view_size', 'lr', 'weight_decay',
               'proj_dim')


def _simclr(model, ds, emb_cfg: dict, log) -> dict:
    """Train ``model.backbone`` in place with SimCLR on the images of
    ``ds`` (preprocessed by the model's data preprocessor, one at a time);
    returns what the bank records about it."""
    from mmengine.dataset import pseudo_collate

    from ovseg_plugins.coido.utils.simclr import train_simclr
    bad = set(emb_cfg) - {'source', 'steps', 'seed', 'checkpoint', 'cache',
                          'cache_side', *SIMCLR_KEYS}
    if bad:
        raise KeyError(f'coido.extract.embedder (source="simclr"): unknown '
                       f'keys {sorted(bad)}; allowed: steps, seed, cache, '
                       f'cache_side, checkpoint, {", ".join(SIMCLR_KEYS)}.')
    if not hasattr(model, 'backbone'):
        raise TypeError('embedder source "simclr" trains the model\'s '
                        f'backbone; {type(model).__name__} has none.')
    t0 = time.perf_counter()

    def load(i):
        data = model.data_preprocessor(pseudo_collate([ds[int(i)]]), False)
        x = data['inputs']
        if isinstance(x, dict) or not torch.is_tensor(x[0]) or \
                x[0].ndim != 3:
            raise TypeError(
                'embedder source "simclr" needs image inputs (3, H, W); '
                'this dataset gives ' + (f'{sorted(x)}' if isinstance(
                    x, dict) else f'{type(x[0]).__name__}') +
                ' (point clouds: use source="points" or "backbone").')
        x = x[0].float()
        f = side / min(x.shape[-2:])
        if f < 1:  # views never need more pixels than this (module doc)
            x = torch.nn.functional.interpolate(
                x[None], scale_factor=f, mode='bilinear', antialias=True,
                align_corners=False)[0]
        return x

    # a view is >= 1/2 of the shorter side resized to view_size px, so
    # images are kept at a shorter side of at most 4 x view_size
    side = int(emb_cfg.get('cache_side',
                           4 * int(emb_cfg.get('view_size', 48))))
    n = len(ds)
    cache = [load(i) for i in range(n)] if emb_cfg.get('cache', True) \
        else None
    losses = train_simclr(
        model.backbone,
        lambda idx: [cache[i] if cache is not None else load(i)
                     for i in idx.tolist()], n,
        int(emb_cfg.get('steps', 500)),
        **{k: emb_cfg[k] for k in SIMCLR_KEYS if k in emb_cfg},
        log=log)
    model.eval()
    info = dict(steps=len(losses), loss_first=losses[0],
                loss_last=float(np.mean(losses[-20:])),
                seconds=time.perf_counter() - t0)
    log(f'[extract] SimCLR {info["steps"]} steps: NT-Xent '
        f'{info["loss_first"]:.3f} -> {info["loss_last"]:.3f} '
        f'({info["seconds"]:.1f} s)')
    return info


def extract(cfg, out: str, checkpoint=None, log=print) -> dict:
    """Write the feature bank for ``cfg``; returns a timing/info dict. The
    embedder's ``seed`` is used on a forked torch RNG (the caller's RNG
    state is left as it was)."""
    with torch.random.fork_rng():
        return _extract(cfg, out, checkpoint, log)


def _extract(cfg, out: str, checkpoint=None, log=print) -> dict:
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import MODELS, init_default_scope
    from mmengine.runner import load_checkpoint

    from ovseg_plugins.coido.utils import atomic_save_torch, data_list_hash
    from ovseg_plugins.coido.utils.feature_bank import (STAT_NAMES,
                                                         label_stats,
                                                         minmax_pm1)
    from ovseg_plugins.coido.utils.simclr import pool_embedding
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
    source = emb_cfg.get('source', 'backbone')
    if source not in ('backbone', 'module', 'points', 'simclr'):
        raise ValueError(f'coido.extract.embedder.source must be backbone, '
                         f'module, simclr or points, got {source!r}.')
    torch.manual_seed(int(emb_cfg.get('seed', 0)))  # init + SimCLR draws
    model = MODELS.build(_inner_model_cfg(cfg, ex.get('model')))
    model.eval()
    ckpt = checkpoint or emb_cfg.get('checkpoint')
    if ckpt:
        load_checkpoint(model, ckpt, map_location='cpu', strict=False)
    module = None
    if source == 'module':
        module = MODELS.build(emb_cfg['module'])
        module.eval()
    ssl = _simclr(model, ds, emb_cfg, log) if source == 'simclr' else None
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
                e = pool_embedding(module(inputs))
            else:
                e = pool_embedding(model.extract_feat(inputs))
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
               valid_frac=torch.from_numpy(np.where(
                   labelled, 1 - np.asarray(n_ign, float) /
                   np.maximum(np.asarray(n_el, float), 1), 0.).astype(
                       np.float32)),
               paths=paths, classes=list(classes),
               data_list_hash=data_list_hash(ds),
               encoder=dict(source=source, checkpoint=ckpt,
                            module=emb_cfg.get('module'),
                            **({} if ssl is None else dict(simclr=ssl))),
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
