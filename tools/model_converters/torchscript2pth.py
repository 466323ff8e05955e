"""Convert a TorchScript archive into a plain state-dict checkpoint.

    python tools/model_converters/torchscript2pth.py SRC.pt DST.pth \
        [--drop KEY ...]

TorchScript archives (``torch.jit.save``; e.g. OpenAI's original CLIP
``ViT-B-16.pt``) carry code, so ``ovseg_plugins`` does not load them as
checkpoints. This reads only their tensors (a restricted unpickler; the
archive's code is neither compiled nor run: see
``ovseg_plugins/utils/torchscript_weights.py``) and writes
``{'state_dict': ...}``, which loads with ``torch.load(weights_only=True)``.
CLIP backbones given such an archive are converted the same way
automatically (into the cache folder); this tool is for other uses.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__)))))

import torch  # noqa: E402


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('src', help='TorchScript archive')
    p.add_argument('dst', help='output .pth')
    p.add_argument('--drop', nargs='*', default=[],
                   help='keys to leave out (e.g. input_resolution '
                   'context_length vocab_size of OpenAI CLIP archives)')
    args = p.parse_args(argv)
    from ovseg_plugins.utils.io import atomic_write
    from ovseg_plugins.utils.torchscript_weights import \
        read_torchscript_state_dict
    try:
        sd = read_torchscript_state_dict(args.src)
    except ValueError as e:
        raise SystemExit(str(e)) from None
    for k in args.drop:
        sd.pop(k, None)
    atomic_write(args.dst, lambda tmp: torch.save(
        {'state_dict': dict(sd), 'meta': dict(
            source=osp.basename(args.src))}, tmp), suffix='.pth')
    print(f'{len(sd)} tensors -> {args.dst}')


if __name__ == '__main__':
    main()
