"""Train a model from a config (mmseg / mmdet3d conventions).

    python tools/train.py CONFIG [--work-dir DIR] [--resume [CKPT]] [--amp]
        [--cfg-options k=v ...] [--launcher {none,pytorch}]

Framework-neutral: only mmengine is imported here; the config's
``custom_imports`` and ``default_scope`` pull in mmseg or mmdet3d.
"""
import argparse
import os.path as osp

from _bootstrap import add_common_args, bootstrap, load_config, run_runner

bootstrap()

from mmengine.config import Config  # noqa: E402
from mmengine.logging import print_log  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Train a model')
    parser.add_argument('config', help='train config file path')
    parser.add_argument(
        '--resume', nargs='?', type=str, const='auto',
        help='resume from CKPT; without a value, from the latest checkpoint '
        'in the work_dir')
    parser.add_argument('--amp', action='store_true',
                        help='enable automatic-mixed-precision training')
    add_common_args(parser)
    return parser.parse_args(argv)


def build_cfg(args) -> Config:
    cfg = load_config(args)
    if args.amp:
        opt = cfg.get('optim_wrapper')
        if opt is None:
            raise ValueError(f'--amp needs an optim_wrapper in {args.config}.')
        if opt.get('type', 'OptimWrapper') == 'AmpOptimWrapper':
            print_log('AMP training is already enabled in your config.',
                      'current')
        else:
            opt.type = 'AmpOptimWrapper'
            opt.loss_scale = 'dynamic'
    if args.resume == 'auto':
        cfg.resume = True
        cfg.load_from = None
    elif args.resume is not None:
        if not osp.isfile(args.resume):
            raise FileNotFoundError(
                f'--resume checkpoint not found: {args.resume!r}. Give an '
                'existing work_dir/iter_*.pth (or epoch_*.pth), or pass '
                '--resume without a path to resume from the latest '
                'checkpoint of the work_dir.')
        cfg.resume = True
        cfg.load_from = args.resume
    return cfg


def main(argv=None):
    args = parse_args(argv)
    cfg = build_cfg(args)
    run_runner(cfg, 'train')


if __name__ == '__main__':
    main()
