"""Outputs: written atomically, as a set (a failed run leaves no old file
beside a new one), stamped so a later reader refuses a stale or foreign file;
converters never write over their input (docs/bad_inputs.md)."""
import json
import os
import os.path as osp
import sys

import numpy as np
import pytest
from PIL import Image

from conftest import REPO_ROOT
from ovseg_plugins.utils.io import (atomic_write, output_stamp,
                                    verify_output_set, write_output_set)


def _png(value):
    def write(tmp):
        Image.fromarray(np.full((4, 4), value, np.uint8)).save(tmp)
    return write


def _summary(paths, **extra):
    def write(tmp):
        with open(tmp, 'w') as f:
            json.dump(dict(extra, outputs=output_stamp(paths)), f)
    return write


def _run(d, value, fail_at=None):
    """One demo-like run: picture, label map, summary last."""
    pic, lab, summ = (str(d / 'x_overlay.png'), str(d / 'x_labels.png'),
                      str(d / 'x_summary.json'))

    def failing(tmp):
        raise RuntimeError('model crashed')

    writes = [(pic, _png(value)), (lab, _png(value)),
              (summ, _summary([pic, lab], run=value))]
    if fail_at is not None:
        writes[fail_at] = (writes[fail_at][0], failing)
    write_output_set(writes)
    return summ


def test_failed_run_leaves_no_old_summary(tmp_path):
    """Run 1 succeeds; run 2 fails after its picture: the old summary (of
    run 1) is gone, so nothing pairs it with run 2's picture."""
    summ = _run(tmp_path, 1)
    assert verify_output_set(summ)['run'] == 1
    with pytest.raises(RuntimeError):
        _run(tmp_path, 2, fail_at=1)
    assert not osp.exists(summ)
    with pytest.raises(FileNotFoundError) as e:
        verify_output_set(summ)
    assert f'run summary not found: {summ!r}' in str(e.value)
    assert [f for f in os.listdir(tmp_path) if f.startswith('.tmp')] == []


def test_stale_output_beside_summary_refused(tmp_path):
    """A picture replaced after the summary was written (another run, a
    manual copy) does not match the summary's stamp."""
    summ = _run(tmp_path, 1)
    _png(9)(str(tmp_path / 'x_overlay.png'))
    with pytest.raises(ValueError) as e:
        verify_output_set(summ)
    msg = str(e.value)
    assert f'{summ}: ' in msg and 'x_overlay.png is not the file this ' \
        'summary was written with' in msg


def test_atomic_write_failure_keeps_old_file(tmp_path):
    p = tmp_path / 'out.json'
    p.write_text('old')

    def half(tmp):
        with open(tmp, 'w') as f:
            f.write('{"half": ')
        raise OSError('disk full')

    with pytest.raises(OSError):
        atomic_write(str(p), half)
    assert p.read_text() == 'old'
    assert os.listdir(tmp_path) == ['out.json']  # no temp file left


def test_atomic_write_gives_the_mode_open_would(tmp_path):
    """Outputs came out 0600 (mkstemp's mode): unreadable to the group."""
    old = os.umask(0o022)
    try:
        atomic_write(str(tmp_path / 'a.txt'),
                     lambda t: open(t, 'w').write('x'))
        open(tmp_path / 'b.txt', 'w').write('x')
    finally:
        os.umask(old)
    assert os.stat(tmp_path / 'a.txt').st_mode & 0o777 == \
        os.stat(tmp_path / 'b.txt').st_mode & 0o777 == 0o644


def test_binarize_converter_refuses_in_place(tmp_path):
    """``binarize_labels.py DIR DIR`` overwrote the masks it was reading."""
    sys.path.insert(0, osp.join(REPO_ROOT, 'tools', 'dataset_converters'))
    try:
        import binarize_labels
    finally:
        sys.path.pop(0)
    src = tmp_path / 'masks'
    src.mkdir()
    mask = np.zeros((8, 8), np.uint8)
    mask[:4] = 255
    Image.fromarray(mask).save(src / 'a.png')
    before = (src / 'a.png').read_bytes()
    with pytest.raises(ValueError) as e:
        binarize_labels.main([str(src), str(src)])
    msg = str(e.value)
    assert str(src / 'a.png') in msg and 'would overwrite its input' in msg
    assert (src / 'a.png').read_bytes() == before



@pytest.mark.parametrize('args,frag', [
    (['--alpha', '2'], 'image_demo: --alpha=2.0 is out of range'),
    (['--long-side', '0'], 'image_demo: --long-side=0 is out of range'),
], ids=['alpha_above_one', 'long_side_zero'])
def test_image_demo_bad_arguments(tmp_path, args, frag):
    """Refused before any model is built or any file written."""
    from conftest import run_py
    out = tmp_path / 'demo'
    r = run_py(['tools/demo/image_demo.py', 'demo/aerial_demo.png',
                '--classes', 'road;tree', '--out-dir', str(out)] + args,
               env={'HF_HUB_OFFLINE': '1'})
    assert r.returncode != 0
    assert 'ValueError: ' + frag in r.stderr, r.stderr[-2000:]
    assert not out.exists()



@pytest.mark.parametrize('sub', ['ann_dir/val', 'img_dir/val'],
                         ids=['label_folder', 'image_folder'])
def test_test_out_dir_is_an_input_folder(tmp_path, sub):
    """``tools/test.py --out`` pointing at the dataset's label folder wrote
    the predictions over the ground truth."""
    from ovseg_plugins.utils.run_checks import check_output_dir_not_input
    ds = dict(type='PotsdamDataset', data_root=str(tmp_path),
              data_prefix=dict(img_path='img_dir/val',
                               seg_map_path='ann_dir/val'))
    (tmp_path / sub).mkdir(parents=True)
    out = str(tmp_path / sub) + '/'
    with pytest.raises(ValueError) as e:
        check_output_dir_not_input(out, ds)
    msg = str(e.value)
    assert f'--out {out!r} is an input folder of the test dataset' in msg
    assert 'would be overwritten' in msg
    check_output_dir_not_input(str(tmp_path / 'preds'), ds)  # fine


# The rows of docs/bad_inputs.md (written by tools/misc/bad_inputs_doc.py):
# test (with its parametrize id) -> (section, input, behaviour).
BAD_INPUTS_DOC = {
    'test_atomic_write_gives_the_mode_open_would': (
        'outputs', 'Umask-dependent file mode of the outputs - was 0600 '
        '(the temp file\'s) for every atomically written file',
        'handled: `atomic_write` gives the mode `open()` would (0644 under '
        'umask 022)'),
    'test_failed_run_leaves_no_old_summary': (
        'outputs', 'A run that fails after writing its picture, in a folder '
        'holding a previous run - was an old summary beside a new picture',
        'handled: `write_output_set` removes the previous set first and '
        'writes the summary last; `verify_output_set` then raises '
        '`FileNotFoundError`: "run summary not found: ...; the run did not '
        'finish: re-run it"'),
    'test_stale_output_beside_summary_refused': (
        'outputs', 'Output replaced after its summary was written (stale or '
        'foreign file)',
        '`ValueError`: "<summary>: <file> is not the file this summary was '
        'written with (stale or from another run); re-run the tool"'),
    'test_atomic_write_failure_keeps_old_file': (
        'outputs', 'A write that fails half-way (disk full)',
        'handled: the old file is kept whole, no temp file left'),
    'test_binarize_converter_refuses_in_place': (
        'tools', '`binarize_labels.py DIR DIR` (output over its input) - '
        'overwrote the masks',
        '`ValueError`: "<mask>: the output would overwrite its input; give a '
        'DST_DIR other than SRC_DIR"; the input is unchanged'),
    'test_image_demo_bad_arguments[alpha_above_one]': (
        'tools', '`image_demo.py --alpha 2` - was an overlay of inverted '
        'colours', '`ValueError`: "image_demo: --alpha=2.0 is out of range: '
        'it must be a finite number in [0, 1]"; nothing written'),
    'test_image_demo_bad_arguments[long_side_zero]': (
        'tools', '`image_demo.py --long-side 0`',
        '`ValueError`: "image_demo: --long-side=0 is out of range"'),
    'test_test_out_dir_is_an_input_folder[label_folder]': (
        'tools', '`tools/test.py --out <the dataset\'s label folder>` - '
        'wrote predictions over the ground truth',
        '`ValueError` before the run: "--out \'<dir>\' is an input folder of '
        'the test dataset (...): its files would be overwritten. Give '
        'another folder."'),
    'test_test_out_dir_is_an_input_folder[image_folder]': (
        'tools', '`tools/test.py --out <the image folder>`',
        'same `ValueError`'),
}
