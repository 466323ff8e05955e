"""Benchmark SegEarth-OV3: batched prompts vs one grounding call per word.

    python tools/analysis_tools/benchmark_sam3.py [--words 1 4 8 16]
        [--size 512] [--repeats 3] [--sam3-dir DIR] [--device cpu] [--json]

Default model: the tiny, architecture-real random SAM 3 used by the tests
(vision 64 wide / 2 layers / image 224, text 64 / 2, DETR 32 / 1 layer, 20
queries); ``--sam3-dir`` benchmarks a real ``from_pretrained`` directory.
Seconds per image (median of ``--repeats``) for the whole predict(): one
vision pass, the grounding of all words, fusion and post-processing.
"""
import argparse
import json
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from _bootstrap import REPO_ROOT, bootstrap  # noqa: E402

bootstrap()
sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from _measure import median_seconds  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('--words', type=int, nargs='+', default=[1, 4, 8, 16])
    p.add_argument('--size', type=int, default=512)
    p.add_argument('--repeats', type=int, default=3)
    p.add_argument('--sam3-dir', default=None)
    p.add_argument('--device', default='cpu')
    p.add_argument('--json', action='store_true')
    args = p.parse_args(argv)
    import torch
    from mmengine.registry import init_default_scope
    init_default_scope('mmseg')
    import ovseg_plugins.seg2d  # noqa: F401
    from mmseg.registry import MODELS
    sys.path.insert(0, osp.join(REPO_ROOT, 'tests'))
    if args.sam3_dir:
        backbone = dict(type='HFSam3', pretrained=args.sam3_dir,
                        prompt_chunk=max(args.words))
    else:
        from fixtures.tiny_sam3 import TINY_SAM3_OVERRIDES
        backbone = dict(type='HFSam3', pretrained=None,
                        config_overrides=TINY_SAM3_OVERRIDES,
                        prompt_chunk=max(args.words))
    words = ['road', 'building', 'tree', 'car', 'water', 'grass', 'roof',
             'ship', 'bridge', 'field', 'parking lot', 'soil', 'forest',
             'house', 'river', 'clutter']
    torch.manual_seed(0)
    x = torch.randn(1, 3, args.size, args.size, device=args.device)
    rows = []
    for n in args.words:
        vocab = [words[i % len(words)] + ('' if i < len(words) else f' {i}')
                 for i in range(n)]
        model = MODELS.build(dict(
            type='SAM3Segmentor', backbone=backbone,
            class_names=vocab)).to(args.device).eval()
        row = dict(words=n)
        for mode in ('per_word', 'batched'):
            model.batched_prompts = mode == 'batched'
            model.predict(x)  # warm-up
            row[mode] = median_seconds(lambda: model.predict(x),
                                       args.repeats, args.device)
        row['ratio'] = row['batched'] / row['per_word']
        rows.append(row)
    if args.json:
        print(json.dumps(rows, indent=2))
        return rows
    name = args.sam3_dir or 'tiny random SAM 3'
    print(f'SegEarth-OV3, {name}, {args.size}x{args.size} image, '
          f'{args.device}, median of {args.repeats} (seconds per image)')
    print('| words | per-word loop | batched | batched / per-word |')
    print('|---|---|---|---|')
    for r in rows:
        print(f'| {r["words"]} | {r["per_word"]:.3f} | {r["batched"]:.3f} | '
              f'{r["ratio"]:.2f} |')
    return rows


if __name__ == '__main__':
    main()
