"""Export the per-point teacher features a GeoPurify config trains from.

    python tools/geopurify/export_teacher_features.py CONFIG
        [--teacher GeometricTeacher | TEACHER_CFG.py] [--out-dir DIR]
        [--split train] [--fp16] [--skip-existing] [--device cpu]
        [--cfg-options data_root=... ...]

Reads every scene of the config's ``<split>_dataloader`` dataset (its
``ann_file`` / ``scene_list``) with the config's own point loader
and writes ``<out-dir>/<points stem>.npy`` ``(N, C)`` (atomically), where
``--out-dir`` defaults to the folder the config's teacher
``LoadPointFeatures`` reads (``teacher_root``; it follows ``--cfg-options
data_root=...``). The teacher: ``--teacher`` (a registered type name, or a
config file with ``teacher = dict(type=..., ...)``, e.g.
``PointBackboneTeacher`` around an mmdet3d backbone and its checkpoint),
else the config's ``model.teacher``, else the training-free
``GeometricTeacher``. When C differs from what the config expects (1088 for
Sonata in ``configs/geopurify/scannet.py``), the exact ``--cfg-options`` for
``tools/train.py`` are printed. Teachers outside mmdet3d (e.g. Sonata) write
the same files themselves.
"""
import argparse
import os.path as osp
import sys

sys.path.insert(0, osp.dirname(osp.dirname(osp.abspath(__file__))))
from _bootstrap import bootstrap  # noqa: E402

bootstrap()


def resolve_teacher(spec, cfg) -> dict:
    """Teacher config from ``--teacher`` / ``model.teacher`` / default."""
    if spec is None:
        t = cfg.get('model', {}).get('teacher')
        return dict(t) if t else dict(type='GeometricTeacher')
    if osp.isfile(spec):
        from mmengine.config import Config
        t = Config.fromfile(spec).get('teacher')
        if not isinstance(t, dict) or 'type' not in t:
            raise KeyError(f'{spec}: no "teacher = dict(type=..., ...)" in '
                           'the file; write the teacher config there.')
        return dict(t)
    if spec.endswith('.py') or '/' in spec:
        raise FileNotFoundError(f'--teacher {spec!r}: no such file; give a '
                                'teacher config file or a registered type '
                                'name such as GeometricTeacher.')
    return dict(type=spec)


def main(argv=None):
    from mmengine.config import Config, DictAction
    p = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    p.add_argument('config', help='training config, e.g. '
                   'configs/geopurify/scannet.py')
    p.add_argument('--teacher', help='registered teacher type or a config '
                   'file with teacher=dict(...) (default: model.teacher, '
                   'else GeometricTeacher)')
    p.add_argument('--out-dir', help='output folder (default: the folder '
                   "the config's teacher LoadPointFeatures reads)")
    p.add_argument('--split', default='train',
                   help='dataloader whose scenes are exported (train)')
    p.add_argument('--fp16', action='store_true', help='write float16')
    p.add_argument('--skip-existing', action='store_true',
                   help='keep files already written for the same points')
    p.add_argument('--device', default='cpu')
    p.add_argument('--no-progress', action='store_true')
    p.add_argument('--cfg-options', nargs='+', action=DictAction,
                   help='override settings of the config, xxx=yyy format')
    args = p.parse_args(argv)

    import ovseg_plugins.seg3d  # noqa: F401  (registers the components)
    from mmdet3d.registry import MODELS
    from ovseg_plugins.seg3d.teacher_export import (build_points_dataset,
                                                    export_teacher_features,
                                                    teacher_feature_slot)
    from ovseg_plugins.utils.config_paths import merge_cfg_options
    if not osp.isfile(args.config):
        raise FileNotFoundError(f'Config file not found: {args.config!r}.')
    cfg = Config.fromfile(args.config)
    if args.cfg_options:
        merge_cfg_options(cfg, args.cfg_options)
    idx, root, dim = teacher_feature_slot(cfg, args.split)
    out_dir = args.out_dir or root
    if out_dir is None:
        raise ValueError(
            f'{args.config}: its {args.split} pipeline reads no teacher '
            'features (an online teacher, e.g. scannet_online_teacher.py, '
            'needs no export); give --out-dir to export anyway.')
    tcfg = resolve_teacher(args.teacher, cfg)
    # Build in the config's scope whatever scope the caller left current
    # (an mmseg one would not find the mmdet3d-registered teachers).
    from mmengine.registry import DefaultScope
    with DefaultScope.overwrite_default_scope(
            cfg.get('default_scope', 'mmdet3d')):
        teacher = MODELS.build(tcfg)
    ds = build_points_dataset(cfg, args.split)
    dcfg = cfg[f'{args.split}_dataloader']['dataset']
    protected = [osp.join(dcfg.get('data_root') or '',
                          (dcfg.get('data_prefix') or {}).get('pts', ''))]
    for split in ('train', 'val', 'test'):
        for t in (cfg.get(f'{split}_dataloader') or {}).get(
                'dataset', {}).get('pipeline', []):
            if t.get('type') == 'LoadPointFeatures' and \
                    osp.abspath(t['feature_root']) != osp.abspath(root or ''):
                protected.append(t['feature_root'])
    print(f'teacher {tcfg["type"]} on {len(ds)} {args.split} scenes -> '
          f'{out_dir}', flush=True)

    bar = None
    if not args.no_progress:
        from tqdm import tqdm
        bar = tqdm(total=len(ds), unit='scene', file=sys.stderr)

    def progress(done, total, stem):
        if bar is not None:
            bar.set_postfix_str(stem)
            bar.update(1)

    try:
        written = export_teacher_features(
            ds, teacher, out_dir, protected=tuple(protected), fp16=args.fp16,
            skip_existing=args.skip_existing, device=args.device,
            progress=progress)
    finally:
        if bar is not None:
            bar.close()
    C = written[0][2]
    print(f'{len(written)} scenes, {C} channels -> {out_dir}')
    teacher_channels = cfg.get('model', {}).get('teacher_channels')
    opts = []
    if out_dir != root and idx is not None:
        opts.append(f'{args.split}_dataloader.dataset.pipeline.{idx}.'
                    f'feature_root={out_dir}')
    if idx is not None and dim is not None and dim != C:
        opts.append(f'{args.split}_dataloader.dataset.pipeline.{idx}.'
                    f'expected_dim={C}')
    if teacher_channels is not None and teacher_channels != C:
        opts.append(f'model.teacher_channels={C}')
    if cfg.get('model', {}).get('teacher') and idx is not None:
        opts.append('model.teacher=None')  # columns replace the online one
    if opts:
        print('the config expects other teacher features; train with\n'
              f'  python tools/train.py {args.config} --cfg-options '
              + ' '.join(opts)
              + (' (and your --cfg-options)' if args.cfg_options else ''))
    return dict(written=written, channels=C, out_dir=out_dir,
                cfg_options=opts)


if __name__ == '__main__':
    main()
