"""Can a label-noise signal tell the corrupted crops of the CoIDO controlled
set from the informative ones?

    OMP_NUM_THREADS=1 python experiments/coido/noise_signals.py
        [--data ../shared/data/rs/loveda] [--iters 25 100 500]
        [--ssl-steps 500] [--oracle-noise 0 0.2 0.5]
        [--work-dir work_dirs/coido_noise_signals]

CoIDO keeps the hardest samples, so on the controlled set
(``controlled_experiment.py``: easy near-duplicates, informative
crops, crops with class-permuted labels) it can only beat random if a guard
removes the corrupted crops first. This script measures, on the same set,
how well each available signal separates corrupted from informative crops:
AUROC (0.5 = chance, 1 = perfect) and how many of each kind the selection
hook's rule (modified z-score > 3.5 over all N) would drop.

Signals:

* ``knn_label`` (the guard of ``guards.py``) on the feature bank (pooled untrained
  backbone, as in the experiment), k = 5 / 10 / 20, and k = 10 without the
  neighbours whose windows share pixels with the query's (the informative
  windows of the set are >= 16 px apart but overlap, so identical pixels
  with other labels exist elsewhere: a leak a real dataset does not have);
* the same guard on embeddings learnt here without labels or weights:
  SimCLR on the training crops (the FCN's own backbone, ``--ssl-steps``),
  with and without the pixel-sharing neighbours;
* the same guard on the oracle semantic stand-in of the experiment's
  ``--embedder oracle`` (clean-label class fractions per quadrant + noise
  of std ``--oracle-noise``): what a pretrained encoder would have to
  deliver;
* dense k-NN label transfer: every 8x8 cell of a crop takes the labels of
  its k = 10 most similar cells of OTHER crops; signal = mean over the
  crop's labelled cells of (top vote share - vote share of its own label)
  (Deep k-NN for noisy labels, Bahri et al. 2020, per cell). Cell features:
  the untrained backbone's feature map, or per-cell colour mean/std. Run
  twice: with every other crop as a neighbour, and without the crops whose
  windows share pixels with the query's;
* ``knn_label`` on the SimCLR embeddings with mutually independent
  neighbours (``independent_neighbours``): no neighbour shares pixels with
  the query NOR with a nearer chosen neighbour, so k copies of one window
  count once (the ``exclude`` rationale applied between neighbours too);
* ``knn_label`` on an encoder pretrained SUPERVISED on another labelled
  aerial dataset (``--potsdam``: the Potsdam tile, 2x subsampled, the
  config's FCN, 500 steps; ``potsdam_encoder``): a pretrained encoder that
  can be computed here without downloads and without the controlled set's
  labels;
* the per-crop CE of the same FCN trained on a random 20 % for T
  iterations (T = 25 is phase 1 of the experiment; 500 = a full phase 2),
  on the crops it did not train on.
"""
import argparse
import copy
import json
import os.path as osp
import sys

import numpy as np
import torch

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from controlled_experiment import (  # noqa: E402
    CROP, DEFAULT_DATA, ROOT, build_controlled_dataset, load_configs,
    load_tiles, normalise, oracle_semantic_embeddings, overlapping_windows,
    set_iters, set_subset, train_crops)

IGNORE = -1


def cell_labels(labels: np.ndarray, grid: int) -> np.ndarray:
    """``(N, H, W)`` int labels (``IGNORE`` = unlabelled) -> ``(N, grid²)``
    majority label of each cell, ``IGNORE`` where under half is labelled."""
    n, h, w = labels.shape
    sy, sx = h // grid, w // grid
    cells = labels[:, :grid * sy, :grid * sx].reshape(
        n, grid, sy, grid, sx).transpose(0, 1, 3, 2, 4).reshape(
            n, grid * grid, sy * sx)
    ncls = int(labels.max()) + 1
    cnt = np.stack([(cells == c).sum(-1) for c in range(max(ncls, 1))], -1)
    return np.where(cnt.sum(-1) * 2 >= sy * sx, cnt.argmax(-1), IGNORE)


def dense_transfer_margin(feats: torch.Tensor, cells: np.ndarray,
                          k: int = 10, exclude=None) -> np.ndarray:
    """Per crop: how confidently its k-NN cells (of other crops) vote for a
    label other than its own.

    Args:
        feats (Tensor): ``(N, P, D)`` cell features (cosine similarity).
        cells (np.ndarray): ``(N, P)`` cell labels, ``IGNORE`` = unlabelled
            (such cells neither query nor vote).
        k (int): Voting cells per query cell.
        exclude (np.ndarray, optional): ``(N, N)`` bool, crops that may not
            vote for a crop (the crop itself never votes for itself).

    Returns:
        np.ndarray: ``(N,)`` in [0, 1]: the mean over the crop's labelled
        cells of ``max_c share_c - share_own`` (0 = its labels agree with
        the majority of similar cells elsewhere); 0 for an unlabelled crop.
    """
    n, p, _ = feats.shape
    f = torch.nn.functional.normalize(feats.float().reshape(n * p, -1), dim=1)
    lab = np.asarray(cells).reshape(-1)
    owner = np.repeat(np.arange(n), p)
    ncls = int(lab.max()) + 1 if (lab >= 0).any() else 1
    out = np.zeros(n)
    for i in range(n):
        own = np.asarray(cells[i])
        ok = own >= 0
        if not ok.any():
            continue
        ban = np.zeros(n, bool) if exclude is None else \
            np.array(exclude[i], bool)
        ban[i] = True
        voters = torch.from_numpy(~ban[owner] & (lab >= 0))
        kk = int(min(k, int(voters.sum())))
        if kk < 1:
            continue
        sim = f[i * p:(i + 1) * p][torch.from_numpy(ok)] @ f.T
        sim[:, ~voters] = -float('inf')
        votes = lab[sim.topk(kk, dim=1).indices.numpy()]  # (p_ok, kk)
        share = np.stack([(votes == c).mean(1) for c in range(ncls)], 1)
        mine = share[np.arange(len(share)), own[ok]]
        out[i] = float((share.max(1) - mine).mean())
    return out


def independent_neighbours(embed: torch.Tensor, exclude,
                           k: int = 10) -> torch.Tensor:
    """``(N, k)`` nearest rows (cosine) of every row, in cosine order,
    skipping a candidate that is excluded with the query or with a nearer
    neighbour already chosen (``exclude``: ``(N, N)`` bool, e.g. windows
    sharing pixels), so a group of mutually excluded rows gives at most one
    neighbour. When fewer than ``k`` such rows exist, the nearest remaining
    rows not excluded with the query fill the list."""
    e = torch.nn.functional.normalize(embed.float(), dim=1)
    sim = (e @ e.T).numpy()
    n = len(sim)
    ex = np.asarray(exclude, bool)
    out = []
    for i in range(n):
        order = [j for j in np.argsort(-sim[i], kind='stable')
                 if j != i and not ex[i, j]]
        acc = []
        for j in order:
            if not ex[j, acc].any():
                acc.append(j)
                if len(acc) == k:
                    break
        acc += [j for j in order if j not in acc][:k - len(acc)]
        if len(acc) < k:
            raise ValueError(f'row {i} has only {len(acc)} allowed '
                             f'neighbours, k = {k}.')
        out.append(acc)
    return torch.as_tensor(np.asarray(out, dtype=np.int64))


def potsdam_encoder(model_cfg, src: str, steps: int = 500, batch: int = 16,
                    seed: int = 0):
    """The config's segmentor trained SUPERVISED on the labelled Potsdam
    tile(s) in ``src`` (mmseg layout, 2x subsampled, ``reduce_zero_label``:
    PNG 0 = ignore; 6 classes), random ``CROP``-px crops with h/v flips,
    AdamW 3e-3: an encoder pretrained on another aerial dataset, disjoint
    from the LoveDA tiles of the controlled set. Returns
    ``(backbone, losses)``."""
    from mmengine.registry import MODELS
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    cfg = copy.deepcopy(model_cfg)
    cfg.decode_head.num_classes = 6
    net = MODELS.build(cfg)
    tiles = [(normalise(img, cfg.data_preprocessor), torch.from_numpy(
        np.where(lab == 0, 255, lab.astype(np.int64) - 1)))
        for _, img, lab in load_tiles(src)]
    opt = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=1e-4)
    losses = []
    for _ in range(steps):
        xs, ys = [], []
        for _ in range(batch):
            x, y = tiles[rng.integers(len(tiles))]
            r = rng.integers(0, y.shape[0] - CROP + 1)
            c = rng.integers(0, y.shape[1] - CROP + 1)
            a, b = x[:, r:r + CROP, c:c + CROP], y[r:r + CROP, c:c + CROP]
            if rng.random() < 0.5:
                a, b = a.flip(2), b.flip(1)
            if rng.random() < 0.5:
                a, b = a.flip(1), b.flip(0)
            xs.append(a)
            ys.append(b)
        logit = torch.nn.functional.interpolate(
            net.decode_head(net.extract_feat(torch.stack(xs))),
            size=(CROP, CROP), mode='bilinear', align_corners=False)
        loss = torch.nn.functional.cross_entropy(logit, torch.stack(ys),
                                                 ignore_index=255)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(loss.item())
    net.backbone.eval()  # mmseg's ResNet.train() returns None
    return net.backbone, losses


def _auroc(kinds, signal):
    from sklearn.metrics import roc_auc_score
    hard = kinds != 'easy'
    return float(roc_auc_score(kinds[hard] == 'corrupted', signal[hard]))


def _row(name, kinds, signal, subset=None, log=print):
    from guards import robust_z
    signal = np.asarray(signal, float)
    flag = robust_z(signal) > 3.5
    keep = np.ones(len(kinds), bool) if subset is None else subset
    means = ' '.join(f'{signal[keep & (kinds == k)].mean():7.3f}'
                     for k in ('easy', 'informative', 'corrupted'))
    auc = _auroc(kinds[keep], signal[keep])
    log(f'{name:<58} {auc:6.3f} {means}   '
        f'{int((flag & (kinds == "informative")).sum()):3d}/'
        f'{int((flag & (kinds == "corrupted")).sum()):<3d}')
    return auc


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--data', default=DEFAULT_DATA)
    p.add_argument('--iters', type=int, nargs='*', default=[25, 100, 500])
    p.add_argument('--ssl-steps', type=int, default=500)
    p.add_argument('--oracle-noise', type=float, nargs='*',
                   default=[0., 0.2, 0.5])
    p.add_argument('--potsdam', default=osp.join(
        ROOT, '..', 'shared', 'data', 'rs', 'potsdam'),
        help='labelled Potsdam tile(s) for the supervised-pretrained encoder '
        '(skipped when absent)')
    p.add_argument('--work-dir', default='work_dirs/coido_noise_signals')
    a = p.parse_args(argv)
    from mmengine.registry import DATASETS, MODELS, init_default_scope
    from mmengine.runner import Runner
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample

    from guards import knn_label_inconsistency, label_disagreement
    from ovseg_plugins.coido.apis import extract_feature_bank, pool_embedding
    from ovseg_plugins.coido.models.per_sample_loss import \
        pixel_ce_per_sample
    from ovseg_plugins.coido.utils import (atomic_write_json,
                                            data_list_hash, draw_subset)
    from simclr import train_simclr

    data = osp.join(a.work_dir, 'data')
    meta = build_controlled_dataset(a.data, data)
    kinds = np.asarray(meta['kinds'])
    n = len(kinds)
    p2 = load_configs(data)
    p2.coido.extract.embedder = dict(source='backbone')  # untrained
    bank_file = osp.join(a.work_dir, 'feature_bank.pt')
    extract_feature_bank(p2, bank_file, log=lambda m: None)
    from ovseg_plugins.utils import load_torch_file
    bank = load_torch_file(bank_file, 'feature bank')

    imgs, labels, x = train_crops(data, n, p2.model.data_preprocessor)
    # an untrained backbone like the bank's embedder (PyTorch default init,
    # seed 0; extract_feature_bank does not call init_weights either)
    torch.manual_seed(0)
    init_default_scope('mmseg')
    net = MODELS.build(copy.deepcopy(p2.model)).eval()
    with torch.no_grad():
        fmap = net.extract_feat(x)[-1]  # (N, C, g, g)
    g = fmap.shape[-1]
    cells = cell_labels(labels, g)
    bb = fmap.flatten(2).transpose(1, 2)  # (N, g², C)
    s = CROP // g
    blocks = torch.from_numpy(imgs).float().reshape(
        n, g, s, g, s, 3).permute(0, 1, 3, 2, 4, 5).reshape(n, g * g, s * s, 3)
    col = torch.cat([blocks.mean(2), blocks.std(2)], -1)
    col = (col - col.reshape(-1, 6).mean(0)) / col.reshape(-1, 6).std(0)
    overlap = overlapping_windows(meta['positions'], CROP)

    print(f'{n} crops {dict(zip(*np.unique(kinds, return_counts=True)))}; '
          f'{g}x{g} cells of {s}x{s} px')
    print(f'{"signal (higher = more suspicious)":<58} {"AUROC":>6} '
          f'{"mean easy/informative/corrupted":>23}   dropped inf/cor '
          '(z > 3.5)')
    res = {}
    hist = bank['class_hist']

    def knn_rows(key, name, emb):
        """``knn_label`` k = 10 on ``emb``: all neighbours, then none that
        shares pixels with the query."""
        for tag, ex in (('', None), (', no pixel-sharing', overlap)):
            res[f'knn_label_k10_{key}{tag}'] = _row(
                f'knn_label k=10, {name}{tag}', kinds,
                knn_label_inconsistency(emb, hist, 10, exclude=ex))

    for k in (5, 10, 20):
        res[f'knn_label_k{k}'] = _row(
            f'knn_label k={k} (bank: pooled untrained backbone)', kinds,
            knn_label_inconsistency(bank['embeddings'], hist, k))
    res['knn_label_k10_nooverlap'] = _row(
        'knn_label k=10, bank, no pixel-sharing neighbours', kinds,
        knn_label_inconsistency(bank['embeddings'], hist, 10,
                                exclude=overlap))
    torch.manual_seed(0)
    ssl = copy.deepcopy(net.backbone)
    losses = train_simclr(ssl, lambda idx: x[idx], n, a.ssl_steps)
    with torch.no_grad():
        emb = pool_embedding(ssl(x))
    ssl_name = f'SimCLR {a.ssl_steps} steps (loss {losses[0]:.2f}->' \
        f'{np.mean(losses[-20:]):.2f})'
    knn_rows('simclr', ssl_name, emb)
    nbr = independent_neighbours(emb, overlap, 10)
    res['knn_label_k10_simclr, independent neighbours'] = _row(
        'knn_label k=10, SimCLR, mutually independent neighbours', kinds,
        label_disagreement(hist, torch.arange(n), nbr).numpy())
    if osp.isdir(a.potsdam):
        enc, losses = potsdam_encoder(p2.model, a.potsdam)
        with torch.no_grad():
            emb = pool_embedding(enc(x))
        knn_rows('potsdam', f'supervised on Potsdam (loss {losses[0]:.2f}'
                 f'->{np.mean(losses[-20:]):.2f})', emb)
    else:
        print(f'(no Potsdam tile at {a.potsdam}: its encoder is skipped)')
    for sigma in a.oracle_noise:
        knn_rows(f'oracle{sigma}', f'oracle semantic, noise {sigma}',
                 oracle_semantic_embeddings(labels, meta['label_maps'],
                                            noise=sigma))
    for fname, feats in (('untrained backbone', bb), ('colour mean/std', col)):
        for tag, ex in (('all other crops', None),
                        ('no pixel-sharing crops', overlap)):
            res[f'dense_{fname}_{tag}'] = _row(
                f'dense transfer, {fname}, {tag}', kinds,
                dense_transfer_margin(feats, cells, 10, ex))

    ds = DATASETS.build(copy.deepcopy(p2.train_dataloader.dataset))
    sub = draw_subset(n, 0.2, 1000).tolist()  # the experiment's random, s 0
    sub_file = osp.join(a.work_dir, 'random.json')
    atomic_write_json(sub_file, dict(indices=sub,
                                     data_list_hash=data_list_hash(ds)))
    unseen = np.ones(n, bool)
    unseen[sub] = False
    # the labels as mmseg data samples (255 = ignore), for the project's
    # per-image CE (pixel_ce_per_sample, as CoIDOSegmentor computes it)
    samples = [SegDataSample(gt_sem_seg=PixelData(data=torch.from_numpy(
        np.where(lb < 0, 255, lb))[None])) for lb in labels]
    for it in a.iters:
        c = copy.deepcopy(p2)
        set_iters(c, it)
        set_subset(c, sub_file)
        c.randomness = dict(seed=0)
        c.work_dir = osp.join(a.work_dir, f'ce_{it}')
        runner = Runner.from_cfg(c)
        runner.train()
        m = runner.model.eval()
        with torch.no_grad():
            ce = pixel_ce_per_sample(m, x, samples)[0].numpy()
        res[f'ce_{it}'] = _row(f'CE of the FCN after {it} it. on random 20 % '
                               '(unseen)', kinds, ce, unseen)
    with open(osp.join(a.work_dir, 'noise_signals.json'), 'w') as f:
        json.dump(res, f, indent=1)
    return res


if __name__ == '__main__':
    main()
