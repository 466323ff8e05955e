"""CoIDO phase 0a: the feature bank of the FULL training set."""
import copy
import time
from typing import Callable, Optional

import numpy as np
import torch

EMBEDDER_SOURCES = ('backbone', 'module', 'points')
EXTRACT_KEYS = ('pipeline', 'embedder', 'batch_size', 'num_workers')


def pool_embedding(out) -> torch.Tensor:
    """Pool a backbone / ``extract_feat`` output to ``(B, C)``.

    A *list* of 2-D tensors is per-sample features (3D scenes, ``(N_i, C)``
    each): each is averaged. Otherwise the last element of a list/tuple is
    used: ``(B, C)`` as is (e.g. a CLS token), ``(B, C, ...)`` averaged over
    the spatial dimensions.
    """
    if isinstance(out, list) and out and all(
            torch.is_tensor(o) and o.ndim == 2 for o in out):
        return torch.stack([o.float().mean(0) for o in out])
    if isinstance(out, (list, tuple)):
        if not out:
            raise ValueError('cannot pool an empty model output.')
        return pool_embedding(out[-1])
    if out.ndim == 2:
        return out.float()
    if out.ndim >= 3:
        return out.float().flatten(2).mean(-1)
    raise ValueError(f'cannot pool an output of shape {tuple(out.shape)}.')


def _labels(ds) -> Optional[torch.Tensor]:
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
    return int(inputs[i][0].numel())


def inner_model_cfg(model_cfg: dict) -> dict:
    """The segmentor of a (possibly ``CoIDOSegmentor``-wrapped) model."""
    m = copy.deepcopy(model_cfg)
    while m.get('type') == 'CoIDOSegmentor':
        m = m['segmentor']
    return m


def default_extract_pipeline(cfg) -> list:
    """The test pipeline of the config (no augmentation; it loads the
    labels in mmseg / mmdet3d test pipelines): ``test_dataloader`` (or
    ``val_dataloader``) dataset's ``pipeline``."""
    for k in ('test_dataloader', 'val_dataloader'):
        dl = cfg.get(k)
        if dl and dl.get('dataset') and dl['dataset'].get('pipeline'):
            return copy.deepcopy(dl['dataset']['pipeline'])
    raise KeyError('coido.extract.pipeline is not set and the config has no '
                   'test/val pipeline to use instead: give a test-style '
                   'pipeline (no random crop/flip) that loads the labels.')


def build_extract_dataset(cfg, pipeline):
    """``train_dataloader.dataset`` with ``pipeline``, fully initialised."""
    from mmengine.registry import DATASETS
    dcfg = copy.deepcopy(cfg.train_dataloader.dataset)
    dcfg['pipeline'] = pipeline
    try:
        ds = DATASETS.build(dcfg)
        ds.full_init()
    except FileNotFoundError as e:
        root = dcfg.get('data_root')
        raise FileNotFoundError(
            f'the training set of the config could not be read ({e}); '
            f'train_dataloader.dataset.data_root is {root!r}: point it at '
            'your data with --cfg-options data_root=/path/to/data (moves '
            'every dataloader) or train_dataloader.dataset.data_root=...'
        ) from e
    return ds


def extract_feature_bank(cfg, out: str, checkpoint: Optional[str] = None,
                         log: Callable[[str], None] = print) -> dict:
    """Write ``feature_bank.pt`` for the training set of ``cfg``.

    Iterates ``train_dataloader.dataset`` with the test-style pipeline of
    ``coido.extract.pipeline`` (default: the config's test pipeline), in
    index order, so row i of the bank is ``sample_idx`` i. Per sample:

    * an embedding ``(D,)``, L2-normalised, from ``coido.extract.embedder``:
      ``dict(source='backbone')`` (default) the model's ``extract_feat``
      pooled (:func:`pool_embedding`); ``dict(source='module',
      module=dict(type=...))`` any registered module (e.g. ``DenseCLIPViT``
      with CLIP weights, ``checkpoint=``) on the preprocessed inputs;
      ``dict(source='points', columns=(a, b))`` the mean and std of point
      feature columns ``a:b`` (3D, e.g. GeoPurify's lifted CLIP features);
    * label statistics (ignore fraction, classes present, label entropy,
      rare-class mass; min-max to [-1, 1]) from ``gt_sem_seg`` (2D) or
      ``gt_pts_seg.pts_semantic_mask`` (3D); without labels: log #elements;
    * the class histogram, a valid flag, the labelled fraction
      (``valid_frac``), the paths, the data-list hash, and ``bank_stamp``
      (the content's hash, carried by every later CoIDO file).

    The embedder's ``seed`` (default 0) fixes the model's initialisation on
    a forked torch RNG (the caller's RNG is left as it was).

    Args:
        cfg (Config): A training config (plain or ``CoIDOSegmentor``).
        out (str): Output path, written atomically.
        checkpoint (str, optional): Weights of the model (overrides
            ``embedder.checkpoint``).
        log (callable): Progress messages.

    Returns:
        dict: ``seconds``, ``n``, ``dim``, ``bank_stamp``.
    """
    with torch.random.fork_rng():
        return _extract(cfg, out, checkpoint, log)


def _check_extract_cfg(ex: dict, emb: dict) -> None:
    bad = set(ex) - set(EXTRACT_KEYS)
    if bad:
        raise KeyError(f'coido.extract: unknown keys {sorted(bad)}; allowed: '
                       f'{", ".join(EXTRACT_KEYS)}.')
    src = emb.get('source', 'backbone')
    if src not in EMBEDDER_SOURCES:
        raise ValueError('coido.extract.embedder.source must be one of '
                         f'{EMBEDDER_SOURCES}, got {src!r}.')
    allowed = {'source', 'seed', 'checkpoint'} | (
        {'module'} if src == 'module' else
        {'columns'} if src == 'points' else set())
    bad = set(emb) - allowed
    if bad:
        raise KeyError(f'coido.extract.embedder (source={src!r}): unknown '
                       f'keys {sorted(bad)}; allowed: {sorted(allowed)}.')
    if src == 'module' and not isinstance(emb.get('module'), dict):
        raise KeyError('coido.extract.embedder (source=\'module\') needs '
                       'module=dict(type=...), a registered module.')
    for k in ('batch_size', 'num_workers'):
        v = ex.get(k, 1 if k == 'batch_size' else 0)
        if isinstance(v, bool) or not isinstance(v, int) or \
                v < (1 if k == 'batch_size' else 0):
            raise ValueError(f'coido.extract.{k} must be an integer >= '
                             f'{1 if k == "batch_size" else 0}, got {v!r}.')


def _extract(cfg, out: str, checkpoint=None, log=print) -> dict:
    from mmengine.dataset import pseudo_collate
    from mmengine.registry import MODELS, init_default_scope
    from mmengine.runner import load_state_dict

    from ovseg_plugins.utils.checkpoint import load_torch_file

    from ..utils import atomic_save_torch, data_list_hash
    from ..utils.feature_bank import STAT_NAMES, label_stats, minmax_pm1
    from ..utils.validation import bank_stamp
    t0 = time.perf_counter()
    init_default_scope(cfg.get('default_scope', 'mmseg'))
    ex = dict((cfg.get('coido') or {}).get('extract') or {})
    emb_cfg = dict(ex.get('embedder') or dict(source='backbone'))
    _check_extract_cfg(ex, emb_cfg)
    pipeline = ex.get('pipeline') or default_extract_pipeline(cfg)
    bs = int(ex.get('batch_size', 1))
    ds = build_extract_dataset(cfg, pipeline)
    n = len(ds)
    if n < 2:
        raise ValueError(f'the training set has {n} sample(s); CoIDO needs '
                         'at least 2 (check train_dataloader.dataset).')
    classes = ds.metainfo.get('classes') or ()
    C = len(classes)
    source = emb_cfg.get('source', 'backbone')
    torch.manual_seed(int(emb_cfg.get('seed', 0)))  # model initialisation
    model = MODELS.build(inner_model_cfg(cfg.model))
    model.eval()
    ckpt = checkpoint or emb_cfg.get('checkpoint')
    if ckpt:
        state = load_torch_file(ckpt, 'embedder checkpoint')
        state = state.get('state_dict', state) if isinstance(state, dict) \
            else state
        if not isinstance(state, dict):
            raise ValueError(f'embedder checkpoint {ckpt!r} holds a '
                             f'{type(state).__name__}, not a state dict.')
        load_state_dict(model, {(k[7:] if k.startswith('module.') else k): v
                                for k, v in state.items()}, strict=False)
    if source == 'backbone':
        log(f'feature bank: the model\'s backbone with '
            + (f'the weights of {ckpt}' if ckpt else
               f'its initial weights (seed {int(emb_cfg.get("seed", 0))}); '
               'the config\'s pretrained / init_cfg weights are not loaded '
               '(give coido.extract.embedder.checkpoint=FILE for trained '
               'weights, or source=\'module\' with a CLIP backbone)'))
    module = None
    if source == 'module':
        module = MODELS.build(emb_cfg['module'])
        module.eval()
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
                e = torch.stack([torch.cat([x.mean(0), x.std(0, correction=0)])
                                 for x in f])
            elif source == 'module':
                e = pool_embedding(module(inputs))
            else:
                e = pool_embedding(model.extract_feat(inputs))
            if not bool(torch.isfinite(e).all()):
                raise FloatingPointError(
                    f'coido.extract.embedder ({source}) gave NaN/inf for '
                    f'samples {done}..{done + len(samples) - 1} (first path '
                    f'{samples[0].metainfo.get("img_path") or samples[0].metainfo.get("lidar_path")!r}); '  # noqa: E501
                    'check the inputs and the checkpoint.')
            embs.append(torch.nn.functional.normalize(e, dim=1).cpu())
            for i, s in enumerate(samples):
                lab = _labels(s)
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
    emb = torch.cat(embs).float()
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
    stats = torch.from_numpy(minmax_pm1(raw))
    h = data_list_hash(ds)
    obj = dict(embeddings=emb, stats=stats,
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
               paths=paths, classes=list(classes), data_list_hash=h,
               bank_stamp=bank_stamp(emb, stats, h), phase='extract',
               encoder=dict(source=source, checkpoint=ckpt,
                            module=emb_cfg.get('module')),
               num_samples=n)
    atomic_save_torch(out, obj)
    dt = time.perf_counter() - t0
    log(f'[extract] wrote {out}: N={n}, D={emb.shape[1]}, stats={names}, '
        f'hash={h} ({dt:.1f} s)')
    return dict(seconds=dt, n=n, dim=int(emb.shape[1]),
                bank_stamp=obj['bank_stamp'])
