"""Open-vocabulary segmentation of images, GeoTIFFs or folders with free text.

    python tools/demo/image_demo.py INPUT --classes "road;building,roof;tree" \
        [--model segearth|segearth/potsdam|segearth_ov3/loveda|CONFIG.py] \
        [--weights openai|/path/clip.pt|/path/sam3_dir|segmentor.pth] \
        [--out-dir outputs/demo] [--device cpu]

INPUT is an image, a GeoTIFF (any size; also any GDAL raster), or a folder
(each file in turn; ``--mosaic`` segments a folder of georeferenced tiles
into one mosaic); several inputs share one model (the class text is encoded
once). Classes are separated by ``;`` and synonyms by ``,`` (or give a
class-name file).

Images (png/jpg...) write ``<stem>_overlay.png`` (prediction blended on the
image, with a legend), ``<stem>_labels.png`` (uint8, value = class index) and
``<stem>_summary.json``. Rasters (.tif/.tiff/.vrt/.jp2/.img, URLs
``http(s)://``, ``s3://``, ``/vsicurl/``..., or ``--raster``) are read and
written window by window on the model's slide grid: ``<stem>_labels.tif`` (a
Cloud-Optimised GeoTIFF: same CRS and transform, nodata 255, colour table),
``<stem>_quicklook.png``, with ``--scores`` ``<stem>_scores.tif`` and with
``--polygons geojson|gpkg`` the class polygons; ``--bands``, ``--stretch``
choose the bands and the 8-bit stretch (see docs/user_guides/inference.md).

Several processes share the windows (and the images of a folder)::

    torchrun --nproc_per_node 4 tools/demo/image_demo.py scene.tif ... \
        --launcher pytorch        # or: tools/dist_infer.sh 4 scene.tif ...

The output folder belongs to the run (``ovseg_run.json``): a killed run is
finished with ``--resume``; outputs of another command are refused unless
``--overwrite``.

When the weights cannot be had (offline, as on the CI machines) it says so in
one line and runs with random weights, stamping "random weights: plumbing
check only" on the picture.
"""
import argparse
import glob
import json
import os
import os.path as osp
import sys
import warnings

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from _bootstrap import bootstrap  # noqa: E402

bootstrap()

import numpy as np  # noqa: E402
from PIL import Image, ImageDraw, ImageFont  # noqa: E402

from ovseg_plugins.utils.io import output_stamp, write_output_set  # noqa: E402,E501
from ovseg_plugins.utils.picture_stamp import RANDOM_WEIGHTS_STAMP  # noqa: E402,E501
from ovseg_plugins.utils.validation import (check_int, check_range,  # noqa
                                            label_dtype)

RASTER_EXTS = ('.tif', '.tiff', '.vrt', '.jp2', '.img')
IMAGE_EXTS = ('.png', '.jpg', '.jpeg', '.bmp', '.webp') + RASTER_EXTS


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('input', nargs='+', help='images, GeoTIFFs / rasters or '
                   'folders (one model for all: the text is encoded once)')
    p.add_argument('--classes', default=None,
                   help='"a,b;c;d" (";" between classes, "," between '
                   'synonyms) or a class-name file; needed unless --model '
                   'is a dataset config (segearth/potsdam...)')
    p.add_argument('--model', '--config', dest='model', default='segearth',
                   help='config file or name under configs/ (segearth, '
                   'segearth/potsdam, segearth/baselines/sclip_potsdam, '
                   'segearth_ov3, segearth_ov3/loveda...)')
    p.add_argument('--weights', default=None,
                   help='backbone weights (open_clip tag or local CLIP file; '
                   'SAM 3 directory) or a segmentor checkpoint; default: the '
                   'config\'s')
    p.add_argument('--no-download', action='store_true',
                   help='never download weights')
    p.add_argument('--device', default='cpu')
    p.add_argument('--out-dir', default='outputs/demo')
    p.add_argument('--long-side', type=int, default=None,
                   help='images: resize the long side to this before '
                   'inference (default: the config\'s test pipeline, 448)')
    p.add_argument('--alpha', type=float, default=0.5)
    p.add_argument('--prob-thd', type=float, default=None)
    p.add_argument('--bg-idx', type=int, default=None)
    g = p.add_argument_group('rasters')
    g.add_argument('--raster', action='store_true',
                   help='treat every input as a raster (windowed, '
                   'georeferenced output) whatever its extension')
    g.add_argument('--mosaic', action='store_true',
                   help='a folder of tiles on one grid -> one label mosaic')
    g.add_argument('--bands', type=int, nargs='+', default=None,
                   help='1-based bands read as R G B (or one, as grey)')
    g.add_argument('--stretch', default='auto',
                   choices=['auto', 'percentile', 'minmax', 'none'],
                   help='to 8-bit: auto = none for uint8, else percentile')
    g.add_argument('--percentiles', type=float, nargs=2, default=(2., 98.))
    g.add_argument('--tile-size', type=int, default=1024,
                   help='pixels read per window (the crops of the model\'s '
                   'slide grid that cover it)')
    g.add_argument('--overlap', type=int, default=None,
                   help=argparse.SUPPRESS)  # gone: windows share one grid
    g.add_argument('--scale', type=float, default=1.0,
                   help='the model sees the raster at this factor of its '
                   'resolution (outputs at that resolution)')
    g.add_argument('--scores', action='store_true',
                   help='also <stem>_scores.tif: winning probability x 255')
    g.add_argument('--polygons', choices=['none', 'geojson', 'gpkg'],
                   default='none')
    g.add_argument('--no-georef', action='store_true',
                   help='segment rasters without georeference anyway')
    g.add_argument('--no-progress', action='store_true')
    r = p.add_argument_group('runs')
    r.add_argument('--resume', action='store_true',
                   help='finish a killed run of this same command in '
                   '--out-dir (finished windows and inputs are kept)')
    r.add_argument('--overwrite', action='store_true',
                   help='replace outputs in --out-dir written by another '
                   'command')
    r.add_argument('--launcher', choices=['none', 'pytorch'],
                   default='none', help='pytorch: started by torchrun '
                   '(tools/dist_infer.sh); the processes share the work')
    return p.parse_args(argv)


def _font(size: int):
    try:
        return ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1
        return ImageFont.load_default()


def render_overlay(image: np.ndarray, labels: np.ndarray, names, colours,
                   alpha: float, stamp: str = None) -> Image.Image:
    """Blend the label colours on the image and add a legend panel."""
    colours = np.asarray(colours, np.uint8)
    colour_map = colours[labels]
    blend = (image.astype(np.float32) * (1 - alpha) +
             colour_map.astype(np.float32) * alpha).astype(np.uint8)
    h, w = labels.shape
    font = _font(max(12, h // 32))
    row = max(18, h // 22)
    total = labels.size
    entries = [f'{name} ({100.0 * (labels == i).sum() / total:.1f}%)'
               for i, name in enumerate(names)]
    probe = ImageDraw.Draw(Image.new('RGB', (1, 1)))
    text_w = max(probe.textbbox((0, 0), e, font=font)[2] for e in entries)
    legend_w = text_w + row + 24
    canvas = Image.new('RGB', (w + legend_w, h), (255, 255, 255))
    canvas.paste(Image.fromarray(blend), (0, 0))
    d = ImageDraw.Draw(canvas)
    for i, (entry, c) in enumerate(zip(entries, colours)):
        y = 8 + i * row
        d.rectangle((w + 8, y, w + 8 + row - 4, y + row - 4),
                    fill=tuple(int(v) for v in c), outline=(0, 0, 0))
        d.text((w + 12 + row, y), entry, fill=(0, 0, 0), font=font)
    if stamp:
        sf = _font(max(14, h // 24))
        bbox = d.textbbox((0, 0), stamp, font=sf)
        tw, th = bbox[2] - bbox[0], bbox[3] - bbox[1]
        d.rectangle((4, h - th - 16, 12 + tw, h - 4), fill=(0, 0, 0))
        d.text((8, h - th - 12), stamp, fill=(255, 60, 60), font=sf)
    return canvas


def build_inferencer(args):
    """The inferencer; random weights (with a notice) if none can be had."""
    import torch

    from ovseg_plugins.apis import OVSegInferencer
    check_range('--alpha', args.alpha, 0, 1, 'image_demo')
    if args.long_side is not None:
        check_int('--long-side', args.long_side, 'image_demo', lo=16)
    torch.manual_seed(0)  # reproducible random-weights fallback
    allow = not args.no_download and os.environ.get('HF_HUB_OFFLINE') != '1'
    cfg_options = None
    if args.long_side:
        cfg_options = {'test_dataloader.dataset.pipeline': [
            dict(type='LoadImageFromFile'),
            dict(type='Resize', scale=(args.long_side, args.long_side),
                 keep_ratio=True),
            dict(type='PackSegInputs')]}
    from ovseg_plugins.utils import WeightsNotFoundError
    from ovseg_plugins.utils.open_clip_loader import cli_weights_message
    try:
        with warnings.catch_warnings():
            # the fallback is said below, in one line in CLI terms
            warnings.filterwarnings('ignore', '.*running with RANDOM')
            inf = OVSegInferencer(args.model, weights=args.weights,
                                  classes=args.classes, device=args.device,
                                  bg_idx=args.bg_idx, prob_thd=args.prob_thd,
                                  cfg_options=cfg_options,
                                  allow_download=allow,
                                  random_weights_ok=True)
    except WeightsNotFoundError as e:  # --weights named but not found
        raise SystemExit(cli_weights_message(e, '--weights')) from None
    except ValueError as e:
        if not str(e).startswith('No vocabulary'):
            raise
        raise SystemExit(
            f'--classes is needed: the model {args.model!r} names no classes;'
            ' give --classes "road,parking lot;building;tree" (";" between '
            'classes, "," between synonyms) or a class-name file.') from None
    why = '' if inf.random_weights_reason is None else cli_weights_message(
        inf.random_weights_reason, '--weights') + ' -> '
    if inf.random_weights and dist_info()[0] == 0:
        print(f'[image_demo] {why}running with RANDOM weights (plumbing '
              'check only; the pictures say so).')
    return inf


def _atomic_save(path, save):
    from ovseg_plugins.utils.io import atomic_write
    atomic_write(path, save, suffix=osp.splitext(path)[1])


def run_image(inf, path: str, stem: str, args) -> dict:
    """Segment one ordinary image; write overlay, label PNG, summary."""
    out = inf(path)
    labels = np.asarray(out['predictions']).astype(
        label_dtype(len(inf.model.vocabulary.classes), 'image_demo labels'))
    # the pixels the model saw (its pipeline's loader: EXIF orientation,
    # 16-bit reduction), not a second reading of the file
    image = np.ascontiguousarray(inf.load_image(path)[..., ::-1])
    if image.shape[:2] != labels.shape:
        raise RuntimeError(f'{path}: labels {labels.shape} do not match the '
                           f'image the model saw {image.shape[:2]}.')
    names = [','.join(s) for s in inf.model.vocabulary.classes]
    stamp = RANDOM_WEIGHTS_STAMP if inf.random_weights else None
    overlay = render_overlay(image, labels, names, inf.palette, args.alpha,
                             stamp)
    out_overlay = osp.join(args.out_dir, f'{stem}_overlay.png')
    out_labels = osp.join(args.out_dir, f'{stem}_labels.png')
    summary = dict(
        image=path, classes=names, random_weights=inf.random_weights,
        overlay=out_overlay, label_map=out_labels,
        pixel_fraction={n: float((labels == i).mean())
                        for i, n in enumerate(names)})
    write_output_set([  # old set removed first; each file atomic
        (out_overlay, overlay.save),
        (out_labels, Image.fromarray(labels).save),
        (_summary_path(args, stem), _summary_writer(summary, [out_overlay,
                                                              out_labels]))])
    print(f'[image_demo] wrote {out_overlay} and {out_labels}')
    return summary


def _summary_path(args, stem):
    return osp.join(args.out_dir, f'{stem}_summary.json')


def _summary_writer(summary: dict, outputs):
    """Writes the summary LAST, stamped with the outputs' hashes; strict
    JSON (a NaN is a bug, never written)."""
    def write(tmp):
        summary['outputs'] = output_stamp(outputs)
        with open(tmp, 'w') as f:
            json.dump(summary, f, indent=2, allow_nan=False)
    return write


def run_raster(inf, src, stem: str, args, action: str,
               distributed: bool) -> dict:
    """Segment a raster (a file, a URL or a tile folder) window by window;
    with ``distributed`` every process computes its share of the
    windows."""
    from ovseg_plugins.apis.raster import RunFolder
    out = osp.join(args.out_dir, f'{stem}_labels.tif')
    paths = dict(
        quicklook=osp.join(args.out_dir, f'{stem}_quicklook.png'),
        scores=osp.join(args.out_dir, f'{stem}_scores.tif')
        if args.scores else None,
        polygons=None if args.polygons == 'none' else osp.join(
            args.out_dir, f'{stem}_polygons.{args.polygons}'))
    res = inf.segment_raster(
        src, out, scale=args.scale, bands=args.bands, stretch=args.stretch,
        stretch_percentiles=tuple(args.percentiles),
        tile_size=args.tile_size, no_georef=args.no_georef,
        resume=action == 'resume', progress=not args.no_progress,
        parts_dir=RunFolder(args.out_dir).parts_dir(stem),
        distributed=distributed, **paths)
    res.update(image=src, classes=[','.join(s) for s in
                                   inf.model.vocabulary.classes],
               random_weights=inf.random_weights)
    if dist_info()[0] == 0 or not distributed:
        outputs = [out] + [p for p in paths.values() if p]
        _atomic_save(_summary_path(args, stem),
                     _summary_writer(res, outputs))
        print(f'[image_demo] wrote {out} ({res["width"]}x{res["height"]}, '
              f'{res["windows"]} windows, {res["processes"]} process(es), '
              f'{res["windows_per_s"]:.2f} windows/s)' +
              ''.join(f' and {p}' for p in paths.values() if p))
    return res


def _is_raster(path: str, args) -> bool:
    from ovseg_plugins.apis.raster import is_remote
    return args.raster or is_remote(path) or path.lower().endswith(
        RASTER_EXTS)


def _input_files(inputs, mosaic: bool) -> list:
    """The files to segment: folders expanded unless ``mosaic`` (a folder
    of tiles is then one raster); URLs and GDAL paths as they are."""
    from ovseg_plugins.apis.raster import is_remote
    files = []
    for item in [inputs] if isinstance(inputs, str) else inputs:
        if is_remote(item):
            files.append(item)
            continue
        if not osp.exists(item):
            raise FileNotFoundError(f'Input not found: {item!r}.')
        if osp.isdir(item) and not mosaic:
            found = sorted(f for f in glob.glob(osp.join(item, '*'))
                           if f.lower().endswith(IMAGE_EXTS))
            if not found:
                raise ValueError(f'No images or rasters in {item!r}.')
            files += found
        else:
            files.append(item)
    return files


def job_identity(inf, path: str, args, raster: bool) -> dict:
    """What a job's outputs depend on (compared with the folder's
    manifest): model and weights, vocabulary, background rule, input and
    the settings that change the labels."""
    from ovseg_plugins.apis.raster.run_folder import file_identity
    ident = dict(inf.identity(), input=file_identity(path),
                 classes=[list(c) for c in inf.model.vocabulary.classes],
                 prob_thd=float(inf.model.prob_thd),
                 bg_idx=int(inf.model.bg_idx), kind='raster' if raster
                 else 'image')
    if raster:
        ident.update(bands=args.bands, stretch=args.stretch,
                     percentiles=list(args.percentiles),
                     tile_size=args.tile_size, scale=args.scale)
    else:
        ident.update(long_side=args.long_side)
    return ident


def dist_info():
    from ovseg_plugins.utils import dist
    return dist.dist_info()


def run(args) -> dict:
    from ovseg_plugins.apis.raster import (RunFolder, check_no_overlap,
                                           output_stems)
    from ovseg_plugins.utils import dist
    if args.launcher != 'none':
        dev = dist.init_dist(args.launcher)
        if args.device.startswith('cuda'):
            args.device = dev
    if args.overlap is not None:
        print('[image_demo] --overlap is no longer used: every window is '
              'computed from the crops of the model\'s own slide grid '
              '(test_cfg), so neighbouring windows agree without blending.')
    files = _input_files(args.input, args.mosaic)
    check_no_overlap(args.input, args.out_dir)
    stems = output_stems(files)
    rank, world = dist.dist_info()
    inf = build_inferencer(args)
    rasters = [f for f in files if osp.isdir(f) or _is_raster(f, args)]
    jobs = {stems[f]: job_identity(inf, f, args, f in rasters)
            for f in files}
    folder = RunFolder(args.out_dir, 'image_demo')

    def claim():
        folder.open()  # held (rank 0) until the run ends
        return folder.claim(jobs, args.resume, args.overwrite)

    try:
        actions = dist.on_main(claim)
        todo = [f for f in files if actions[stems[f]] != 'skip']
        images = [f for f in todo if f not in rasters]
        summaries = {}
        for f in images[rank::world]:  # images spread over the processes
            summaries[f] = run_image(inf, f, stems[f], args)
        todo_rasters = [f for f in rasters if f in todo]
        # many rasters: each process takes whole rasters; few: every
        # process takes a share of each raster's windows
        spread = len(todo_rasters) >= world > 1
        for k, f in enumerate(todo_rasters):
            if spread and k % world != rank:
                continue
            summaries[f] = run_raster(inf, f, stems[f], args,
                                      actions[stems[f]], not spread)
        done = {}
        for part in dist.gather({stems[f]: _summary_path(args, stems[f])
                                 for f in summaries}):
            done.update(part)

        def finish():
            for stem in done:
                with open(done[stem]) as fh:
                    names = list(json.load(fh).get('outputs', {}))
                folder.done(stem, [done[stem]] + names)

        dist.on_main(finish)
    finally:
        if rank == 0:
            folder.close()
    if inf.random_weights and rank == 0:
        print(f'[image_demo] {RANDOM_WEIGHTS_STAMP}')
    out = [summaries[f] for f in files if f in summaries]
    return out[0] if len(out) == 1 else dict(items=out)


if __name__ == '__main__':
    run(parse_args())
