"""mmseg's own ``tools/test.py`` (shipped in the installed package under
``.mim/tools``) on our config runs the same components, checks and loading
rules as our ``tools/test.py``: the checks are part of the config
(``RunInputChecksHook`` in ``default_hooks``), nothing is patched at run
time."""
import os.path as osp

import torch

from conftest import run_py, shared_data_path
from fixtures.tiny_configs import tiny_segearth_config
from reliability.rel_helpers import final_metrics


def _mmseg_test_py() -> str:
    import mmseg
    p = osp.join(osp.dirname(mmseg.__file__), '.mim', 'tools', 'test.py')
    assert osp.isfile(p), p
    return p


def _random_checkpoint(cfg: str, path: str) -> str:
    """A checkpoint of the config's model with seeded random weights."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmseg.registry import MODELS

    import ovseg_plugins.seg2d  # noqa: F401
    init_default_scope('mmseg')
    torch.manual_seed(0)
    model = MODELS.build(Config.fromfile(cfg).model)
    torch.save(dict(state_dict=model.state_dict(), meta={}), path)
    return path


def test_mmseg_test_py_equals_ours_and_runs_our_checks(tmp_path):
    """configs/segearth/potsdam.py (with the tiny random CLIP) on the real
    Potsdam tile: mmseg's .mim/tools/test.py and our tools/test.py give the
    same metrics from the same checkpoint; a class-name file of 7 names for
    the 6-class dataset is refused through mmseg's script by our hook."""
    root = shared_data_path('rs', 'potsdam')
    cfg = tiny_segearth_config(tmp_path, 'configs/segearth/potsdam.py')
    ckpt = _random_checkpoint(cfg, str(tmp_path / 'random.pth'))
    opts = ['--cfg-options', f'test_dataloader.dataset.data_root={root}',
            'test_dataloader.num_workers=0']
    runs = {}
    for name, script in (('mmseg', _mmseg_test_py()),
                         ('ours', 'tools/test.py')):
        r = run_py([script, cfg, ckpt, '--work-dir',
                    str(tmp_path / f'wd_{name}')] + opts,
                   env=dict(OMP_NUM_THREADS='1'))
        out = r.stdout + r.stderr
        assert r.returncode == 0, out[-4000:]
        assert 'RunInputChecksHook' in out  # the config's hook ran
        runs[name] = final_metrics(out)
    assert runs['mmseg'] == runs['ours'] and 'mIoU' in runs['ours']
    names = tmp_path / 'seven.txt'
    names.write_text('road\nbuilding\ngrass\ntree\ncar\nclutter\nwater\n')
    r = run_py([_mmseg_test_py(), cfg, ckpt, '--work-dir',
                str(tmp_path / 'wd_bad')] + opts + [
                    f'model.class_names={names}'])
    assert r.returncode != 0
    assert f'Class-name source {names} has 7 classes but the test dataset ' \
        'PotsdamDataset has 6' in r.stderr, r.stderr[-3000:]
