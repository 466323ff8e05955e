"""Shared fixtures: paths, the real sample data, tiny models, scopes."""
import os
import os.path as osp
import subprocess
import sys

import pytest

REPO_ROOT = osp.dirname(osp.dirname(osp.abspath(__file__)))
SHARED_DATA = osp.normpath(
    os.environ.get('OVSEG_SHARED_DATA', osp.join(REPO_ROOT, '..', 'shared',
                                                 'data')))
sys.path.insert(0, REPO_ROOT)
sys.path.insert(0, osp.join(REPO_ROOT, 'tests'))

# Tests never reach a hub and never write into the user's cache.
os.environ.setdefault('HF_HUB_OFFLINE', '1')
os.environ.setdefault('TRANSFORMERS_OFFLINE', '1')


@pytest.fixture(scope='session', autouse=True)
def _isolated_cache(tmp_path_factory):
    d = str(tmp_path_factory.mktemp('ovseg_cache'))
    old = os.environ.get('OVSEG_CACHE_DIR')
    os.environ['OVSEG_CACHE_DIR'] = d
    yield d
    if old is None:
        os.environ.pop('OVSEG_CACHE_DIR', None)
    else:
        os.environ['OVSEG_CACHE_DIR'] = old


@pytest.fixture(autouse=True)
def _restore_global_state():
    """Whatever a test changes in process-wide state is put back after it:
    torch's thread count, deterministic-algorithms flag and default dtype,
    the global RNGs (torch, numpy, random), the environment, the working
    directory and mmengine's default registry scope; a log handler left
    writing to a stream the test's output capture has closed is pointed back
    at the process's stdout. A test may then call
    ``torch.set_num_threads(1)``, ``torch.manual_seed(0)`` or
    ``init_default_scope('mmseg')`` without a try/finally, and no test sees
    the state an earlier one left (the suite passes in any order)."""
    import random
    from collections import OrderedDict

    import numpy as np
    import torch
    from mmengine.registry import DefaultScope
    threads = torch.get_num_threads()
    deterministic = torch.are_deterministic_algorithms_enabled()
    warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    dtype = torch.get_default_dtype()
    rng = (torch.get_rng_state(), np.random.get_state(), random.getstate())
    env, cwd = dict(os.environ), os.getcwd()
    scopes = OrderedDict(DefaultScope._instance_dict)
    yield
    if list(DefaultScope._instance_dict.items()) != list(scopes.items()):
        DefaultScope._instance_dict.clear()
        DefaultScope._instance_dict.update(scopes)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(deterministic, warn_only=warn_only)
    torch.set_default_dtype(dtype)
    torch.set_rng_state(rng[0])
    np.random.set_state(rng[1])
    random.setstate(rng[2])
    if dict(os.environ) != env:
        os.environ.clear()
        os.environ.update(env)
    if os.getcwd() != cwd:
        os.chdir(cwd)
    _reopen_log_streams()


def _reopen_log_streams():
    """An mmengine logger created inside a test that captures output keeps
    a handler on the capture's stream, closed after that test; later tests
    that log would print 'Logging error' tracebacks (visible with ``-s``)."""
    import logging
    import sys

    from mmengine.logging import MMLogger
    loggers = list(MMLogger._instance_dict.values()) + [
        lg for lg in logging.Logger.manager.loggerDict.values()
        if isinstance(lg, logging.Logger)]
    for lg in loggers:
        for h in lg.handlers:
            stream = getattr(h, 'stream', None)
            if (type(h) is logging.StreamHandler and stream is not None
                    and getattr(stream, 'closed', False)):
                h.stream = sys.__stdout__  # setStream would flush the old


def shared_data_path(*parts) -> str:
    """Path under ``../shared/data``; skips the test when it is absent."""
    p = osp.join(SHARED_DATA, *parts)
    if not osp.exists(p):
        pytest.skip(f'real sample data not found at {p} (a plain clone has '
                    'no ../shared/data; set OVSEG_SHARED_DATA to its folder)')
    return p


@pytest.fixture
def shared_data():
    return shared_data_path


@pytest.fixture
def mmseg_scope():
    from mmengine.registry import init_default_scope
    init_default_scope('mmseg')
    import ovseg_plugins.seg2d  # noqa: F401  (registers)


def run_py(args, cwd=REPO_ROOT, env=None, timeout=600):
    """Run the project's python on ``args``; return CompletedProcess."""
    e = dict(os.environ)
    e['PYTHONUNBUFFERED'] = '1'
    if env:
        e.update(env)
    return subprocess.run([sys.executable] + list(args), cwd=cwd, env=e,
                          capture_output=True, text=True, timeout=timeout)
