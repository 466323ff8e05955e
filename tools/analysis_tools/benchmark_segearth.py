"""Benchmark SegEarth-OV inference: batched crops vs one crop at a time.

    python tools/analysis_tools/benchmark_segearth.py [--model-name ViT-B-16]
        [--size 448] [--queries 16] [--repeats 3] [--device cpu] [--json]

Random, architecture-real weights (timing does not depend on them). Each mode
runs in its own process; peak memory is the peak resident-set growth during
inference (Linux ``/proc/self/clear_refs`` resets the high-water mark after
the model is built and warmed up; CUDA: ``max_memory_allocated``).
"""
import argparse
import json
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from _bootstrap import bootstrap  # noqa: E402

bootstrap()
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from _measure import (median_seconds, reset_peak_rss,  # noqa: E402
                      run_isolated, status_kb)


def run_mode(args, crop_batch_size, q):
    import torch
    from mmengine.registry import init_default_scope
    init_default_scope('mmseg')
    import ovseg_plugins.seg2d  # noqa: F401
    from mmseg.registry import MODELS
    torch.manual_seed(0)
    torch.set_num_threads(args.threads or torch.get_num_threads())
    classes = [f'class {i}' for i in range(args.queries)]
    model = MODELS.build(dict(
        type='OVCLIPSegmentor',
        backbone=dict(type='DenseCLIPViT', model_name=args.model_name,
                      pretrained=None),
        class_names=classes, templates='none',
        crop_batch_size=crop_batch_size)).to(args.device).eval()
    x = torch.randn(1, 3, args.size, args.size, device=args.device)
    with torch.no_grad():
        model.predict(x)  # warm-up
        if args.device.startswith('cuda'):
            torch.cuda.synchronize()
            torch.cuda.reset_peak_memory_stats()
        base = status_kb('VmRSS')
        ok = reset_peak_rss()
        secs = median_seconds(lambda: model.predict(x), args.repeats,
                              args.device)
    if args.device.startswith('cuda'):
        peak_mb = torch.cuda.max_memory_allocated() / 2**20
    else:
        peak_mb = (status_kb('VmHWM') - base) / 1024 if ok else float('nan')
    q.put(dict(crop_batch_size=crop_batch_size,
               sec_per_image=secs,
               peak_mem_mb=peak_mb))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--model-name', default='ViT-B-16')
    p.add_argument('--size', type=int, default=448)
    p.add_argument('--queries', type=int, default=16)
    p.add_argument('--repeats', type=int, default=3)
    p.add_argument('--threads', type=int, default=0)
    p.add_argument('--device', default='cpu')
    p.add_argument('--json', action='store_true')
    args = p.parse_args(argv)
    rows = []
    for cbs, label in ((1, 'one crop at a time'), (16, 'batched crops')):
        r = run_isolated(run_mode, args, cbs)
        r['mode'] = label
        rows.append(r)
    from ovseg_plugins.seg2d.models.utils.slide import slide_windows
    n_windows = len(slide_windows(args.size, args.size, (224, 224),
                                  (112, 112)))
    speedup = rows[0]['sec_per_image'] / rows[1]['sec_per_image']
    if args.json:
        print(json.dumps(dict(model=args.model_name, size=args.size,
                              windows=n_windows, device=args.device,
                              rows=rows, speedup=speedup), indent=2))
        return rows
    print(f'SegEarth-OV {args.model_name}, {args.size}x{args.size} image '
          f'({n_windows} windows of 224, stride 112), {args.queries} queries, '
          f'{args.device}, median of {args.repeats}')
    print(f'| {"mode":<20} | {"s / image":>10} | {"peak mem (MB)":>13} |')
    print(f'|{"-" * 22}|{"-" * 12}|{"-" * 15}|')
    for r in rows:
        print(f'| {r["mode"]:<20} | {r["sec_per_image"]:>10.3f} | '
              f'{r["peak_mem_mb"]:>13.1f} |')
    print(f'batched speed-up: {speedup:.2f}x')
    return rows


if __name__ == '__main__':
    main()
