"""Shared start-up of the tools: repo root on sys.path, torch.load compat.

Imports nothing but the standard library, so every tool can run it first.
"""
import os
import os.path as osp
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def bootstrap() -> str:
    """Put the repo root on ``sys.path`` (configs' ``custom_imports`` then find
    ``ovseg_plugins`` without an install) and let mmengine 0.10.7 load the
    checkpoints its Runner saves under torch >= 2.6 (``weights_only``)."""
    if REPO_ROOT not in sys.path:
        sys.path.insert(0, REPO_ROOT)
    os.environ.setdefault('TORCH_FORCE_NO_WEIGHTS_ONLY_LOAD', '1')
    return REPO_ROOT


def add_common_args(parser) -> None:
    """Arguments shared by train.py and test.py."""
    from mmengine.config import DictAction
    parser.add_argument('--work-dir', help='the dir to save logs and models')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction,
        help='override settings of the config, xxx=yyy format')
    parser.add_argument('--launcher', choices=['none', 'pytorch'],
                        default='none', help='job launcher')
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)


def load_config(args):
    """Config.fromfile + launcher + --cfg-options + work_dir priority (CLI,
    then config, then ./work_dirs/<config stem>); sets LOCAL_RANK."""
    from mmengine.config import Config
    if 'LOCAL_RANK' not in os.environ:
        os.environ['LOCAL_RANK'] = str(args.local_rank)
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        cfg.merge_from_dict(args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    return cfg


def run_runner(cfg, method: str):
    """Build the Runner (or the config's ``runner_type``) and call it."""
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner
    runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else \
        RUNNERS.build(cfg)
    return getattr(runner, method)()
