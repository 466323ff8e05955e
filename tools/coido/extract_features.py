"""CoIDO phase 0a: the feature bank of the FULL training set.

    python tools/coido/extract_features.py CONFIG [--out FILE]
        [--checkpoint CKPT] [--cfg-options k=v ...]

CONFIG is a training config (a path or ``mmseg::...``); its optional
``coido.extract`` section picks the pipeline and the embedder (see
``ovseg_plugins.coido.apis.extract_feature_bank``). Default output:
``<coido.files_dir or work_dir/coido>/feature_bank.pt``.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.abspath(__file__)))
from _common import load_cfg  # noqa: E402


def main(argv=None):
    from mmengine.config import DictAction

    from ovseg_plugins.coido.apis import (coido_paths, coido_settings,
                                          extract_feature_bank, files_dir)
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config')
    p.add_argument('--out', help='default: <coido dir>/feature_bank.pt')
    p.add_argument('--checkpoint', help='weights of the model / embedder')
    p.add_argument('--work-dir')
    p.add_argument('--cfg-options', nargs='+', action=DictAction)
    a = p.parse_args(argv)
    cfg = load_cfg(a.config, a.cfg_options, a.work_dir)
    out = a.out or coido_paths(files_dir(cfg, coido_settings(cfg)))['bank']
    extract_feature_bank(cfg, out, a.checkpoint)


if __name__ == '__main__':
    main()
