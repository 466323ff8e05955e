"""Per-stage time and peak memory of GeoPurifyInferencer vs cloud size.

    python tools/analysis_tools/benchmark_pointcloud_inference.py \
        [--points 50000 200000 800000] [--views 8] [--size 320 240]
        [--clip ViT-B-16] [--threads 1] [--json]

Each size runs in a fresh process (so peaks do not carry over): a
procedural room (``ovseg_plugins.seg3d.synthetic.procedural_room``, point
spacing chosen for the size) written as .ply, a randomly initialised dense
CLIP of the given architecture (no weights can be had here: timings and
memory are those of the real architecture, labels are meaningless), views
rendered from the cloud, no student checkpoint (geometry-guided pooling
with the online geometric teacher). Stages: read, render, lift, fill
(unseen points), purify (teacher features, voxel inputs, kNN, 18 pooling
steps), classify, save (labels, scores, coloured .ply, picture). Memory is
the process's resident set size sampled every 5 ms: the peak during each
stage, minus the resident size once the models are built ("above base").
Prints one table and the ratio peak(800k) / peak(200k) above base.

``--blocks`` runs large scenes in spatial blocks instead
(``ovseg_plugins.apis.geopurify.chunked``), default sizes 0.2 / 2.5 / 10 M
points: a procedural city block (``synthetic.procedural_city_block``: ground,
box buildings, trees; ``--density`` points per m² of surface, 2000 by
default, so the scene grows in area with the points) written as .ply, a random 2D
model (random weights: a fixed random 64-d 8x8-patch projection of the
rendered views, the cost of a small 2D backbone; labels are meaningless),
8 rendered views per block, ``--block`` m tiles (smaller where a tile would
own more than ``--max-points`` points) with ``--overlap`` m of context.
Per-stage seconds (summed over the blocks), the largest block, peak RSS above
base, and the ratio peak(largest) / peak(second largest).
"""
import argparse
import json
import os
import os.path as osp
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from _bootstrap import bootstrap  # noqa: E402

REPO = bootstrap()

STAGES = ('read', 'render', 'lift', 'fill', 'purify', 'classify', 'save')


def rss_mb() -> float:
    with open('/proc/self/statm') as f:
        return int(f.read().split()[1]) * os.sysconf('SC_PAGE_SIZE') / 2**20


class RssSampler(threading.Thread):
    """Samples the resident set size every ``interval`` seconds."""

    def __init__(self, interval=0.005):
        super().__init__(daemon=True)
        self.interval = interval
        self.samples = []
        self._stop_event = threading.Event()

    def run(self):
        while not self._stop_event.is_set():
            self.samples.append((time.perf_counter(), rss_mb()))
            time.sleep(self.interval)

    def stop(self):
        self._stop_event.set()
        self.join()

    def peak(self, t0, t1):
        vals = [m for t, m in self.samples if t0 <= t <= t1]
        return max(vals) if vals else rss_mb()


def _start_measuring():
    """Resident size once the models are built (``base``), a started
    :class:`RssSampler` and the start time."""
    import gc
    gc.collect()
    base = rss_mb()
    sampler = RssSampler()
    sampler.start()
    return base, sampler, time.perf_counter()


def purify_breakdown(inf, cloud):
    """Seconds of the purify stage's steps, re-run one by one on the
    same points (random fused features of the right width)."""
    import torch
    import torch.nn.functional as F

    from ovseg_plugins.seg3d.models.decode_heads.geometry_guided_pooling \
        import affinity_weights, geometry_guided_pooling
    from ovseg_plugins.seg3d.models.utils import scatter_mean
    from ovseg_plugins.seg3d.ops.knn import knn_indices, spatial_order
    m, head = inf.model, inf.model.decode_head.pooling
    pts = torch.cat([torch.from_numpy(cloud.points),
                     torch.randn(len(cloud), m.fused_channels)], 1)
    out = {}
    t = time.perf_counter()
    x, coords, inv, _ = m._voxel_inputs(pts)
    out['voxel inputs (normals: kNN 16 + PCA, means)'] = \
        time.perf_counter() - t
    t = time.perf_counter()
    cen = scatter_mean(pts[:, :6], inv, len(coords))
    emb = F.normalize(inf._teacher(cen).float(), dim=-1)
    out['geometric teacher on voxel centroids'] = time.perf_counter() - t
    t = time.perf_counter()
    perm = spatial_order(coords[:, 1:])
    nbr = knn_indices(coords[:, 1:][perm].float(), head.knn, head.chunk)
    out[f'kNN {head.knn} of the voxels'] = time.perf_counter() - t
    t = time.perf_counter()
    w = affinity_weights(emb[perm], nbr, head.sharpen)
    out['affinity weights'] = time.perf_counter() - t
    t = time.perf_counter()
    geometry_guided_pooling(x[perm], nbr, w, head.iterations)
    out[f'{head.iterations} pooling steps ({x.shape[1]} ch)'] = \
        time.perf_counter() - t
    out['voxels'] = len(coords)
    return out


def child(n_points, views, size, clip, threads, breakdown_at=200000):
    import torch
    torch.set_num_threads(threads)
    from ovseg_plugins.apis.geopurify_inferencer import GeoPurifyInferencer
    from ovseg_plugins.seg3d.pointcloud_io import read_point_cloud, write_ply
    from ovseg_plugins.seg3d.synthetic import ROOM_CLASSES, procedural_room
    spacing = 0.05 * (19825 / n_points)**0.5
    room = procedural_room(0, spacing=spacing)
    work = tempfile.mkdtemp(prefix='bench3d_')
    ply = osp.join(work, 'room.ply')
    write_ply(ply, room['points'][:, :3], room['points'][:, 3:6])
    del room
    torch.manual_seed(0)
    inf = GeoPurifyInferencer(';'.join(ROOM_CLASSES),
                              feature_model=dict(model_name=clip),
                              views=views, render_size=tuple(size),
                              show_progress=False)
    base, sampler, t0 = _start_measuring()
    cloud = read_point_cloud(ply)
    t_read = time.perf_counter()
    inf(cloud, out_dir=osp.join(work, 'out'))
    t_end = time.perf_counter()
    sampler.stop()
    breakdown = purify_breakdown(inf, cloud) if n_points == breakdown_at \
        else None
    spans = [('read', t0, t_read)] + list(inf.stage_spans)
    last = max(t1 for _, _, t1 in spans)
    spans.append(('save', last, t_end))
    rows = {}
    for name, a, b in spans:
        r = rows.setdefault(name, dict(s=0., peak=0.))
        r['s'] += b - a
        r['peak'] = max(r['peak'], sampler.peak(a, b) - base)
    return dict(points=len(cloud), views=views, size=list(size), clip=clip,
                threads=threads, base_mb=base, total_s=t_end - t0,
                breakdown=breakdown,
                peak_mb=sampler.peak(t0, t_end) - base,
                stages={k: rows[k] for k in STAGES if k in rows})


def _random_2d_model(dim=64, patch=8, seed=0):
    """A fixed random patch projection (``(H, W, 3) -> (dim, H/8, W/8)``)
    and random text embeddings: a 2D model with random weights."""
    import torch
    g = torch.Generator().manual_seed(seed)
    w = torch.randn(dim, 3 * patch * patch, generator=g)

    def image_fn(img):
        x = torch.as_tensor(img).float().permute(2, 0, 1)[None] / 255.
        cols = torch.nn.functional.unfold(x, patch, stride=patch)[0]
        h, wd = x.shape[2] // patch, x.shape[3] // patch
        return (w @ (cols - 0.5)).reshape(dim, h, wd)

    def text_fn(queries):
        gt = torch.Generator().manual_seed(seed + 1)
        return torch.randn(len(queries), dim, generator=gt)
    return image_fn, text_fn


def blocks_child(n_points, block, overlap, views, size, threads,
                 max_points, density):
    import torch
    torch.set_num_threads(threads)
    from ovseg_plugins.apis.geopurify.chunked import segment_in_blocks
    from ovseg_plugins.apis.geopurify_inferencer import GeoPurifyInferencer
    from ovseg_plugins.seg3d.pointcloud_io import read_point_cloud, write_ply
    from ovseg_plugins.seg3d.synthetic import (CITY_CLASSES,
                                               procedural_city_block)
    city = procedural_city_block(n_points, density=density)
    work = tempfile.mkdtemp(prefix='bench3d_blocks_')
    ply = osp.join(work, 'city.ply')
    write_ply(ply, city['points'][:, :3], city['points'][:, 3:6])
    del city
    image_fn, text_fn = _random_2d_model()
    inf = GeoPurifyInferencer(';'.join(CITY_CLASSES),
                              feature_model=image_fn,
                              text_embeddings=text_fn, views=views,
                              render_size=tuple(size), show_progress=False)
    base, sampler, t0 = _start_measuring()
    cloud = read_point_cloud(ply)
    t_read = time.perf_counter() - t0
    t_blocks = time.perf_counter()
    res = segment_in_blocks(inf, cloud, block_size=block, overlap=overlap,
                            out_dir=osp.join(work, 'out'),
                            max_points=max_points)
    total = time.perf_counter() - t0
    sampler.stop()
    # 'plan' = from the read to the first block's first stage, 'save +
    # picture' = after the last block's last stage, 'between stages' = the
    # rest (each block's points and sub-cloud)
    first = min((a for _, a, _ in res['stage_spans']), default=t_blocks)
    last = max((b for _, _, b in res['stage_spans']), default=t_blocks)
    stages = dict(read=t_read, plan=first - t_blocks, **res['stage_times'])
    stages['save + picture'] = t0 + total - last
    stages['between stages'] = total - sum(stages.values())
    # peak above base per stage: over every block's span of that stage
    spans = [('read', t0, t0 + t_read), ('plan', t_blocks, first)] + \
        res['stage_spans'] + [('save + picture', last, t0 + total)]
    stage_peaks = {}
    for name, a, b in spans:
        stage_peaks[name] = max(stage_peaks.get(name, 0.),
                                sampler.peak(a, b) - base)
    return dict(points=len(cloud), blocks=res['blocks'],
                largest_block=res['largest_block'], base_mb=base,
                stage_peaks=stage_peaks,
                total_s=total, peak_mb=sampler.peak(t0, t0 + total) - base,
                stages=stages)


def _run_children(args, flag, extra):
    """Each size of ``args.points`` in a fresh process (``flag`` N and the
    common options plus ``extra``); their RESULT dicts."""
    res = []
    for n in args.points:
        r = subprocess.run(
            [sys.executable, osp.abspath(__file__), flag, str(n),
             '--views', str(args.views), '--size', *map(str, args.size),
             '--threads', str(args.threads), *extra],
            capture_output=True, text=True,
            env=dict(os.environ, OMP_NUM_THREADS=str(args.threads)))
        line = [ln for ln in r.stdout.splitlines() if ln.startswith('RESULT')]
        if r.returncode or not line:
            raise RuntimeError(f'{n} points failed:\n{r.stderr[-3000:]}')
        res.append(json.loads(line[0][7:]))
        print(f'{res[-1]["points"]:,} points: {res[-1]["total_s"]:.1f} s, '
              f'peak {res[-1]["peak_mb"]:.0f} MB above base', flush=True)
    return res


def main_blocks(args):
    res = _run_children(args, '--blocks-child', [
        '--block', str(args.block), '--overlap', str(args.overlap),
        '--max-points', str(args.max_points), '--density',
        str(args.density)])
    if args.json:
        print(json.dumps(res, indent=2))
        return res
    names = list(dict.fromkeys(k for r in res for k in r['stages']))
    print('| stage (s) | ' + ' | '.join(f'{r["points"]:,} pts' for r in res)
          + ' |\n' + '|---' * (len(res) + 1) + '|')
    for k in names:
        print(f'| {k} | ' + ' | '.join(f'{r["stages"].get(k, 0):.1f}'
                                       for r in res) + ' |')
    peaks = list(dict.fromkeys(k for r in res for k in r['stage_peaks']))
    for k in peaks:
        print(f'| peak MB above base: {k} | ' + ' | '.join(
            f'{r["stage_peaks"].get(k, 0):.0f}' for r in res) + ' |')
    for key, fmt in (('blocks', '{}'), ('largest_block', '{:,}'),
                     ('total_s', '**{:.1f}**'), ('peak_mb', '**{:.0f}**')):
        label = dict(blocks='blocks',
                     largest_block='largest block (points with context)',
                     total_s='**total s**',
                     peak_mb='**peak RSS above base (MB)**')[key]
        print(f'| {label} | ' + ' | '.join(fmt.format(r[key]) for r in res)
              + ' |')
    print(f'\nbase resident size (models built): {res[0]["base_mb"]:.0f} '
          f'MB; threads {args.threads}; block {args.block} m, overlap '
          f'{args.overlap} m, at most {args.max_points:,} points per '
          f'block with context; city block of {args.density:g} points per '
          f'm2; {args.views} rendered views '
          f'{args.size[0]}x{args.size[1]} per block')
    _print_peak_ratio(res)
    return res


def _print_peak_ratio(res) -> None:
    """peak(largest) / peak(second largest) above base, of the last two
    sizes run."""
    if len(res) >= 2:
        a, b = res[-2], res[-1]
        print(f'peak({b["points"]:,}) / peak({a["points"]:,}) above base = '
              f'{b["peak_mb"] / max(a["peak_mb"], 1e-9):.2f} (points ratio '
              f'{b["points"] / a["points"]:.2f})')


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--points', type=int, nargs='+',
                   default=[50000, 200000, 800000])
    p.add_argument('--views', type=int, default=8)
    p.add_argument('--size', type=int, nargs=2, default=[320, 240])
    p.add_argument('--clip', default='ViT-B-16')
    p.add_argument('--threads', type=int, default=1)
    p.add_argument('--json', action='store_true')
    p.add_argument('--breakdown', type=int, default=200000,
                   help='time the purify steps one by one at this size')
    p.add_argument('--blocks', action='store_true',
                   help='large scenes in spatial blocks (default sizes '
                   '0.2 / 2.5 / 10 M points, a procedural city block)')
    p.add_argument('--block', type=float, default=10.,
                   help='--blocks: tile side (m)')
    p.add_argument('--overlap', type=float, default=0.5,
                   help='--blocks: context margin (m)')
    p.add_argument('--max-points', type=int, default=1000000,
                   help='--blocks: most points a block holds with its '
                   'context (smaller tiles where the scene is denser)')
    p.add_argument('--density', type=float, default=2000.,
                   help='--blocks: points per m2 of the city block\'s '
                   'surfaces (the scene grows in area with the points)')
    p.add_argument('--child', type=int, help=argparse.SUPPRESS)
    p.add_argument('--blocks-child', type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.blocks_child:
        print('RESULT ' + json.dumps(blocks_child(
            args.blocks_child, args.block, args.overlap, args.views,
            args.size, args.threads, args.max_points, args.density)))
        return
    if args.blocks:
        if args.points == p.get_default('points'):
            args.points = [200000, 2500000, 10000000]
        return main_blocks(args)
    if args.child:
        print('RESULT ' + json.dumps(child(args.child, args.views, args.size,
                                             args.clip, args.threads,
                                             args.breakdown)))
        return
    res = _run_children(args, '--child', [
        '--clip', args.clip, '--breakdown', str(args.breakdown)])
    if args.json:
        print(json.dumps(res, indent=2))
        return res
    head = '| stage | ' + ' | '.join(
        f'{r["points"]:,} pts: s / peak MB' for r in res) + ' |'
    print(head)
    print('|---' * (len(res) + 1) + '|')
    for st in STAGES:
        cells = []
        for r in res:
            v = r['stages'].get(st)
            cells.append('-' if v is None else
                         f'{v["s"]:.2f} / {v["peak"]:.0f}')
        print(f'| {st} | ' + ' | '.join(cells) + ' |')
    print('| **total** | ' + ' | '.join(
        f'**{r["total_s"]:.1f} / {r["peak_mb"]:.0f}**' for r in res) + ' |')
    print(f'\nbase resident size (models built): '
          f'{res[0]["base_mb"]:.0f} MB; threads {args.threads}; '
          f'{args.views} rendered views {args.size[0]}x{args.size[1]}; '
          f'random {args.clip}')
    for r in res:
        if r.get('breakdown'):
            bd = dict(r['breakdown'])
            print(f'\npurify stage at {r["points"]:,} points '
                  f'({bd.pop("voxels"):,} voxels of 2 cm), steps re-run '
                  'one by one:\n\n| step | seconds |\n|---|---|')
            for k, v in bd.items():
                print(f'| {k} | {v:.2f} |')
    by_n = {r['points']: r for r in res}
    _print_peak_ratio(res)
    return by_n


if __name__ == '__main__':
    main()
