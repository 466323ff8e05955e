"""Convert SegEarth-OV / SimFeatUp / FeatUp upsampler checkpoints.

    python tools/model_converters/simfeatup2ovseg.py SRC.ckpt DST.pth \
        [--type SimFeatUp|JBUStack] [--feat-dim 512]

Reads a Lightning ``.ckpt`` (``state_dict`` with the ``upsampler.`` prefix,
``up.*`` / ``up1..4.*`` and ``fixup_proj.*`` keys), checks the keys strictly
against our neck, and writes ``{'state_dict': ..., 'meta': ...}`` holding only
plain tensors (loads with ``torch.load(weights_only=True)``), ready for
``neck=dict(type='SimFeatUp', checkpoint='DST.pth')``.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import torch  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('src')
    p.add_argument('dst')
    p.add_argument('--type', default=None, choices=['SimFeatUp', 'JBUStack'],
                   help='default: guessed from the keys')
    p.add_argument('--feat-dim', type=int, default=None,
                   help='default: read from fixup_proj')
    args = p.parse_args(argv)
    from ovseg_plugins.seg2d.models.necks import JBUStack, SimFeatUp
    from ovseg_plugins.seg2d.models.necks.jbu_upsampler_base import \
        extract_upsampler_state_dict
    from ovseg_plugins.utils import load_state_dict_strict, load_torch_file
    sd = extract_upsampler_state_dict(load_torch_file(args.src), args.src)
    typ = args.type or ('JBUStack' if any(k.startswith('up1.') for k in sd)
                        else 'SimFeatUp')
    dim = args.feat_dim
    if dim is None:
        if 'fixup_proj.1.weight' not in sd:
            raise KeyError(f'{args.src}: no fixup_proj.1.weight; pass '
                           '--feat-dim')
        dim = sd['fixup_proj.1.weight'].shape[0]
    neck = {'SimFeatUp': SimFeatUp, 'JBUStack': JBUStack}[typ](feat_dim=dim)
    load_state_dict_strict(neck, sd, source=args.src)
    from ovseg_plugins.utils.io import atomic_write
    atomic_write(args.dst, lambda tmp: torch.save(
        {'state_dict': {k: v.detach().clone().contiguous()
                        for k, v in neck.state_dict().items()},
         'meta': dict(type=typ, feat_dim=dim,
                      source=osp.basename(args.src))}, tmp))
    print(f'{typ}(feat_dim={dim}): {len(sd)} tensors -> {args.dst}')


if __name__ == '__main__':
    main()
