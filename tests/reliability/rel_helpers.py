"""Helpers shared by the reliability tests (subprocess runs of the tools)."""
import os
import os.path as osp
import re
import subprocess
import sys

from conftest import REPO_ROOT, run_py
# re-exported: the reliability tests take their configs from here
from fixtures.tiny_configs import (tiny_geopurify_config,  # noqa: F401
                                   tiny_segearth_config)

TINY_FCN = osp.join(REPO_ROOT, 'tests', 'fixtures', 'configs',
                    'tiny_fcn_potsdam.py')
THREADS = dict(OMP_NUM_THREADS='1', MKL_NUM_THREADS='1')

# a hook module (written next to a test config, imported through
# custom_imports) that SIGKILLs training after iteration `at`, i.e. after
# the CheckpointHook (priority VERY_LOW) of that iteration has saved
KILL_HOOK = '''
import os
import signal

from mmengine.hooks import Hook
from mmengine.registry import HOOKS


@HOOKS.register_module()
class KillAfterIterHook(Hook):
    """SIGKILLs the process after iteration ``at`` (after CheckpointHook)."""
    priority = 'LOWEST'

    def __init__(self, at):
        self.at = at

    def after_train_iter(self, runner, batch_idx, data_batch=None,
                         outputs=None):
        if runner.iter + 1 == self.at:
            os.kill(os.getpid(), signal.SIGKILL)
'''


def kill_config(tmp_path, base: str, imports) -> str:
    """``base`` plus the ``KillAfterIterHook`` (SIGKILL after iteration 3,
    i.e. after the iteration-2 checkpoint); ``imports`` = the base's
    ``custom_imports`` (the hook module is added)."""
    (tmp_path / 'rel_kill_hook.py').write_text(KILL_HOOK)
    kill = tmp_path / (osp.splitext(osp.basename(base))[0] + '_killed.py')
    kill.write_text(
        f"_base_ = [{base!r}]\n"
        f"custom_imports = dict(imports={list(imports) + ['rel_kill_hook']!r}, "
        "allow_failed_imports=False)\n"
        # a default hook: the config's own custom_hooks stay as they are
        "default_hooks = dict(kill=dict(type='KillAfterIterHook', at=3))\n")
    return str(kill)


def kill_and_resume(tmp_path, base: str, kill: str, extra=lambda wd: [],
                    before_resume=lambda cut: None):
    """The one kill-and-resume harness: ``tools/train.py base`` runs 4
    iterations uninterrupted in ``tmp_path/full``; ``kill`` (see
    :func:`kill_config`) is SIGKILLed in ``tmp_path/cut`` after the
    iteration-2 checkpoint; ``base --resume`` finishes it. ``extra(work_dir)``
    adds arguments to each run. Returns the two ``iter_4.pth`` checkpoints
    after checking that they hold the same iteration, weights, optimizer
    state and scheduler state, and that the killed run was really behind."""
    import signal

    import torch

    from ovseg_plugins.utils.checkpoint import load_torch_file

    def load(p):
        return load_torch_file(p)

    env = dict(PYTHONPATH=str(tmp_path))
    full, cut = tmp_path / 'full', tmp_path / 'cut'
    ok(run_tool(['tools/train.py', base, '--work-dir', str(full)]
                + extra(full), env=env))
    r = run_tool(['tools/train.py', kill, '--work-dir', str(cut)] + extra(cut),
                 env=env)
    assert r.returncode == -signal.SIGKILL, r.stderr[-3000:]
    assert (cut / 'iter_2.pth').is_file() and not (cut / 'iter_4.pth').exists()
    before_resume(cut)
    # auto-resume (latest checkpoint of the work_dir), unchanged config
    out = ok(run_tool(['tools/train.py', base, '--work-dir', str(cut),
                       '--resume'] + extra(cut), env=env))
    assert 'resumed' in out.lower() or 'Resuming' in out, out[-2000:]
    a, b = load(full / 'iter_4.pth'), load(cut / 'iter_4.pth')
    assert a['meta']['iter'] == b['meta']['iter'] == 4
    sa, sb = a['state_dict'], b['state_dict']
    assert sa.keys() == sb.keys()
    for k, v in sa.items():
        assert torch.equal(v, sb[k]), f'{k} differs'
    oa, ob = a['optimizer']['state'], b['optimizer']['state']
    assert oa.keys() == ob.keys() and oa
    for k in oa:
        for name, t in oa[k].items():
            assert torch.equal(torch.as_tensor(t), torch.as_tensor(
                ob[k][name])), (k, name)
    # (a config without param_scheduler saves none)
    assert a.get('param_schedulers') == b.get('param_schedulers')
    # and the interrupted run was really different before resuming
    mid = load(cut / 'iter_2.pth')['state_dict']
    assert any(not torch.equal(v, mid[k])
               for k, v in sa.items() if v.is_floating_point())
    return a, b


def load_tool(name):
    """``tools/<name>.py`` as a module (its ``main``/``build_cfg`` called
    in-process; ``tools/`` must be on ``sys.path`` for ``_bootstrap``)."""
    import importlib.util
    tools = osp.join(REPO_ROOT, 'tools')
    if tools not in sys.path:
        sys.path.insert(0, tools)
    spec = importlib.util.spec_from_file_location(
        f'ovseg_tool_{name}', osp.join(tools, f'{name}.py'))
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def run_input_checks(dataloader_cfg, model=None, split='test'):
    """The configs' ``RunInputChecksHook`` on a dataloader built by mmengine's
    ``Runner.build_dataloader``; returns the checked first batch."""
    from mmengine.runner import Runner

    from ovseg_plugins.utils import RunInputChecksHook
    return RunInputChecksHook().check_dataloader(
        Runner.build_dataloader(dataloader_cfg), split, model)


def ok(r) -> str:
    out = r.stdout + r.stderr
    assert r.returncode == 0, out[-6000:]
    return out


def run_tool(args, env=None, timeout=600):
    """``python tools/<x>.py ...`` single process."""
    return run_py(args, env=dict(THREADS, **(env or {})), timeout=timeout)


def run_dist(script, args, nproc=2, timeout=600):
    """``tools/dist_{train,test}.sh`` with ``nproc`` CPU processes (gloo).

    ``PORT=0``: torchrun's standalone rendezvous binds a free port itself
    and hands it to the workers, so parallel runs never race for a port."""
    e = dict(os.environ, PYTHONUNBUFFERED='1', PYTHON=sys.executable,
             PORT='0', **THREADS)
    cmd = ['bash', osp.join(REPO_ROOT, 'tools', script)] + list(args)
    if script == 'dist_train.sh':
        cmd.insert(3, str(nproc))
    else:
        cmd.insert(4, str(nproc))
    return subprocess.run(cmd, cwd=REPO_ROOT, env=e, capture_output=True,
                          text=True, timeout=timeout)


_METRIC = re.compile(
    r'\b(aAcc|mIoU|mAcc|miou|acc|acc_cls|fgIoU):\s*([0-9.]+|nan)')


def final_metrics(text: str) -> dict:
    """The metrics of the last evaluation line of a mmengine log."""
    lines = [ln for ln in text.splitlines()
             if re.search(r'Iter\((val|test)\)|Epoch\((val|test)\)', ln)
             and _METRIC.search(ln)]
    assert lines, f'no metrics in the log:\n{text[-3000:]}'
    return dict(_METRIC.findall(lines[-1]))


_STAMP = re.compile(r'^\d\d/\d\d \d\d:\d\d:\d\d - mmengine - \w+ - ',
                    re.M)


def per_class_table(text: str) -> str:
    """The last per-class results printed by the metric (mmseg/mmdet3d's
    table after "per class results:", or PointSegMetric's block), without
    log timestamps."""
    text = _STAMP.sub('', text)
    starts = [m.start() for m in re.finditer(
        r'^(per class results:|PointSegMetric \()', text, re.M)]
    assert starts, f'no per-class results in the log:\n{text[-3000:]}'
    block = text[starts[-1]:]
    end = re.search(r'^.*(Iter|Epoch)\((val|test)\)', block, re.M)
    return block[:end.start()] if end else block


def check_error(err, exc, needles, desc='') -> str:
    """``err`` is exactly ``exc`` and its message holds every needle (and
    stays short); returns the message."""
    assert type(err) is exc, (desc, type(err))
    msg = str(err)
    for s in needles:
        assert s in msg, (desc, s, msg)
    assert len(msg) < 2000, desc
    return msg
