"""Pick a small, diverse training subset by label statistics.

As the GeoPurify authors chose their 20 training scenes (tj12323/GeoPurify,
``dataset/data_choose_zero.py``).

    python tools/geopurify/select_scenes.py LABELS [LABELS ...] \
        --out configs/geopurify/splits/my_train.txt \
        [--label-map none|nyu40-scannet20|scannet200] [--num-classes K] \
        [--clusters 20] [--gamma 1.0] [--seed 0] [--no-filter] \
        [--scene-list FILE]

LABELS are label files or folders of them: OpenScene / GeoPurify ``.pth``
tuples (labels = last element), ``.txt`` (one id per line, e.g. ScanNet200
raw ids), ``.npy``, or int64 ``.bin`` (mmdet3d ``semantic_mask``). Ids are
mapped to classes 0..K-1 by ``--label-map`` (``none``: ids already 0..K-1,
anything else, e.g. 255, ignored).

Per scene: Nc = number of classes present, Hc = Shannon entropy (log2) of
the class histogram. Scenes with Nc >= median and Hc >= median are kept
(``--no-filter`` keeps all), k-means (K = ``--clusters``, scikit-learn,
``--seed``) clusters their class-frequency histograms, each scene scores
``minmax(Hc) + gamma * minmax(Nc)`` (min-max over the kept scenes) and the
top-scoring scene of each cluster is selected (ties: first scene name).
gamma = 0.5 in the paper, 1.0 in the authors' script (default here).
Writes the names (``#`` header lines record the settings) and prints a table.
"""
import argparse
import glob
import os.path as osp
import sys
from typing import Dict, List, Optional, Sequence

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from _bootstrap import bootstrap  # noqa: E402

bootstrap()

import numpy as np  # noqa: E402

EXTS = ('.pth', '.txt', '.npy', '.bin')
LABEL_MAPS = ('none', 'nyu40-scannet20', 'scannet200')


def read_labels(path: str) -> np.ndarray:
    """Raw per-point label ids of one file (see the module docstring)."""
    from ovseg_plugins.seg3d.datasets.transforms.load_openscene_points import \
        load_label_file, load_openscene_tuple  # noqa: E501
    if path.endswith('.pth'):
        d = load_openscene_tuple(path)
        if 'labels' not in d:
            raise ValueError(f'{path}: the scene file has no labels.')
        return d['labels']
    return load_label_file(path)


def id_mapping(label_map: str, num_classes: Optional[int]):
    """``(lookup array raw id -> class or -1, K)``."""
    from ovseg_plugins.seg3d.datasets.label_constants import (
        SCANNET20_NYU40_IDS, SCANNET200_RAW_IDS)
    if label_map == 'none':
        return None, num_classes
    ids = SCANNET20_NYU40_IDS if label_map == 'nyu40-scannet20' else \
        SCANNET200_RAW_IDS
    lut = np.full(max(ids) + 1, -1, np.int64)
    lut[list(ids)] = np.arange(len(ids))
    return lut, len(ids)


def to_classes(raw: np.ndarray, lut, K: int) -> np.ndarray:
    raw = np.asarray(raw, np.int64)
    if lut is not None:
        ok = (raw >= 0) & (raw < len(lut))
        out = np.full(raw.shape, -1, np.int64)
        out[ok] = lut[raw[ok]]
        raw = out
    return raw[(raw >= 0) & (raw < K)]


def scene_statistics(labels: np.ndarray, num_classes: int) -> Dict:
    """``hist`` (K,) counts, ``Nc`` classes present, ``Hc`` log2 entropy of
    the class distribution (0 for an empty scene)."""
    hist = np.bincount(np.asarray(labels, np.int64),
                       minlength=num_classes)[:num_classes]
    total = hist.sum()
    p = hist[hist > 0] / max(total, 1)
    return dict(hist=hist, Nc=int((hist > 0).sum()),
                Hc=float(-(p * np.log2(p)).sum()) if total else 0.)


def _minmax(x: np.ndarray) -> np.ndarray:
    span = x.max() - x.min() if len(x) else 0.
    return (x - x.min()) / span if span > 0 else np.zeros_like(x)


def select_scenes(names: Sequence[str], stats: Sequence[Dict],
                  n_clusters: int = 20, gamma: float = 1.0, seed: int = 0,
                  median_filter: bool = True) -> List[Dict]:
    """Run the selection; returns one record per candidate scene
    (``name, Nc, Hc, cluster, score, selected``), best score first."""
    from sklearn.cluster import KMeans
    names = list(names)
    Nc = np.array([s['Nc'] for s in stats], np.float64)
    Hc = np.array([s['Hc'] for s in stats], np.float64)
    H = np.stack([s['hist'] for s in stats]).astype(np.float64)
    cand = Nc > 0  # scenes without valid labels never qualify
    if median_filter and cand.any():
        cand &= (Nc >= np.median(Nc[cand])) & (Hc >= np.median(Hc[cand]))
    idx = np.flatnonzero(cand)
    if len(idx) == 0:
        raise ValueError('no scene with valid labels; check --label-map / '
                         '--num-classes.')
    k = min(n_clusters, len(idx))
    if k < n_clusters:
        print(f'[select_scenes] only {len(idx)} candidate scenes: using '
              f'{k} clusters instead of {n_clusters}.')
    feats = H[idx] / H[idx].sum(1, keepdims=True)
    km = KMeans(n_clusters=k, n_init=10, random_state=seed).fit(feats)
    score = _minmax(Hc[idx]) + gamma * _minmax(Nc[idx])
    recs = [
        dict(name=names[i], Nc=int(Nc[i]), Hc=float(Hc[i]),
             cluster=int(km.labels_[j]), score=float(score[j]),
             selected=False) for j, i in enumerate(idx)
    ]
    for c in range(k):
        members = [r for r in recs if r['cluster'] == c]
        if members:
            best = min(members, key=lambda r: (-r['score'], r['name']))
            best['selected'] = True
    return sorted(recs, key=lambda r: (-r['score'], r['name']))


def collect_files(inputs: Sequence[str]) -> List[str]:
    files = []
    for p in inputs:
        if osp.isdir(p):
            found = sorted(f for f in glob.glob(osp.join(p, '*'))
                           if f.endswith(EXTS))
            if not found:
                raise FileNotFoundError(f'{p}: no {"/".join(EXTS)} label '
                                        'files in this folder.')
            files += found
        elif osp.isfile(p):
            files.append(p)
        else:
            raise FileNotFoundError(f'{p}: no such file or folder.')
    return files


def parse_args(argv=None):
    p = argparse.ArgumentParser(
        description=__doc__.split('\n\n')[0],
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('inputs', nargs='+', help='label files or folders')
    p.add_argument('--out', help='scene list file to write')
    p.add_argument('--label-map', default='none', choices=LABEL_MAPS)
    p.add_argument('--num-classes', type=int,
                   help='K for --label-map none (default: max id < 255, +1)')
    p.add_argument('--clusters', type=int, default=20)
    p.add_argument('--gamma', type=float, default=1.0,
                   help='Nc weight (paper 0.5, authors\' script 1.0)')
    p.add_argument('--seed', type=int, default=0)
    p.add_argument('--no-filter', action='store_true',
                   help='skip the Nc / Hc median filters')
    p.add_argument('--scene-list', help='only consider these scenes')
    p.add_argument('--all', action='store_true',
                   help='print every candidate, not only the selected')
    return p.parse_args(argv)


def main(argv=None) -> List[Dict]:
    from ovseg_plugins.seg3d.datasets.scene_list import (read_scene_list,
                                                         scene_name_of)
    args = parse_args(argv)
    files = collect_files(args.inputs)
    names = [scene_name_of(f) for f in files]
    if len(set(names)) != len(names):
        dup = sorted({n for n in names if names.count(n) > 1})
        raise ValueError(f'several label files per scene: {dup[:5]}; give '
                         'one file per scene.')
    if args.scene_list:
        wanted = read_scene_list(args.scene_list)
        missing = [n for n in wanted if n not in names]
        if missing:
            raise FileNotFoundError(f'{args.scene_list}: no label file for '
                                    f'{missing[:10]}.')
        keep = [names.index(n) for n in wanted]
        files, names = [files[i] for i in keep], [names[i] for i in keep]
    raw = [read_labels(f) for f in files]
    lut, K = id_mapping(args.label_map, args.num_classes)
    if K is None:
        ids = np.concatenate([r[(r >= 0) & (r < 255)] for r in raw])
        if not len(ids):
            raise ValueError('no label ids in 0..254; give --num-classes.')
        K = int(ids.max()) + 1
    stats = [scene_statistics(to_classes(r, lut, K), K) for r in raw]
    recs = select_scenes(names, stats, args.clusters, args.gamma, args.seed,
                         not args.no_filter)
    chosen = [r for r in recs if r['selected']]
    print(f'{len(files)} scenes, K={K} classes, {len(recs)} candidates after '
          f'{"no filter" if args.no_filter else "median filters"}, '
          f'{len(chosen)} selected (gamma={args.gamma}, seed={args.seed})')
    print(f'{"rank":>4}  {"scene":<28}{"cluster":>8}{"Nc":>5}{"Hc":>8}'
          f'{"score":>8}  sel')
    for i, r in enumerate(recs if args.all else chosen):
        print(f'{i + 1:>4}  {r["name"]:<28}{r["cluster"]:>8}{r["Nc"]:>5}'
              f'{r["Hc"]:>8.3f}{r["score"]:>8.3f}  '
              f'{"*" if r["selected"] else ""}')
    if args.out:
        from ovseg_plugins.utils.io import atomic_write

        def write(tmp):
            with open(tmp, 'w') as f:
                f.write('# tools/geopurify/select_scenes.py: '
                        f'clusters={args.clusters} gamma={args.gamma} '
                        f'seed={args.seed} filter={not args.no_filter} '
                        f'label_map={args.label_map} K={K} '
                        f'from {len(files)} scenes\n')
                f.write(''.join(r['name'] + '\n' for r in chosen))

        atomic_write(args.out, write)
        print(f'wrote {len(chosen)} scenes to {args.out}')
    return recs


if __name__ == '__main__':
    main()
