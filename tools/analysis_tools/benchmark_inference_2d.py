"""Benchmark the 2D inference product: per-tile cost and large rasters.

    python tools/analysis_tools/benchmark_inference_2d.py tile \
        [--repeats 3] [--queries 6] [--threads 0]
    python tools/analysis_tools/benchmark_inference_2d.py raster \
        [--sizes 2048 6144 12288] [--slide-stride 224] [--scale 0.5]
    python tools/analysis_tools/benchmark_inference_2d.py scaling \
        [--procs 1 2 4] [--sizes 2048] [--slide-stride 224] [--scale 0.5]
    python tools/analysis_tools/benchmark_inference_2d.py remote \
        [--sizes 2048] [--slide-stride 224] [--scale 0.5]

``tile``: one 512² tile (resized to 448, the SegEarth-OV protocol: 9 crops of
224, stride 112), SegEarth-OV ViT-B/16 with the bilinear neck and random,
architecture-real weights; all modes in one process, interleaved, median of
``--repeats``:

* ours: ``OVCLIPSegmentor.predict`` (crops batched, cosine logits at patch
  resolution, Q-channel logits resized);
* ours, previous order: the same with the features resized to full
  resolution before normalising (what the toolbox did before);
* authors' CPU formulation: one crop at a time (batch 1), logits computed at
  patch resolution and resized per crop, then merged (a few lines restating
  likyoo/SegEarth-OV's ``forward_slide``/``forward_feature`` order, fp32);
* backbone only: the 9 crops through the backbone, batched and one by one
  (the compute bound).

GFLOP/s = the backbone's FLOPs for the 9 crops (``torch.utils.flop_counter``)
divided by each mode's time. Prints the max |prob| difference of ours vs the
authors' formulation.

``raster``: ``OVSegInferencer.segment_raster`` on synthetic uint8 GeoTIFFs of
the given sizes (made first, window by window), each size in a fresh process:
peak RSS of that process (VmHWM), seconds, windows/s.

``scaling``: the same run on 1, 2, 4 ... processes of one machine
(``torch.distributed.run --standalone``, gloo, one thread per process:
``OMP_NUM_THREADS=1``), the process counts interleaved over ``--repeats``
rounds; per count the median time of ``segment_raster`` on rank 0 (all
windows computed + assembly), speed-up and efficiency against one process,
windows/s, the highest peak RSS of a rank, and whether the label files are
byte-identical to one process's.

``remote``: the raster written as a COG (256² tiles, overviews) and served
by a local HTTP server with range requests (``range_server.py``): one pass
reading every window's pixels (the crops' union on the model's slide grid,
as ``segment_raster`` reads them) from the local file and over HTTP
(``/vsicurl/``), against the model's compute time on the local file; bytes
sent by the server vs the file's size.
"""
import argparse
import os
import os.path as osp
import statistics
import sys
import tempfile
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from _bootstrap import REPO_ROOT, bootstrap  # noqa: E402

bootstrap()
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from _measure import run_isolated, status_kb  # noqa: E402


# ---------------------------------------------------------------- tile
def _build(queries: int, **kw):
    from mmengine.registry import init_default_scope
    init_default_scope('mmseg')
    import torch

    import ovseg_plugins.seg2d  # noqa: F401
    from mmseg.registry import MODELS
    torch.manual_seed(0)
    cfg = dict(type='OVCLIPSegmentor',
               backbone=dict(type='DenseCLIPViT', model_name='ViT-B-16',
                             pretrained=None, attn_mode='segearth',
                             ignore_residual=True),
               neck=dict(type='BilinearUpsampler'),
               decode_head=dict(type='CLSRemovalHead', cls_token_lambda=-0.3),
               class_names=[f'class {i}' for i in range(queries)],
               templates='none', slide_crop=224, slide_stride=112,
               crop_batch_size=16)
    cfg.update(kw)
    return MODELS.build(cfg).eval()


def authors_formulation(seg, img, ori, crop=224, stride=112, scale=50.):
    """One crop at a time; logits at patch resolution resized per crop."""
    import torch
    import torch.nn.functional as F
    _, _, H, W = img.shape
    text, lam = seg.text_embeds, seg.decode_head.cls_token_lambda
    Q = text.shape[0]
    preds = img.new_zeros((1, Q, H, W))
    count = img.new_zeros((1, 1, H, W))
    for i in range(max(H - crop + stride - 1, 0) // stride + 1):
        for j in range(max(W - crop + stride - 1, 0) // stride + 1):
            y2, x2 = min(i * stride + crop, H), min(j * stride + crop, W)
            y1, x1 = max(y2 - crop, 0), max(x2 - crop, 0)
            patch, cls = seg.backbone(img[:, :, y1:y2, x1:x2])
            f = patch.flatten(2).transpose(1, 2)
            f = f / f.norm(dim=-1, keepdim=True)
            cls = cls / cls.norm(dim=-1, keepdim=True)
            lg = f @ text.T + lam * (cls @ text.T)[:, None]
            lg = lg.transpose(1, 2).reshape(1, Q, *patch.shape[-2:])
            preds[:, :, y1:y2, x1:x2] += F.interpolate(
                lg, size=(y2 - y1, x2 - x1), mode='bilinear')
            count[:, :, y1:y2, x1:x2] += 1
    lg = F.interpolate(preds / count, size=ori, mode='bilinear')
    probs = (lg[0] * scale).softmax(0)
    labels = probs.argmax(0)
    return probs, labels


def bench_tile(args):
    import torch
    from mmseg.structures import SegDataSample
    from torch.utils.flop_counter import FlopCounterMode

    from ovseg_plugins.seg2d.models.utils import slide_windows
    if args.threads:
        torch.set_num_threads(args.threads)
    seg = _build(args.queries)
    torch.manual_seed(1)
    x = torch.randn(1, 3, 448, 448)
    ori = (512, 512)
    ds = [SegDataSample(metainfo=dict(ori_shape=ori, img_shape=(448, 448)))]
    wins = slide_windows(448, 448, (224, 224), (112, 112))
    crops = torch.cat([x[:, :, a:b, c:d] for a, b, c, d in wins])
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        seg.backbone(crops)
    gflop = fc.get_total_flops() / 1e9

    def ours():
        seg.neck.parameter_free = True
        return seg.predict(x, ds)[0]

    def previous():
        seg.neck.parameter_free = False
        out = seg.predict(x, ds)[0]
        seg.neck.parameter_free = True
        return out

    def authors():
        return authors_formulation(seg, x, ori)

    def bb_batched():
        return seg.backbone(crops)

    def bb_single():
        return [seg.backbone(c[None]) for c in crops]

    modes = [('ours (batched, logits at patch res)', ours),
             ('ours, previous order (features upsampled)', previous),
             ("authors' CPU formulation (batch 1)", authors),
             ('backbone only, batched', bb_batched),
             ('backbone only, one crop at a time', bb_single)]
    times = {m: [] for m, _ in modes}
    with torch.no_grad():
        for _, fn in modes:
            fn()  # warm-up
        for _ in range(args.repeats):
            for m, fn in modes:
                t = time.perf_counter()
                fn()
                times[m].append(time.perf_counter() - t)
        p_ours = ours().seg_logits.data
        p_auth, l_auth = authors()
        p_prev = previous().seg_logits.data
    med = {m: statistics.median(v) for m, v in times.items()}
    bb = med['backbone only, batched']
    auth = med["authors' CPU formulation (batch 1)"]
    print(f'SegEarth-OV ViT-B/16 (random weights), bilinear neck, one 512² '
          f'tile -> 448² -> {len(wins)} crops of 224 (stride 112), '
          f'{args.queries} queries, CPU {torch.get_num_threads()} threads, '
          f'median of {args.repeats} (interleaved); backbone '
          f'{gflop:.1f} GFLOP per tile')
    print(f'| {"mode":<44} | {"s / tile":>8} | {"GFLOP/s":>7} | '
          f'{"x backbone":>10} | {"x authors":>9} |')
    print(f'|{"-" * 46}|{"-" * 10}|{"-" * 9}|{"-" * 12}|{"-" * 11}|')
    for m, _ in modes:
        print(f'| {m:<44} | {med[m]:>8.3f} | {gflop / med[m]:>7.1f} | '
              f'{med[m] / bb:>10.2f} | {med[m] / auth:>9.2f} |')
    d = (p_ours - p_auth).abs().max().item()
    eq = (p_ours.argmax(0) == l_auth).float().mean().item()
    dp = (p_prev - p_auth).abs().max().item()
    print(f'ours vs authors: max |prob diff| = {d:.2e}, labels equal on '
          f'{100 * eq:.3f} % of pixels; previous order vs authors: max '
          f'|prob diff| = {dp:.3f}')


# ---------------------------------------------------------------- raster
def make_raster(path: str, size: int) -> None:
    """Synthetic uint8 RGB GeoTIFF (the demo picture tiled), row by row."""
    import numpy as np
    import rasterio
    from PIL import Image
    from rasterio.transform import from_origin
    from rasterio.windows import Window
    tile = np.array(Image.open(osp.join(REPO_ROOT, 'demo',
                                        'aerial_demo.png')).convert('RGB'))
    th, tw = tile.shape[:2]
    reps = -(-size // tw)
    with rasterio.open(path, 'w', driver='GTiff', width=size, height=size,
                       count=3, dtype='uint8', crs='EPSG:32632',
                       transform=from_origin(500000, 5650000, 0.5, 0.5),
                       tiled=True, blockxsize=256, blockysize=256) as dst:
        for y in range(0, size, th):
            h = min(th, size - y)
            row = np.tile(tile[:h], (1, reps, 1))[:, :size]
            dst.write(row.transpose(2, 0, 1), window=Window(0, y, size, h))


def run_raster(args, size, path, q):
    import torch
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    inf = _inferencer(args)
    base_kb = status_kb('VmRSS')
    with tempfile.TemporaryDirectory() as d:
        t = time.perf_counter()
        res = inf.segment_raster(path, osp.join(d, 'labels.tif'),
                                 scale=args.scale, tile_size=args.tile_size,
                                 progress=False)
        sec = time.perf_counter() - t
    q.put(dict(size=size, seconds=sec, windows=res['windows'],
               windows_per_s=res['windows'] / sec,
               base_rss_mb=base_kb / 1024,
               peak_rss_mb=status_kb('VmHWM') / 1024))


def bench_raster(args):
    rows = []
    tmp = args.tmp_dir or tempfile.mkdtemp(prefix='ovseg_bench_')
    os.makedirs(tmp, exist_ok=True)
    for size in args.sizes:
        path = osp.join(tmp, f'synthetic_{size}.tif')
        if not osp.isfile(path):
            make_raster(path, size)
        rows.append(run_isolated(run_raster, args, size, path))
        r = rows[-1]
        print(f'  {size}²: {r["seconds"]:.1f} s, {r["windows"]} windows, '
              f'peak RSS {r["peak_rss_mb"]:.0f} MB', flush=True)
        if not args.keep:
            os.remove(path)
    print(f'segment_raster, SegEarth-OV ViT-B/16 random weights, '
          f'{args.queries} classes, window {args.tile_size}, scale '
          f'{args.scale}, slide 224 / stride '
          f'{args.slide_stride}, {args.device}')
    print(f'| {"raster":>8} | {"windows":>7} | {"seconds":>8} | '
          f'{"windows/s":>9} | {"s / Mpx":>7} | {"peak RSS (MB)":>13} | '
          f'{"RSS vs first":>12} |')
    print(f'|{"-" * 10}|{"-" * 9}|{"-" * 10}|{"-" * 11}|{"-" * 9}|'
          f'{"-" * 15}|{"-" * 14}|')
    r0 = rows[0]
    for r in rows:
        mpx = r['size'] ** 2 / 1e6
        print(f'| {r["size"]:>6}² | {r["windows"]:>7} | {r["seconds"]:>8.1f}'
              f' | {r["windows_per_s"]:>9.3f} | {r["seconds"] / mpx:>7.2f} |'
              f' {r["peak_rss_mb"]:>13.0f} | '
              f'{100 * (r["peak_rss_mb"] / r0["peak_rss_mb"] - 1):>+11.1f}% |')
    if len(rows) > 1:
        print(f'time({rows[-1]["size"]}²) / time({r0["size"]}²) = '
              f'{rows[-1]["seconds"] / r0["seconds"]:.1f} (pixels x '
              f'{(rows[-1]["size"] / r0["size"]) ** 2:.0f})')


# ---------------------------------------------------------------- scaling
def _inferencer(args):
    from ovseg_plugins.apis import OVSegInferencer
    return OVSegInferencer(
        'segearth', classes=[f'class {i}' for i in range(args.queries)],
        device=args.device, cfg_options={
            'model.backbone.pretrained': None,
            'model.templates': 'none',
            'model.test_cfg.stride': (args.slide_stride, ) * 2})


def scaling_worker(args):
    """One rank of a ``scaling`` run (started by torch.distributed.run)."""
    import json

    import torch

    from ovseg_plugins.utils import dist
    dist.init_dist('pytorch')
    torch.manual_seed(0)
    inf = _inferencer(args)
    t = time.perf_counter()
    res = inf.segment_raster(args.src, args.out, scale=args.scale,
                             tile_size=args.tile_size, progress=False)
    sec = time.perf_counter() - t
    rss = dist.gather(status_kb('VmHWM') / 1024)
    if dist.dist_info()[0] == 0:
        with open(args.out + '.json', 'w') as f:
            json.dump(dict(seconds=sec, windows=res['windows'],
                           compute_seconds=res['compute_seconds'],
                           peak_rss_mb=max(rss)), f)


def _first_raster(args):
    """The work folder, the first ``--sizes`` and its synthetic GeoTIFF
    (made once, reused by later runs with the same ``--tmp-dir``)."""
    tmp = args.tmp_dir or tempfile.mkdtemp(prefix='ovseg_bench_')
    os.makedirs(tmp, exist_ok=True)
    size = args.sizes[0]
    path = osp.join(tmp, f'synthetic_{size}.tif')
    if not osp.isfile(path):
        make_raster(path, size)
    return tmp, size, path


def bench_scaling(args):
    import json
    import subprocess
    tmp, size, src = _first_raster(args)
    env = dict(os.environ, OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')
    rows = {n: [] for n in args.procs}
    labels = {}
    for rep in range(args.repeats):
        for n in args.procs:
            out = osp.join(tmp, f'labels_{n}.tif')
            cmd = [sys.executable, '-m', 'torch.distributed.run',
                   '--standalone', f'--nproc_per_node={n}',
                   osp.abspath(__file__), '_scaling_worker',
                   '--src', src, '--out', out] + _passed(args)
            subprocess.run(cmd, env=env, check=True,
                           stdout=subprocess.DEVNULL)
            with open(out + '.json') as f:
                rows[n].append(json.load(f))
            with open(out, 'rb') as f:
                labels[n] = f.read()
            r = rows[n][-1]
            print(f'  round {rep + 1}, {n} process(es): {r["seconds"]:.1f} s',
                  flush=True)
    med = {n: statistics.median(r['seconds'] for r in rows[n])
           for n in args.procs}
    t1 = med[args.procs[0]]  # the first count (1) is the reference
    print(f'segment_raster on {size}² (scale {args.scale}), SegEarth-OV '
          f'ViT-B/16 random weights, {args.queries} classes, window '
          f'{args.tile_size}, slide 224 / stride {args.slide_stride}, '
          f'{rows[args.procs[0]][0]["windows"]} windows; gloo, one thread '
          f'per process, {os.cpu_count()} CPU cores; median of '
          f'{args.repeats} interleaved rounds')
    print(f'| {"processes":>9} | {"seconds":>7} | {"speed-up":>8} | '
          f'{"efficiency":>10} | {"windows/s":>9} | {"peak RSS / rank":>15} '
          f'| {"labels == 1 process":>19} |')
    print(f'|{"-" * 11}|{"-" * 9}|{"-" * 10}|{"-" * 12}|{"-" * 11}|'
          f'{"-" * 17}|{"-" * 21}|')
    for n in args.procs:
        r = rows[n][-1]
        sp = t1 / med[n]
        same = labels[n] == labels[args.procs[0]]
        print(f'| {n:>9} | {med[n]:>7.1f} | {sp:>7.2f}x | {sp / n:>9.0%} | '
              f'{r["windows"] / med[n]:>9.3f} | '
              f'{max(x["peak_rss_mb"] for x in rows[n]):>12.0f} MB | '
              f'{"yes" if same else "NO":>19} |')


def _passed(args):
    return ['--queries', str(args.queries), '--device', args.device,
            '--tile-size', str(args.tile_size), '--scale', str(args.scale),
            '--slide-stride', str(args.slide_stride)]


# ---------------------------------------------------------------- remote
def _read_pass(path, grid, bands):
    """Seconds to read every window's context as segment_raster does."""
    from ovseg_plugins.apis.raster import open_source, raster_env
    with raster_env():
        src = open_source(path)
        try:
            t = time.perf_counter()
            for w in range(len(grid)):
                y0, y1, x0, x1 = grid.context(w)
                src.read(bands, (y0, y1, x0, x1))
            return time.perf_counter() - t
        finally:
            src.close()


def bench_remote(args):
    import torch
    from rasterio.shutil import copy

    from ovseg_plugins.apis.raster import SlideModel, WindowGrid
    from range_server import RangeServer
    if args.threads:
        torch.set_num_threads(args.threads)
    tmp, size, plain = _first_raster(args)
    cog = osp.join(tmp, f'synthetic_{size}_cog.tif')
    copy(plain, cog, driver='COG', BLOCKSIZE=256, COMPRESS='DEFLATE',
         OVERVIEWS='AUTO')
    torch.manual_seed(0)
    inf = _inferencer(args)
    smodel = SlideModel(inf.model, args.tile_size)
    grid = WindowGrid(size, size, smodel.crop, smodel.stride,
                      args.tile_size)
    res = inf.segment_raster(cog, osp.join(tmp, 'labels.tif'),
                             tile_size=args.tile_size, progress=False)
    model_s = res['compute_seconds']
    with RangeServer(tmp) as srv:
        rows = [('local COG', _read_pass(cog, grid, [1, 2, 3]), None)]
        rows.append(('HTTP COG (/vsicurl/)', _read_pass(
            srv.url(osp.basename(cog)), grid, [1, 2, 3]), srv.bytes_sent))
    fsize = osp.getsize(cog)
    print(f'{size}² uint8 RGB COG ({fsize / 2**20:.1f} MB, deflate, 256² '
          f'tiles), {len(grid)} windows of {args.tile_size} px (slide '
          f'224 / stride {args.slide_stride}); model compute on the local '
          f'COG {model_s:.1f} s ({res["windows_per_s"]:.3f} windows/s)')
    print(f'| {"source":<22} | {"read s":>7} | {"s / window":>10} | '
          f'{"x model time":>12} | {"bytes fetched / file":>20} |')
    print(f'|{"-" * 24}|{"-" * 9}|{"-" * 12}|{"-" * 14}|{"-" * 22}|')
    for name, sec, sent in rows:
        fetched = '-' if sent is None else f'{sent / fsize:.2f}'
        print(f'| {name:<22} | {sec:>7.2f} | {sec / len(grid):>10.3f} | '
              f'{100 * sec / model_s:>11.1f}% | {fetched:>20} |')


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('part', choices=['tile', 'raster', 'scaling', 'remote',
                                    '_scaling_worker'])
    p.add_argument('--procs', type=int, nargs='+', default=[1, 2, 4])
    p.add_argument('--src', help=argparse.SUPPRESS)
    p.add_argument('--out', help=argparse.SUPPRESS)
    p.add_argument('--repeats', type=int, default=3)
    p.add_argument('--queries', type=int, default=6)
    p.add_argument('--threads', type=int, default=0)
    p.add_argument('--device', default='cpu')
    p.add_argument('--sizes', type=int, nargs='+',
                   default=[2048, 6144, 12288])
    p.add_argument('--tile-size', type=int, default=1024)
    p.add_argument('--scale', type=float, default=1.0)
    p.add_argument('--slide-stride', type=int, default=112)
    p.add_argument('--tmp-dir', default=None)
    p.add_argument('--keep', action='store_true')
    args = p.parse_args(argv)
    {'tile': bench_tile, 'raster': bench_raster, 'scaling': bench_scaling,
     'remote': bench_remote, '_scaling_worker': scaling_worker}[args.part](
         args)


if __name__ == '__main__':
    main()
