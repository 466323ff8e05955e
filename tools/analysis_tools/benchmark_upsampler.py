"""Benchmark the SimFeatUp adaptive convolution: ours vs unfold+einsum vs bilinear.

    python tools/analysis_tools/benchmark_upsampler.py [--channels 512]
        [--sizes 224 448] [--repeats 3] [--device cpu] [--backward] [--json]

For each output size S, one 11×11 adaptive-convolution stage producing
(1, C, S, S) from a padded (1, C, S+10, S+10) source and per-pixel kernels:
ours (loop over the 121 taps, memory O(C·S²)) vs the unfold+einsum definition
(materialises C·121·S² values; skipped, with the memory it would need, when
that exceeds 60 % of the available RAM / GPU memory) vs a bilinear ×2 resize
of the same features; plus the whole SimFeatUp neck (×16 from S/16). GMAC/s
counts 121 multiply-adds per output element. Every case runs in its own
process; peak memory is the growth of the peak RSS (CPU) or
``max_memory_allocated`` (CUDA) during the timed calls.
"""
import argparse
import json
import os.path as osp
import statistics
import sys
import time

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from _bootstrap import bootstrap  # noqa: E402

bootstrap()
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from _measure import (available_mb, reset_peak_rss, run_isolated,  # noqa
                      status_kb)

K = 11


def case(name, C, S, device, repeats, backward, q):
    import torch
    import torch.nn.functional as F

    from ovseg_plugins.seg2d.models.necks import (SimFeatUp, adaptive_conv,
                                                  adaptive_conv_unfold)
    torch.manual_seed(0)
    dev = torch.device(device)
    grad = backward
    if name in ('ours', 'unfold'):
        src = torch.randn(1, C, S + K - 1, S + K - 1, device=dev,
                          requires_grad=grad)
        kern = torch.randn(1, S, S, K * K, device=dev).softmax(-1).view(
            1, S, S, K, K).requires_grad_(grad)
        fn = adaptive_conv if name == 'ours' else adaptive_conv_unfold
        run = lambda: fn(src, kern)  # noqa: E731
        macs = C * S * S * K * K
    elif name == 'bilinear':
        src = torch.randn(1, C, S // 2, S // 2, device=dev, requires_grad=grad)
        run = lambda: F.interpolate(src, (S, S), mode='bilinear',  # noqa
                                    align_corners=False)
        macs = None
    else:  # the whole neck, x16
        neck = SimFeatUp(feat_dim=C).to(dev).eval()
        feats = torch.randn(1, C, S // 16, S // 16, device=dev,
                            requires_grad=grad)
        img = torch.randn(1, 3, S, S, device=dev)
        run = lambda: neck(feats, img)  # noqa: E731
        macs = sum(C * (S >> s)**2 * K * K for s in range(4))

    def step():
        if backward:
            run().sum().backward()
        else:
            with torch.no_grad():
                run()
        if dev.type == 'cuda':
            torch.cuda.synchronize()

    step()  # warm-up
    if dev.type == 'cuda':
        torch.cuda.reset_peak_memory_stats()
        base_gpu = torch.cuda.memory_allocated()
    base = status_kb('VmRSS')
    ok = reset_peak_rss()
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        step()
        times.append(time.perf_counter() - t)
    if dev.type == 'cuda':
        peak = (torch.cuda.max_memory_allocated() - base_gpu) / 2**20
    else:
        peak = (status_kb('VmHWM') - base) / 1024 if ok else float('nan')
    sec = statistics.median(times)
    q.put(dict(impl=name, size=S, channels=C, seconds=sec, peak_mb=peak,
               gmacs=(macs / sec / 1e9) if macs else None))


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--channels', type=int, default=512)
    p.add_argument('--sizes', type=int, nargs='+', default=[224, 448])
    p.add_argument('--repeats', type=int, default=3)
    p.add_argument('--device', default='cpu')
    p.add_argument('--backward', action='store_true')
    p.add_argument('--json', action='store_true')
    args = p.parse_args(argv)
    C = args.channels
    if args.device.startswith('cuda'):
        import torch
        free = torch.cuda.mem_get_info()[0] / 2**20
    else:
        free = available_mb()
    rows = []
    for S in args.sizes:
        for name in ('ours', 'unfold', 'bilinear', 'simfeatup_neck'):
            need = 2 * C * K * K * S * S * 4 / 2**20
            if name == 'unfold' and need > 0.6 * free:
                rows.append(dict(impl=name, size=S, channels=C, seconds=None,
                                 peak_mb=None, gmacs=None,
                                 note=f'skipped: needs ~{need / 1024:.1f} GiB'
                                 f' (> 60% of {free / 1024:.1f} GiB free)'))
                continue
            rows.append(run_isolated(case, name, C, S, args.device,
                                     args.repeats, args.backward))
    if args.json:
        print(json.dumps(rows, indent=2))
        return rows
    mode = 'forward+backward' if args.backward else 'forward'
    print(f'Adaptive 11x11 convolution, C={C}, {args.device}, {mode}, '
          f'median of {args.repeats}')
    print('| output | impl | seconds | peak mem (MB) | GMAC/s | note |')
    print('|---|---|---|---|---|---|')
    for r in rows:
        f = lambda v, fmt: '-' if v is None else format(v, fmt)  # noqa
        print(f'| {r["size"]}² | {r["impl"]} | {f(r["seconds"], ".3f")} | '
              f'{f(r["peak_mb"], ".0f")} | {f(r["gmacs"], ".2f")} | '
              f'{r.get("note", "")} |')
    return rows


if __name__ == '__main__':
    main()
