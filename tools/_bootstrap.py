"""Shared start-up of the tools: repo root on sys.path, config loading.

Imports nothing but the standard library, so every tool can run it first.
"""
import os
import os.path as osp
import sys

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))


def bootstrap() -> str:
    """Put the repo root on ``sys.path`` (configs' ``custom_imports`` then find
    ``ovseg_plugins`` without an install). Checkpoints load with
    ``weights_only=True``: the configs' ``custom_imports`` register the
    allow-list of mmengine Runner checkpoints
    (:mod:`ovseg_plugins.utils.checkpoint`)."""
    if REPO_ROOT not in sys.path:
        sys.path.insert(0, REPO_ROOT)
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
    if not osp.isfile(args.config):
        raise FileNotFoundError(
            f'Config file not found: {args.config!r}. Give the path of a '
            'config file, e.g. configs/segearth/potsdam.py.')
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options is not None:
        # path variables (data_root, fused_root, ...) follow their override
        from ovseg_plugins.utils.config_paths import merge_cfg_options
        merge_cfg_options(cfg, args.cfg_options)
    if args.work_dir is not None:
        cfg.work_dir = args.work_dir
    elif cfg.get('work_dir', None) is None:
        cfg.work_dir = osp.join('./work_dirs',
                                osp.splitext(osp.basename(args.config))[0])
    check_work_dir(cfg.work_dir)
    return cfg


def check_work_dir(work_dir: str) -> None:
    """Fail early (before any model is built) when ``work_dir`` cannot be
    created or written: it is created (as the Runner would) and a probe
    file is written in it (read-only mounts refuse even root)."""
    import tempfile
    try:
        os.makedirs(work_dir, exist_ok=True)
        with tempfile.TemporaryFile(dir=work_dir):
            pass
    except OSError as e:
        raise PermissionError(
            f'work_dir {work_dir!r} is not writable ({type(e).__name__}: '
            f'{e}). Pass --work-dir with a folder you can write to.') from e


def setup_cpu_distributed(cfg) -> None:
    """Make ``--launcher pytorch`` (torchrun) work on machines without CUDA.

    mmengine 0.10.7's ``init_dist`` calls ``torch.cuda.set_device`` and its
    DDP wrapper passes ``device_ids=[LOCAL_RANK]``; both fail on CPU. Here
    the process group is created with gloo (``env_cfg.dist_cfg.backend``,
    nccl replaced by gloo) before the Runner, which then skips its own
    ``init_dist``, and the wrapper gets ``device_ids=None``.
    """
    if cfg.get('launcher', 'none') == 'none':
        return
    import torch
    if torch.cuda.is_available():
        return
    import datetime

    import torch.distributed as dist
    env_cfg = cfg.get('env_cfg') or {}
    dist_cfg = dict(env_cfg.get('dist_cfg') or {})
    backend = dist_cfg.pop('backend', 'gloo')
    if backend == 'nccl':
        backend = 'gloo'
    cfg.env_cfg = dict(env_cfg, dist_cfg=dict(dist_cfg, backend=backend))
    if not dist.is_initialized():
        timeout = dist_cfg.pop('timeout', None)
        if timeout is not None:
            dist_cfg['timeout'] = datetime.timedelta(seconds=timeout)
        dist.init_process_group(backend=backend, **dist_cfg)
    wrapper = cfg.get('model_wrapper_cfg') or dict(
        type='MMDistributedDataParallel', broadcast_buffers=False,
        find_unused_parameters=cfg.get('find_unused_parameters', False))
    wrapper = dict(wrapper)
    if 'DistributedDataParallel' in str(wrapper.get('type', '')):
        wrapper.setdefault('device_ids', None)
    cfg.model_wrapper_cfg = wrapper


def run_runner(cfg, method: str):
    """Build the Runner (or the config's ``runner_type``) and call it.

    Distributed ``test`` runs wrap the model in :class:`EvalModelWrapper`
    (no DDP: it refuses training-free models, and evaluation needs no
    gradient sync) unless the config names a ``model_wrapper_cfg``.
    """
    if cfg.get('launcher', 'none') != 'none':
        if method == 'test' and not cfg.get('model_wrapper_cfg'):
            import ovseg_plugins.utils  # noqa: F401  (registers the wrapper)
            cfg.model_wrapper_cfg = dict(type='EvalModelWrapper')
        setup_cpu_distributed(cfg)
    from mmengine.registry import RUNNERS
    from mmengine.runner import Runner

    from ovseg_plugins.utils import WeightsNotFoundError
    from ovseg_plugins.utils.run_checks import weights_error_in_config_terms
    # the input checks are the config's RunInputChecksHook (default_hooks):
    # the same with mmseg's / mmdet3d's own tools. Weights a config names
    # (pretrained) load on first need, unless load_from supplied them.
    try:
        try:
            runner = Runner.from_cfg(cfg) if 'runner_type' not in cfg else \
                RUNNERS.build(cfg)
        except (KeyError, TypeError) as e:  # a type or key nothing takes
            raise SystemExit(build_error_in_config_terms(e, cfg)) from None
        out = getattr(runner, method)()
    except WeightsNotFoundError as e:  # say it in config keys
        _shutdown_distributed(sync=False)
        raise SystemExit(weights_error_in_config_terms(e, cfg)) from None
    except BaseException:
        _shutdown_distributed(sync=False)  # a failed rank must not wait
        raise
    _shutdown_distributed(sync=True)
    return out


def build_error_in_config_terms(err: Exception, cfg) -> str:
    """A registry / constructor error of the Runner build, with the config
    file named (mmengine names the class or registry, not the file)."""
    msg = str(err.args[0]) if isinstance(err, KeyError) and err.args else \
        str(err)
    return (f'{cfg.filename or "the config"}: cannot build the run from '
            f'this config ({type(err).__name__}: {msg[:1500]}). Check the '
            '`type` and the keys of the dict named there (model, '
            'dataloaders, evaluators, hooks), or the --cfg-options that '
            'set them.')


def _shutdown_distributed(sync: bool):
    """Leave the process group cleanly: a gloo group still alive at
    interpreter exit can abort a rank ("terminate called without an active
    exception") after the run itself has finished."""
    import torch.distributed as torch_dist
    if torch_dist.is_available() and torch_dist.is_initialized():
        if sync:
            torch_dist.barrier()
        torch_dist.destroy_process_group()
