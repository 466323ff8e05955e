"""CoIDO vs random 20 % on a training set where the answer is known.

    OMP_NUM_THREADS=1 python experiments/coido/controlled_experiment.py
        [--data ../shared/data/rs/loveda] [--seeds 0 1 2] [--n 200]
        [--iters 500] [--phase1-epochs 5] [--model-size tiny|small]
        [--variants ...] [--embedder backbone|simclr|oracle]
        [--ssl-steps 500] [--oracle-noise S] [--embedder-file F]
        [--guard-sees-overlaps] [--set-seed S]
        [--work-dir work_dirs/coido_controlled]

Builds (in the work dir, never in the repo) a LoveDA-format training set of
64x64 crops of the REAL LoveDA tiles (2x subsampled to 512x512), split by a
checkerboard of 128x128 blocks (held-out blocks give two 64x64 crops each;
training windows lie inside the other blocks), with a known structure:

* ``easy``       60 %: near-duplicates (<= 2 px shifts + random h/v flip)
                 of only 6 single-class (>= 97 %) anchor windows (round-robin
                 over the tiles, distinct blocks), i.e. redundant;
* ``informative`` 28 %: distinct windows with >= 3 classes (any two >= 16 px
                 apart; the tiles give ~70 such windows);
* ``corrupted``  12 %: further distinct windows of that kind (repeats of
                 informative windows only when the tiles have too few) whose
                 labels went through a random class permutation (systematic
                 label noise).

For each seed: CoIDO (extract once -> subset + clusters -> phase 1 built by
``ovseg_plugins.coido.apis.build_phase1_config`` -> phase 2 on the selection)
and a random 20 % subset train the same small FCN. From the same phase-1
scorer four selections are trained: CoIDO's rule (lowest scores), + the
k-NN label-noise guard, + per-cluster quotas, + both (the config default),
and a control (``guard_quotas_randscore``: the same guard and quotas with
seeded random scores, i.e. what CoIDO's learned ranking adds to the
safeguards); the CE-guard variants are optional (``--variants``);
all (and the full-data baseline) use the same model
(``configs/coido/fcn-tiny_loveda.py``), iterations and held-out crops;
the table gives held-out mIoU per seed, the composition of each subset, and
the cost of phase 1 + scoring relative to a full-data run.

The bank embeddings are (``--embedder simclr``, the default) the FCN's
backbone trained self-supervised on the training crops (``simclr.py``; no
labels, no weights; its time counts as extract cost)
or the untrained backbone pooled (``--embedder backbone``). The k-NN noise
guards never count a crop that shares pixels with the query as its
neighbour (``noise_guard.exclude`` = ``overlap_pairs.json``): copies of the
same pixels are no evidence, and a real training set would not hand the
guard a clean twin of each corrupted crop (``--guard-sees-overlaps``
restores the leak); the guards live in ``guards.py``. ``--embedder-file F``
takes any extract embedder from a config file defining ``embedder =
dict(...)`` (e.g. ``source='module'`` with ``DenseCLIPViT`` and CLIP
weights). ``--embedder oracle
[--oracle-noise S]`` swaps the bank's embeddings (the
untrained backbone, pooled) for a semantic stand-in built from the CLEAN
labels (``oracle_semantic_embeddings``), everything else unchanged: it
measures what a pretrained encoder (CLIP / DINO, not downloadable here)
would buy the clustering, the scorer and the guard. A real run has no such
input; these numbers are not the method's result on the set.
"""
import argparse
import copy
import json
import math
import os
import os.path as osp
import sys
import time

import numpy as np

HERE = osp.dirname(osp.abspath(__file__))
ROOT = osp.dirname(osp.dirname(HERE))
for _p in (ROOT, HERE):
    if _p not in sys.path:
        sys.path.insert(0, _p)

DEFAULT_DATA = osp.join(ROOT, '..', 'shared', 'data', 'rs', 'loveda')
CROP = 64
JITTER = 2  # px shift of an easy near-duplicate around its anchor
KINDS = ('easy', 'informative', 'corrupted')


def load_tiles(src):
    """``[(name, image (H/2, W/2, 3) uint8, label PNG values (H/2, W/2))]``
    of the mmseg-layout tiles in ``src/{img,ann}_dir/val``, 2x subsampled."""
    from PIL import Image
    tiles = []
    for name in sorted(os.listdir(osp.join(src, 'img_dir', 'val'))):
        img = np.array(Image.open(osp.join(src, 'img_dir', 'val', name))
                       .convert('RGB'))[::2, ::2]
        lab = np.array(Image.open(osp.join(src, 'ann_dir', 'val', name)))[
            ::2, ::2]
        tiles.append((name, img, lab))
    if not tiles:
        raise FileNotFoundError(f'no tiles under {src}/img_dir/val')
    return tiles


def _entropy(lab):
    v = lab[lab > 0]
    if v.size == 0:
        return 0., 0, 0.
    p = np.bincount(v, minlength=8)[1:] / v.size
    nz = p[p > 0]
    return float(-(nz * np.log(nz)).sum()), int((p > 0.02).sum()), \
        float(p.max())


def build_controlled_dataset(src: str, out: str, n: int = 200,
                             seed: int = 0, n_anchors: int = 6) -> dict:
    """Write img_dir/{train,val} + ann_dir/{train,val}; return the kind of
    every train sample in file order (the dataset's sorted order), its
    window ``[tile, y, x]`` (top-left, in the 2x-subsampled tile; easy crops
    flipped after cropping) and its label map ``saved = map[clean]`` over
    the PNG values (identity except for the corrupted crops)."""
    from PIL import Image
    rng = np.random.default_rng(seed)
    tiles = load_tiles(src)
    for s in ('train', 'val'):
        for k in ('img_dir', 'ann_dir'):
            os.makedirs(osp.join(out, k, s), exist_ok=True)

    def save(split, name, img, lab):
        Image.fromarray(img).save(osp.join(out, 'img_dir', split,
                                           name + '.png'))
        Image.fromarray(lab.astype(np.uint8)).save(
            osp.join(out, 'ann_dir', split, name + '.png'))

    # 128x128 blocks in a checkerboard: "black" blocks -> held-out (two
    # 64x64 crops each, on the diagonal), "white" blocks -> training windows
    # (fully inside, so no pixel is shared with a held-out crop)
    B = 2 * CROP
    n_val = 0
    easy_c, inf_c = [], []
    for t, (_, img, lab) in enumerate(tiles):
        H, W = lab.shape
        for by in range(H // B):
            for bx in range(W // B):
                y0, x0 = by * B, bx * B
                if (bx + by) % 2 == 0:
                    for o in (0, CROP):
                        save('val', f't{t}_{y0 + o:03d}_{x0 + o:03d}',
                             img[y0 + o:y0 + o + CROP, x0 + o:x0 + o + CROP],
                             lab[y0 + o:y0 + o + CROP, x0 + o:x0 + o + CROP])
                        n_val += 1
                    continue
                for y in range(y0, y0 + B - CROP + 1, 4):
                    for x in range(x0, x0 + B - CROP + 1, 4):
                        ent, ncls, pmax = _entropy(lab[y:y + CROP,
                                                       x:x + CROP])
                        inner = (y0 + JITTER <= y <= y0 + B - CROP - JITTER
                                 and x0 + JITTER <= x
                                 <= x0 + B - CROP - JITTER)
                        if pmax >= 0.97 and inner:
                            easy_c.append((t, y, x, by * 64 + bx))
                        elif ncls >= 3 and ent > 0.6:
                            inf_c.append((t, y, x))
    n_easy, n_cor = round(0.6 * n), round(0.12 * n)
    n_inf = n - n_easy - n_cor
    # a handful of easy single-class anchor windows (round-robin over the
    # tiles, one per white block); every easy crop is an anchor shifted by
    # <= JITTER px and randomly flipped: the copies add ~nothing after the
    # first few
    by_tile = {}
    for c in easy_c:
        by_tile.setdefault(c[0], []).append(c)
    for v in by_tile.values():
        rng.shuffle(v)
    anchors, used = [], set()
    while len(anchors) < n_anchors and any(by_tile.values()):
        for t in sorted(by_tile):
            while by_tile[t] and (t, by_tile[t][-1][3]) in used:
                by_tile[t].pop()
            if by_tile[t] and len(anchors) < n_anchors:
                c = by_tile[t].pop()
                used.add((t, c[3]))
                anchors.append(c[:3])
    # informative windows: distinct (any two chosen ones are >= d px apart
    # in y or x on the same tile; d shrinks only if the tiles cannot give
    # n_inf such windows); corrupted crops are further draws from the same
    # pool, so some repeat an informative window with permuted labels
    for d in (16, 12, 8, 4):
        pool = []
        for j in rng.permutation(len(inf_c)):
            t, y, x = inf_c[j]
            if all(t != a or max(abs(y - b), abs(x - c)) >= d
                   for a, b, c in pool):
                pool.append(inf_c[j])
        if len(pool) >= n_inf:
            break
    samples = []
    for i in range(n_easy):
        t, y, x = anchors[i % len(anchors)]
        dy, dx = rng.integers(-JITTER, JITTER + 1, size=2)
        samples.append(('easy', t, y + dy, x + dx, None,
                        int(rng.integers(3))))
    for j in range(n_inf):
        samples.append(('informative', *pool[j % len(pool)], None, 0))
    # corrupted: first the windows no informative crop uses, then (only if
    # the tiles have too few) further draws from the whole pool
    spare = list(range(n_inf, len(pool)))
    extra = max(0, n_cor - len(spare))
    cor_idx = list(rng.choice(spare, min(n_cor, len(spare)), replace=False)) \
        + list(rng.choice(len(pool), extra, replace=extra > len(pool)))
    for j in cor_idx:
        perm = np.arange(8)
        while True:
            p = rng.permutation(7) + 1
            if np.all(p != np.arange(1, 8)):
                break
        perm[1:] = p
        samples.append(('corrupted', *pool[j], perm, 0))
    order = rng.permutation(len(samples))
    kinds, positions, perms = [], [], []
    for k, si in enumerate(order):
        kind, t, y, x, perm, flip = samples[si]
        img = tiles[t][1][y:y + CROP, x:x + CROP]
        lab = tiles[t][2][y:y + CROP, x:x + CROP]
        if flip:  # 1: horizontal, 2: vertical
            img, lab = np.flip(img, 2 - flip), np.flip(lab, 2 - flip)
            img, lab = np.ascontiguousarray(img), np.ascontiguousarray(lab)
        if perm is not None:
            lab = perm[lab]
        save('train', f's{k:05d}', img, lab)  # sorted order == k
        kinds.append(kind)
        positions.append([int(t), int(y), int(x)])
        perms.append(list(range(8)) if perm is None else perm.tolist())
    meta = dict(kinds=kinds, positions=positions, label_maps=perms,
                n_val=n_val,
                n_easy_anchors=len(anchors),
                easy_anchors=[list(map(int, a)) for a in anchors],
                n_informative_candidates=len(inf_c),
                n_informative_windows=len(pool), informative_min_dist=d)
    with open(osp.join(out, 'kinds.json'), 'w') as f:
        json.dump(meta, f)
    return meta


def oracle_semantic_embeddings(labels: np.ndarray, label_maps,
                               grid: int = 2, noise: float = 0.,
                               seed: int = 0):
    """A stand-in for a pretrained semantic image encoder (CLIP / DINO
    weights cannot be downloaded here; ``../shared/data/README.md`` names
    "oracle" features built from the labels as the substitute).

    Per training crop of the controlled set: the fractions of the 7 classes
    in each cell of a ``grid x grid`` split, computed from the CLEAN labels
    (the crop's label map undone, so a corrupted crop embeds like what its
    pixels show, as a semantic encoder would see it), plus i.i.d. Gaussian
    noise of std ``noise`` per dimension (an imperfect encoder),
    L2-normalised.

    Args:
        labels (np.ndarray): ``(N, H, W)`` saved labels as ``train_crops``
            returns them (PNG value - 1, -1 = ignore).
        label_maps: ``(N, 8)`` ``meta['label_maps']`` of
            ``build_controlled_dataset`` (``saved = map[clean]``).

    Returns:
        Tensor: ``(N, 7 * grid**2)`` float32, in file order.
    """
    import torch
    n, h, w = labels.shape
    inv = np.argsort(np.asarray(label_maps), axis=1)  # clean = inv[saved]
    clean = np.take_along_axis(inv, (labels + 1).reshape(n, -1), 1) - 1
    s = h // grid
    cells = clean.reshape(n, h, w)[:, :grid * s, :grid * s].reshape(
        n, grid, s, grid, s).transpose(0, 1, 3, 2, 4).reshape(
            n, grid * grid, s * s)
    cnt = np.stack([(cells == c).sum(-1) for c in range(7)], -1)
    out = (cnt / np.maximum(cnt.sum(-1, keepdims=True), 1)).reshape(n, -1)
    out += noise * np.random.default_rng(seed).standard_normal(out.shape)
    return torch.nn.functional.normalize(torch.from_numpy(out).float(), dim=1)


def train_crops(data: str, n: int, preprocessor):
    """The ``n`` training crops of the controlled set in ``data``: images
    ``(N, H, W, 3)`` uint8, labels ``(N, H, W)`` int64 (PNG value - 1, so
    -1 = ignore) and the images normalised with the ``preprocessor`` config's
    ``mean`` / ``std`` ``(N, 3, H, W)`` float32."""
    from PIL import Image
    d = osp.join(data, '{}_dir', 'train', 's{:05d}.png')
    imgs = np.stack([np.array(Image.open(d.format('img', i)).convert('RGB'))
                     for i in range(n)])
    labels = np.stack([np.array(Image.open(d.format('ann', i)))
                       for i in range(n)]).astype(np.int64) - 1
    return imgs, labels, normalise(imgs, preprocessor)


def normalise(imgs: np.ndarray, preprocessor):
    """``(..., H, W, 3)`` uint8 -> ``(..., 3, H, W)`` float32 normalised
    with the ``preprocessor`` config's ``mean`` / ``std``."""
    import torch
    x = torch.from_numpy(np.ascontiguousarray(imgs)).movedim(-1, -3).float()
    return (x - torch.tensor(preprocessor.mean)[:, None, None]) / \
        torch.tensor(preprocessor.std)[:, None, None]


def overlapping_windows(positions, size: int = CROP) -> np.ndarray:
    """``(N, N)`` bool: windows ``[tile, y, x]`` of side ``size`` that share
    at least one pixel (each window with itself included)."""
    pos = np.asarray(positions)
    same = pos[:, None, 0] == pos[None, :, 0]
    dy = np.abs(pos[:, None, 1] - pos[None, :, 1])
    dx = np.abs(pos[:, None, 2] - pos[None, :, 2])
    return same & (dy < size) & (dx < size)


def write_overlap_pairs(path: str, positions, data_hash: str) -> int:
    """The noise guard's ``exclude`` file of the controlled set: every pair
    of training crops whose windows share pixels (the easy near-duplicates
    of one anchor; a corrupted crop that repeats an informative window),
    so that agreement between copies of the same pixels is not counted as
    evidence. Returns the number of pairs."""
    from ovseg_plugins.coido.utils import atomic_write_json
    ov = np.triu(overlapping_windows(positions), 1)
    pairs = np.argwhere(ov).tolist()
    atomic_write_json(path, dict(data_list_hash=data_hash, pairs=pairs))
    return len(pairs)


def _composition(indices, kinds):
    k = np.asarray(kinds)[np.asarray(indices, int)]
    return {c: int((k == c).sum()) for c in KINDS}


def _train_eval(cfg, work_dir, log):
    from mmengine.runner import Runner
    cfg = copy.deepcopy(cfg)
    cfg.work_dir = work_dir
    t0 = time.perf_counter()
    runner = Runner.from_cfg(cfg)
    runner.train()
    sec = time.perf_counter() - t0
    miou = float(runner.val_loop.run()['mIoU'])
    return miou, sec


# selection variants scored from the SAME phase-1 scorer: CoIDO's rule and
# the safeguards (flagged deviations, guards.py), alone and together
GUARD = dict(signal='knn_label', k=10, z_max=3.5)
CE_GUARD = dict(signal='knn_model_ce', k=10, z_max=3.5)
VARIANTS = dict(
    coido=dict(),
    guard=dict(noise_guard=GUARD),
    quotas=dict(cluster_quotas=True),
    guard_quotas=dict(noise_guard=GUARD, cluster_quotas=True),
    ceguard=dict(noise_guard=CE_GUARD),
    ceguard_quotas=dict(noise_guard=CE_GUARD, cluster_quotas=True),
    # control: the same guard and quotas with random scores in place of the
    # trained scorer's (what CoIDO's learned ranking adds to the safeguards)
    guard_quotas_randscore=dict(noise_guard=GUARD, cluster_quotas=True))
RANDOM_SCORE_VARIANTS = ('guard_quotas_randscore', )
LABELS = dict(coido='CoIDO', guard='+noise guard', quotas='+cluster quotas',
              guard_quotas='+guard+quotas', ceguard='+CE guard',
              ceguard_quotas='+CE guard+quotas',
              guard_quotas_randscore='g+q rand.score', random='random',
              full='full')


class RandomScores:
    """The phase-1 ``CoIDOSegmentor`` with its scores replaced by i.i.d.
    uniform draws (seeded): everything else the selection hook reads (bank
    embeddings, class histograms, cluster assignment) is the model's."""

    def __init__(self, model, seed: int):
        self._model, self._seed = model, seed

    def __getattr__(self, name):
        return getattr(self._model, name)

    def score_bank(self):
        import torch
        n = len(self._model.bank_embed)  # N, without a scorer pass
        return torch.from_numpy(np.random.default_rng(self._seed).random(n))


# segmentor sizes: 'tiny' is configs/coido as is (~20 k parameters);
# 'small' widens it (3 stages, 16 base channels, 32-channel head)
MODEL_SIZES = dict(
    tiny=None,
    small=(dict(stem_channels=16, base_channels=16, num_stages=3,
                out_indices=(2, ), strides=(1, 2, 1), dilations=(1, 1, 2)),
           dict(in_channels=64, channels=32)))


def _resize_model(seg_cfg, size):
    if MODEL_SIZES[size] is not None:
        seg_cfg.backbone.update(MODEL_SIZES[size][0])
        seg_cfg.decode_head.update(MODEL_SIZES[size][1])


def load_configs(data: str, model_size: str = 'tiny'):
    """``configs/coido/fcn-tiny_loveda.py`` on the controlled set in
    ``data``: quiet logging, no validation or checkpoints inside a run, the
    segmentor resized to ``model_size``."""
    from mmengine.config import Config
    p2 = Config.fromfile(osp.join(ROOT, 'configs', 'coido',
                                  'fcn-tiny_loveda.py'))
    _resize_model(p2.model, model_size)
    p2.merge_from_dict(dict(
        default_hooks=dict(logger=dict(interval=10**6),
                           checkpoint=dict(interval=10**6)),
        train_cfg=dict(val_interval=10**6), log_level='WARNING'))
    for k in ('train_dataloader', 'val_dataloader', 'test_dataloader'):
        p2[k].dataset.data_root = data
    return p2


def phase1_config(p2, files: str, n_sub: int, iters: int, warmup: int):
    """Phase 1 of ``p2`` (``build_phase1_config``) with ``iters``
    iterations under a poly LR schedule ending with them, scorer warm-up
    ``warmup`` iterations."""
    from ovseg_plugins.coido.apis import build_phase1_config, coido_settings
    S = coido_settings(p2)
    S['model']['scorer_warmup_iters'] = warmup
    p1 = build_phase1_config(p2, S, files, n_sub)
    p1.train_cfg.max_iters = iters
    p1.default_hooks.checkpoint.interval = 10**6
    p1.param_scheduler = [dict(type='PolyLR', eta_min=1e-5, power=0.9,
                               begin=0, end=iters, by_epoch=False)]
    return p1


def set_subset(cfg, indices_file: str) -> None:
    from ovseg_plugins.coido.apis import set_subset_sampler
    cfg.train_dataloader.sampler = dict(type='InfiniteSampler', shuffle=True)
    set_subset_sampler(cfg, indices_file)


def set_iters(cfg, iters: int) -> None:
    """Train ``iters`` iterations, the poly LR schedule ending with them."""
    cfg.train_cfg.max_iters = iters
    cfg.param_scheduler[0].end = iters


def experiment(data_src, work_dir, seeds=(0, 1, 2), n=200, iters=500,
               phase1_iters=25, full_baseline=True,
               variants=tuple(VARIANTS), model_size='tiny',
               phase1_warmup=5, embedder='simclr', oracle_noise=0.,
               ssl_steps=500, guard_exclude=True, set_seed=0, log=print):
    from mmengine.runner import Runner

    from guards import select_variant
    from ovseg_plugins.coido.apis import cluster_subset, extract_feature_bank
    from ovseg_plugins.coido.utils import (atomic_write_json,
                                            data_list_hash, draw_subset)
    from ovseg_plugins.coido.utils.io import load_indices_file
    from simclr import simclr_checkpoint
    data = osp.join(work_dir, 'data')
    meta = build_controlled_dataset(data_src, data, n=n, seed=set_seed)
    kinds = meta['kinds']
    log(f'dataset: {len(kinds)} train crops {_composition(range(n), kinds)}, '
        f'{meta["n_val"]} held-out crops')
    p2 = load_configs(data, model_size)
    set_iters(p2, iters)
    files = osp.join(work_dir, 'coido')
    bank = osp.join(files, 'feature_bank.pt')
    import torch
    # SimCLR on the training crops, or the untrained backbone; both seeded
    # by the embedder's seed (0)
    ckpt, t_ssl = None, 0.
    if isinstance(embedder, dict):  # any extract embedder (--embedder-file)
        p2.coido.extract.embedder = copy.deepcopy(embedder)
    else:
        p2.coido.extract.embedder = dict(source='backbone')
        if embedder == 'simclr':
            ckpt = osp.join(files, 'simclr_backbone.pth')
            t_ssl = simclr_checkpoint(p2, ckpt, steps=ssl_steps,
                                      log=lambda m: None)['seconds']
    t_ex = t_ssl + extract_feature_bank(p2, bank, checkpoint=ckpt,
                                        log=lambda m: None)['seconds']
    if embedder == 'oracle':  # swap the bank's embeddings, same bank
        from ovseg_plugins.coido.utils.io import atomic_save_torch
        from ovseg_plugins.utils import load_torch_file
        b = load_torch_file(bank, 'feature bank')
        labels = train_crops(data, n, p2.model.data_preprocessor)[1]
        b['embeddings'] = oracle_semantic_embeddings(
            labels, meta['label_maps'], noise=oracle_noise)
        b.pop('bank_stamp', None)  # the content changed
        b['encoder'] = dict(source='oracle (clean labels)',
                            noise=oracle_noise)
        atomic_save_torch(bank, b)
    from mmengine.registry import DATASETS
    ds = DATASETS.build(copy.deepcopy(p2.train_dataloader.dataset))
    h = data_list_hash(ds)
    variant_cfgs = copy.deepcopy({v: VARIANTS[v] for v in variants})
    if guard_exclude:  # leak-free k-NN guards: no pixel-sharing neighbours
        ex = osp.join(files, 'overlap_pairs.json')
        n_pairs = write_overlap_pairs(ex, meta['positions'], h)
        log(f'noise guard: {n_pairs} pixel-sharing pairs are not '
            'neighbours')
        for v in variant_cfgs.values():
            if 'noise_guard' in v:
                v['noise_guard']['exclude'] = ex
    rows = []
    for s in seeds:
        sd = osp.join(files, f'seed{s}')
        t_cl = cluster_subset(bank, sd, ratio=0.2, seed=s,
                              log=lambda m: None)['seconds']
        c1 = phase1_config(p2, sd, round(0.2 * n), phase1_iters,
                           phase1_warmup)
        c1.randomness = dict(seed=s)
        c1.model.feature_bank = bank
        c1.work_dir = osp.join(work_dir, f'phase1_s{s}')
        t0 = time.perf_counter()
        runner = Runner.from_cfg(c1)
        runner.train()  # the config's hook writes selected.json
        t_p1 = time.perf_counter() - t0
        with open(osp.join(sd, 'selection_summary.json')) as f:
            summ = json.load(f)
        t_sc = summ['score_seconds']
        files_of = {}
        for v in variants:  # every variant from the same trained scorer
            scorer = RandomScores(runner.model, 2000 + s) \
                if v in RANDOM_SCORE_VARIANTS else runner.model
            select_variant(scorer, runner.train_dataloader.dataset, sd,
                           0.2, **variant_cfgs[v],
                           selected_name=f'selected_{v}.json',
                           scores_name=f'scores_{v}.json',
                           collate_fn=runner.train_dataloader.collate_fn)
            files_of[v] = osp.join(sd, f'selected_{v}.json')
        rnd = draw_subset(n, 0.2, 1000 + s).tolist()
        files_of['random'] = osp.join(sd, 'random.json')
        atomic_write_json(files_of['random'],
                          dict(indices=rnd, data_list_hash=h))
        row = dict(seed=s, t_cluster=t_cl, t_phase1=t_p1 - t_sc,
                   t_scoring=t_sc, spearman=summ.get('sanity', {}).get(
                       'spearman_score_vs_phase1_ce'))
        for name, f in files_of.items():
            c2 = copy.deepcopy(p2)
            c2.randomness = dict(seed=s)
            set_subset(c2, f)
            row[name], sec = _train_eval(
                c2, osp.join(work_dir, f'{name}_s{s}'), log)
            row[name + '_comp'] = _composition(load_indices_file(f)[0], kinds)
            row['t_phase2'] = sec
        if full_baseline:
            cf = copy.deepcopy(p2)
            cf.randomness = dict(seed=s)
            row['full'], row['t_full'] = _train_eval(
                cf, osp.join(work_dir, f'full_s{s}'), log)
        log(f'seed {s}: ' + ', '.join(
            f'{LABELS[k]} {row[k]:.2f}' for k in (*variants, 'random')))
        rows.append(row)
    return dict(rows=rows, t_extract=t_ex, meta=meta,
                variants=list(variants), embedder=embedder,
                guard_exclude=guard_exclude, set_seed=set_seed)


def print_table(res, log=print):
    rows = res['rows']
    methods = [*res.get('variants', ['coido']), 'random']
    has_full = 'full' in rows[0]
    cols = methods + (['full'] if has_full else [])
    log('held-out mIoU (composition easy/informative/corrupted of the '
        'selected crops)')
    log(f'{"seed":>4} ' + ' '.join(f'{LABELS[m]:>16}' for m in cols))
    for r in rows:
        cells = []
        for m in cols:
            comp = r.get(m + '_comp')
            cc = '' if comp is None else ' (%d/%d/%d)' % tuple(
                comp[k] for k in KINDS)
            cells.append(f'{r[m]:.2f}{cc}'.rjust(16))
        log(f'{r["seed"]:>4} ' + ' '.join(cells))
    m = {k: float(np.mean([r[k] for r in rows])) for k in cols}
    sd = {k: float(np.std([r[k] for r in rows])) for k in cols}
    log('mean ' + ' '.join(f'{m[k]:>7.2f} ± {sd[k]:<5.2f}'.rjust(16)
                           for k in cols))
    rho = [r['spearman'] for r in rows if r.get('spearman') is not None]
    if rho:
        log('Spearman(score, phase-1 CE) on the phase-1 subset: ' +
            ', '.join(f'{x:.2f}' for x in rho))
    for k in methods[:-1]:
        log(f'{LABELS[k]}: mean diff vs random {m[k] - m["random"]:+.2f}; '
            f'wins {sum(r[k] > r["random"] for r in rows)}/{len(rows)} '
            'seeds')
    if 't_full' in rows[0]:
        full = float(np.mean([r['t_full'] for r in rows]))
        p1 = float(np.mean([r['t_phase1'] + r['t_scoring'] for r in rows]))
        pre = res['t_extract'] + float(np.mean([r['t_cluster']
                                                for r in rows]))
        log(f'cost: extract {res["t_extract"]:.2f} s, cluster '
            f'{np.mean([r["t_cluster"] for r in rows]):.2f} s, phase 1 '
            f'{np.mean([r["t_phase1"] for r in rows]):.2f} s, scoring + '
            f'selection {np.mean([r["t_scoring"] for r in rows]):.3f} s, '
            f'phase 2 {np.mean([r["t_phase2"] for r in rows]):.2f} s, '
            f'full-data {full:.2f} s -> phase-1 + scoring = {p1 / full:.3f} '
            f'of full training ({(p1 + pre) / full:.3f} with extract + '
            'cluster)')
    return m


def embedder_from_file(path: str) -> dict:
    """``embedder`` of a config file (what ``coido.extract.embedder``
    takes), with a clear error when the file does not define one."""
    from mmengine.config import Config
    if not osp.isfile(path):
        raise FileNotFoundError(f'--embedder-file {path!r} does not exist.')
    e = Config.fromfile(path).get('embedder')
    if not isinstance(e, dict) or 'source' not in e:
        raise KeyError(f'--embedder-file {path!r} must define `embedder = '
                       "dict(source='module' | 'backbone', ...)` "
                       '(a coido.extract.embedder).')
    return e.to_dict() if hasattr(e, 'to_dict') else dict(e)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--data', default=DEFAULT_DATA)
    p.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    p.add_argument('--n', type=int, default=200)
    p.add_argument('--iters', type=int, default=500)
    p.add_argument('--phase1-epochs', type=float, default=5.,
                   help='phase-1 passes over the p %% subset (CoIDO: '
                   '1-5); iterations = epochs x subset / batch')
    p.add_argument('--phase1-iters', type=int, default=None,
                   help='phase-1 iterations (overrides --phase1-epochs)')
    p.add_argument('--no-full', action='store_true')
    p.add_argument('--variants', nargs='+', default=list(VARIANTS),
                   choices=list(VARIANTS))
    p.add_argument('--model-size', choices=list(MODEL_SIZES),
                   default='tiny')
    p.add_argument('--phase1-warmup', type=int, default=None,
                   help='scorer warm-up iterations of phase 1 (default: '
                   'one epoch of the subset)')
    p.add_argument('--embedder', choices=['backbone', 'simclr', 'oracle'],
                   default='simclr',
                   help='bank embeddings: the untrained backbone pooled; the '
                   'same backbone trained self-supervised on the training '
                   'crops (simclr.py, no labels); or '
                   'the semantic stand-in built from the clean labels '
                   '(oracle_semantic_embeddings; NOT available to a real '
                   'run, it shows what a pretrained encoder would buy)')
    p.add_argument('--embedder-file',
                   help='a config file defining `embedder = dict(...)` (any '
                   'coido.extract.embedder, e.g. source="module" with '
                   'DenseCLIPViT and CLIP weights); overrides --embedder')
    p.add_argument('--ssl-steps', type=int, default=500,
                   help='SimCLR steps of --embedder simclr')
    p.add_argument('--oracle-noise', type=float, default=0.,
                   help='std of the Gaussian noise on the oracle embedding')
    p.add_argument('--guard-sees-overlaps', action='store_true',
                   help='let the k-NN noise guards use neighbours that share '
                   'pixels with the query (the leak: a corrupted crop '
                   'repeating an informative window is found through its '
                   'clean twin); default: such pairs are excluded')
    p.add_argument('--set-seed', type=int, default=0,
                   help='seed of the controlled set itself (which anchor '
                   'windows, informative / corrupted windows, shifts, flips '
                   'and label permutations); the seeds of --seeds are the '
                   'runs\' (subset, training, random baseline)')
    p.add_argument('--work-dir', default='work_dirs/coido_controlled')
    a = p.parse_args(argv)
    per_epoch = math.ceil(round(0.2 * a.n) / 8)  # subset / batch size 8
    if a.phase1_iters is None:
        a.phase1_iters = max(1, round(a.phase1_epochs * per_epoch))
    if a.phase1_warmup is None:
        a.phase1_warmup = per_epoch
    if a.embedder_file:
        a.embedder = embedder_from_file(a.embedder_file)
    res = experiment(a.data, a.work_dir, a.seeds, a.n, a.iters,
                     a.phase1_iters, not a.no_full, a.variants,
                     a.model_size, a.phase1_warmup, a.embedder,
                     a.oracle_noise, a.ssl_steps, not a.guard_sees_overlaps,
                     a.set_seed)
    print_table(res)
    with open(osp.join(a.work_dir, 'results.json'), 'w') as f:
        json.dump(res, f, indent=1)


if __name__ == '__main__':
    main()
