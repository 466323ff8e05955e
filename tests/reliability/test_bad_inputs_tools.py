"""Bad inputs of tools/train.py and tools/test.py: arguments, work_dir, and
the run checks (empty datasets, class counts, checkpoints) on the tools' own
code path (``_bootstrap.run_runner``), in-process."""
import os
import os.path as osp
import sys

import pytest
import torch

from conftest import REPO_ROOT, shared_data_path
from rel_helpers import TINY_FCN, load_tool, tiny_segearth_config
from ovseg_plugins.utils.checkpoint import load_torch_file

TOOLS = osp.join(REPO_ROOT, 'tools')
if TOOLS not in sys.path:
    sys.path.insert(0, TOOLS)


_tool = load_tool


@pytest.fixture(scope='module')
def train_tool():
    return _tool('train')


@pytest.fixture(scope='module')
def test_tool():
    return _tool('test')


def _cfg(tool, argv):
    return tool.build_cfg(tool.parse_args(argv))


# -------------------------------------------------------------- arguments
def test_missing_config_file(test_tool, tmp_path):
    p = tmp_path / 'nope.py'
    with pytest.raises(FileNotFoundError) as e:
        _cfg(test_tool, [str(p)])
    assert repr(str(p)) in str(e.value)
    assert 'Give the path of a config file' in str(e.value)


def test_test_checkpoint_missing(test_tool, tmp_path):
    p = tmp_path / 'iter_9.pth'
    with pytest.raises(FileNotFoundError) as e:
        _cfg(test_tool, [TINY_FCN, str(p), '--work-dir', str(tmp_path)])
    msg = str(e.value)
    assert repr(str(p)) in msg and 'written by tools/train.py' in msg
    assert 'omit it for training-free models' in msg


def test_resume_checkpoint_missing(train_tool, tmp_path):
    p = tmp_path / 'iter_2.pth'
    with pytest.raises(FileNotFoundError) as e:
        _cfg(train_tool, [TINY_FCN, '--resume', str(p), '--work-dir',
                          str(tmp_path)])
    msg = str(e.value)
    assert repr(str(p)) in msg and '--resume without a path' in msg


def test_amp_without_optim_wrapper(train_tool, tmp_path):
    c = tmp_path / 'no_optim.py'
    c.write_text(f'_base_ = [{TINY_FCN!r}]\noptim_wrapper = None\n')
    with pytest.raises(ValueError) as e:
        _cfg(train_tool, [str(c), '--amp', '--work-dir', str(tmp_path)])
    assert f'--amp needs an optim_wrapper in {c}' in str(e.value)


def test_tta_without_tta_model(test_tool, tmp_path, monkeypatch):
    args = test_tool.parse_args([TINY_FCN, '--tta', '--work-dir',
                                 str(tmp_path)])
    cfg = test_tool.load_config(args)
    cfg.pop('tta_pipeline', None)  # a config without TTA settings
    monkeypatch.setattr(test_tool, 'load_config', lambda a: cfg)
    with pytest.raises(KeyError) as e:
        test_tool.build_cfg(args)
    assert f'--tta needs tta_model and tta_pipeline in {TINY_FCN}' in str(
        e.value)


def test_show_dir_without_visualization_hook(test_tool, tmp_path,
                                             monkeypatch):
    args = test_tool.parse_args([TINY_FCN, '--show-dir', str(tmp_path / 's'),
                                 '--work-dir', str(tmp_path)])
    cfg = test_tool.load_config(args)
    cfg.default_hooks.pop('visualization')
    monkeypatch.setattr(test_tool, 'load_config', lambda a: cfg)
    with pytest.raises(RuntimeError) as e:
        test_tool.build_cfg(args)
    msg = str(e.value)
    assert TINY_FCN in msg and 'default_hooks.visualization' in msg


def test_work_dir_under_a_file(test_tool, tmp_path):
    f = tmp_path / 'a_file'
    f.write_text('x')
    wd = f / 'work'
    with pytest.raises(PermissionError) as e:
        _cfg(test_tool, [TINY_FCN, '--work-dir', str(wd)])
    msg = str(e.value)
    assert repr(str(wd)) in msg and 'Pass --work-dir with a folder you can ' \
        'write to' in msg


def test_work_dir_read_only(test_tool, tmp_path):
    """A read-only folder (chmod 555; as root, whom chmod does not stop, a
    folder on the read-only /proc file system)."""
    if hasattr(os, 'geteuid') and os.geteuid() == 0:
        if not osp.isdir('/proc/self'):
            pytest.skip('root without /proc: no read-only folder to try')
        wd, ro = '/proc/ovseg_reliability_wd', None
    else:
        ro = tmp_path / 'ro'
        ro.mkdir()
        ro.chmod(0o555)
        wd = str(ro / 'wd')
    try:
        with pytest.raises(PermissionError) as e:
            _cfg(test_tool, [TINY_FCN, '--work-dir', wd])
        msg = str(e.value)
        assert repr(wd) in msg and 'is not writable' in msg
        assert 'Pass --work-dir with a folder you can write to' in msg
    finally:
        if ro is not None:
            ro.chmod(0o755)


# ------------------------------------------- run checks on the tool path
def _run_test(test_tool, argv):
    from _bootstrap import run_runner
    cfg = _cfg(test_tool, argv)
    return run_runner(cfg, 'test')


def _potsdam_opts(root):
    return ['--cfg-options'] + [f'{s}_dataloader.dataset.data_root={root}'
                                for s in ('train', 'val', 'test')]


def test_tool_checkpoint_of_another_architecture(test_tool, tmp_path):
    root = shared_data_path('rs', 'potsdam')
    p = tmp_path / 'resnet_like.pth'
    torch.save({'state_dict': {'backbone.conv1.weight':
                               torch.zeros(64, 3, 7, 7)}}, p)
    with pytest.raises(KeyError) as e:
        _run_test(test_tool, [TINY_FCN, str(p), '--work-dir',
                              str(tmp_path / 'wd')] + _potsdam_opts(root))
    msg = str(e.value)
    assert str(p) in msg and 'does not fit EncoderDecoder' in msg
    assert 'another architecture' in msg


def test_tool_truncated_checkpoint(test_tool, tmp_path):
    root = shared_data_path('rs', 'potsdam')
    p = tmp_path / 'iter_4.pth'
    torch.save({'state_dict': {'w': torch.zeros(1000)}}, p)
    p.write_bytes(p.read_bytes()[:300])
    with pytest.raises(ValueError) as e:
        _run_test(test_tool, [TINY_FCN, str(p), '--work-dir',
                              str(tmp_path / 'wd')] + _potsdam_opts(root))
    assert str(p) in str(e.value) and 'truncated' in str(e.value)


def test_tool_empty_dataset(test_tool, tmp_path):
    (tmp_path / 'data' / 'img_dir' / 'val').mkdir(parents=True)
    with pytest.raises(FileNotFoundError) as e:
        _run_test(test_tool, [TINY_FCN, '--work-dir', str(tmp_path / 'wd')]
                  + _potsdam_opts(str(tmp_path / 'data')))
    msg = str(e.value)
    assert 'dataset is empty' in msg and str(tmp_path / 'data') in msg


def test_tool_class_count_mismatch(test_tool, tmp_path):
    root = shared_data_path('rs', 'potsdam')
    cfg = tiny_segearth_config(tmp_path, 'configs/segearth/potsdam.py')
    names = tmp_path / 'seven.txt'  # Potsdam has 6 (bg_idx=5 stays valid)
    names.write_text('road\nbuilding\ngrass\ntree\ncar\nclutter\nwater\n')
    with pytest.raises(ValueError) as e:
        _run_test(test_tool, [cfg, '--work-dir', str(tmp_path / 'wd'),
                              '--cfg-options',
                              f'test_dataloader.dataset.data_root={root}',
                              f'model.class_names={names}'])
    msg = str(e.value)
    assert f'{names} has 7 classes' in msg and 'PotsdamDataset has 6' in msg


def _run_train(train_tool, argv):
    from _bootstrap import run_runner
    return run_runner(_cfg(train_tool, argv), 'train')


def test_resume_without_checkpoint_starts_from_scratch(train_tool, tmp_path):
    """`--resume` (auto) in a work_dir without checkpoints: mmengine's
    documented behaviour, training starts from iteration 0."""
    root = shared_data_path('rs', 'potsdam')
    wd = tmp_path / 'wd'
    _run_train(train_tool, [TINY_FCN, '--resume', '--work-dir', str(wd)]
               + _potsdam_opts(root) + ['train_cfg.max_iters=2'])
    ck = load_torch_file(wd / 'iter_2.pth')
    assert ck['meta']['iter'] == 2


def test_cfg_options_key_typo(test_tool, tmp_path):
    """A misspelt --cfg-options key reaches the dataset: mmengine's
    TypeError names the unexpected argument."""
    root = shared_data_path('rs', 'potsdam')
    with pytest.raises(TypeError) as e:
        _run_test(test_tool, [TINY_FCN, '--work-dir', str(tmp_path / 'wd'),
                              '--cfg-options',
                              f'test_dataloader.dataset.data_roots={root}'])
    assert "unexpected keyword argument 'data_roots'" in str(e.value)


def test_config_that_cannot_build_the_model(test_tool, tmp_path):
    """A config whose model names a type no registry holds (here through
    --cfg-options): was mmengine's KeyError naming neither the config file
    nor the key; now one message with both."""
    root = shared_data_path('rs', 'potsdam')
    with pytest.raises(SystemExit) as e:
        _run_test(test_tool, [TINY_FCN, '--work-dir', str(tmp_path / 'wd')]
                  + _potsdam_opts(root) +
                  ['--cfg-options', 'model.decode_head.type=FCNHeadX'])
    msg = str(e.value)
    assert f'{osp.basename(TINY_FCN)}: cannot build the run from this ' \
        'config (KeyError: ' in msg
    assert 'FCNHeadX is not in the' in msg and '`type`' in msg


# The rows of docs/bad_inputs.md (written by tools/misc/bad_inputs_doc.py):
# test (with its parametrize id) -> (section, input, behaviour).
BAD_INPUTS_DOC = {
    'test_tool_class_count_mismatch': (
        'text',
        'Class count mismatch through `tools/test.py` (`--cfg-options '
        'model.class_names=seven.txt`)',
        "same `ValueError` from the tool's runner"),
    'test_tool_empty_dataset': (
        '2d',
        'Empty dataset through `tools/test.py`',
        "same `FileNotFoundError` from the tool's dataloader builder"),
    'test_tool_checkpoint_of_another_architecture': (
        'ckpt',
        '`tools/test.py` checkpoint of another architecture (no common '
        'keys) — mmengine only warned and evaluated the random init',
        '`KeyError` before the run: "Checkpoint \'<path>\' does not fit '
        'EncoderDecoder (none of its 1 tensors ...). It is probably of '
        'another architecture or config: give the checkpoint trained with '
        'this config ..., or convert it (tools/model_converters/)" (new run '
        'check)'),
    'test_tool_truncated_checkpoint': (
        'ckpt',
        'Truncated checkpoint via `tools/test.py` — was '
        '"PytorchStreamReader failed ..."',
        '`ValueError`: "Could not read checkpoint \'<path>\' (...). The '
        'file may be truncated or not a PyTorch checkpoint; download or '
        'convert it again." (new run check)'),
    'test_missing_config_file': (
        'tools',
        'Config file missing',
        '`FileNotFoundError`: "Config file not found: \'<path>\'. Give the '
        'path of a config file, e.g. configs/segearth/potsdam.py." (new)'),
    'test_test_checkpoint_missing': (
        'tools',
        '`tools/test.py` checkpoint path missing',
        '`FileNotFoundError`: "Checkpoint not found: \'<path>\'. Give the '
        '.pth written by tools/train.py (...), or omit it for training-free '
        'models."'),
    'test_resume_checkpoint_missing': (
        'tools',
        '`--resume <path>` missing',
        '`FileNotFoundError`: "--resume checkpoint not found: \'<path>\'. '
        'Give an existing work_dir/iter_*.pth ..., or pass --resume without '
        'a path ..."'),
    'test_work_dir_under_a_file': (
        'tools',
        'Unwritable work_dir (a path under a regular file) — was an '
        '`OSError` from deep inside the Runner',
        '`PermissionError` before anything is built: "work_dir \'<path>\' '
        'is not writable (FileExistsError/NotADirectoryError: ...). Pass '
        '--work-dir with a folder you can write to." (new: the tools create '
        'the work_dir and write a probe file first)'),
    'test_work_dir_read_only': (
        'tools',
        'Read-only work_dir (`chmod 555` parent; as root, a folder on the '
        'read-only `/proc`)',
        'same `PermissionError`'),
    'test_amp_without_optim_wrapper': (
        'tools',
        '`--amp` with a config without `optim_wrapper`',
        '`ValueError`: "--amp needs an optim_wrapper in <config>."'),
    'test_tta_without_tta_model': (
        'tools',
        '`--tta` with a config without `tta_model`/`tta_pipeline`',
        '`KeyError`: "--tta needs tta_model and tta_pipeline in <config>."'),
    'test_show_dir_without_visualization_hook': (
        'tools',
        '`--show-dir` with a config without a visualization hook',
        '`RuntimeError`: "--show/--show-dir need '
        'default_hooks.visualization in <config> ..."'),
    'test_resume_without_checkpoint_starts_from_scratch': (
        'tools',
        '`--resume` (no path) in a work_dir without checkpoints',
        'handled (mmengine): logs "Auto resumed from the latest checkpoint '
        'None" and trains from iteration 0'),
    'test_cfg_options_key_typo': (
        'tools',
        'Misspelt `--cfg-options` key '
        '(`test_dataloader.dataset.data_roots=...`)',
        '`TypeError` (mmengine/mmseg) naming it: "... unexpected keyword '
        'argument \'data_roots\'" — fix the key'),
}
