"""Test (evaluate) a model from a config and a checkpoint.

    python tools/test.py CONFIG [CHECKPOINT] [--work-dir DIR] [--out DIR]
        [--show] [--show-dir DIR] [--tta] [--cfg-options k=v ...]
        [--launcher {none,pytorch}]

CHECKPOINT may be omitted for training-free models (SegEarth-OV, -OV3).
Framework-neutral: only mmengine is imported here.
"""
import argparse
import os.path as osp

from _bootstrap import add_common_args, bootstrap, load_config, run_runner

bootstrap()

from mmengine.config import Config, ConfigDict  # noqa: E402


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description='Test (and eval) a model')
    parser.add_argument('config', help='test config file path')
    parser.add_argument('checkpoint', nargs='?', default=None,
                        help='checkpoint file (optional for training-free '
                        'models)')
    parser.add_argument(
        '--out', type=str,
        help='dir to save the predicted label maps (keeps results)')
    parser.add_argument('--show', action='store_true', help='show results')
    parser.add_argument('--show-dir',
                        help='dir to save painted predictions')
    parser.add_argument('--wait-time', type=float, default=2)
    parser.add_argument('--task', default='lidar_seg',
                        help='3D visualisation task (mmdet3d configs)')
    parser.add_argument('--tta', action='store_true',
                        help='test-time augmentation (tta_model + '
                        'tta_pipeline of the config)')
    add_common_args(parser)
    return parser.parse_args(argv)


def trigger_visualization_hook(cfg, args):
    default_hooks = cfg.get('default_hooks', {}) or {}
    if 'visualization' not in default_hooks:
        raise RuntimeError(
            f'--show/--show-dir need default_hooks.visualization in '
            f'{args.config} (SegVisualizationHook or Det3DVisualizationHook).')
    vis = default_hooks['visualization']
    vis['draw'] = True
    if args.show:
        vis['show'] = True
        vis['wait_time'] = args.wait_time
    if args.show_dir:
        if 'Det3D' in str(vis.get('type', '')):
            vis['vis_task'] = args.task
            # absolute: mmdet3d's hook joins work_dir/timestamp onto a
            # relative test_out_dir again at every iteration
            vis['test_out_dir'] = osp.abspath(args.show_dir)
        else:
            cfg.visualizer['save_dir'] = args.show_dir
    return cfg


def build_cfg(args) -> Config:
    cfg = load_config(args)
    if args.checkpoint is not None:
        if not osp.isfile(args.checkpoint):
            raise FileNotFoundError(
                f'Checkpoint not found: {args.checkpoint!r}. Give the .pth '
                'written by tools/train.py (work_dir/iter_*.pth or '
                'epoch_*.pth), or omit it for training-free models.')
        cfg.load_from = args.checkpoint
    if args.show or args.show_dir:
        cfg = trigger_visualization_hook(cfg, args)
    if args.tta:
        if 'tta_model' not in cfg or 'tta_pipeline' not in cfg:
            raise KeyError(f'--tta needs tta_model and tta_pipeline in '
                           f'{args.config}.')
        cfg.test_dataloader.dataset.pipeline = cfg.tta_pipeline
        cfg.tta_model.module = cfg.model
        cfg.model = cfg.tta_model
    if args.out is not None:
        from ovseg_plugins.utils.run_checks import \
            check_output_dir_not_input
        check_output_dir_not_input(args.out, cfg.test_dataloader.dataset)
        evaluators = cfg.test_evaluator
        if isinstance(evaluators, (dict, ConfigDict)):
            evaluators = [evaluators]
        from ovseg_plugins.utils.config_checks import (init_options,
                                                       metric_class)
        for ev in evaluators:
            ev['output_dir'] = args.out
            cls = metric_class(ev, cfg.get('default_scope'))
            if cls is not None and 'keep_results' in init_options(cls):
                ev['keep_results'] = True
    return cfg


def main(argv=None):
    args = parse_args(argv)
    cfg = build_cfg(args)
    return run_runner(cfg, 'test')


if __name__ == '__main__':
    main()
