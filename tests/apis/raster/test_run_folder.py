"""The output folder belongs to the runs that wrote it (ovseg_run.json):
replace, resume and skip decisions of the one rule."""
import json
import os

import pytest

from ovseg_plugins.apis.raster import RunFolder, output_stems

IDENT = dict(model='m1', classes=[['a'], ['b']], input=dict(path='/x.tif'))


def _outputs(d, stem, *suffixes):
    paths = []
    for s in suffixes:
        p = d / f'{stem}{s}'
        p.write_text(s)
        paths.append(str(p))
    return paths


def test_same_command_replaces_its_whole_old_set(tmp_path):
    """A second run of the same command: the old set (polygons included)
    is removed before the new one is written: nothing mixes."""
    with RunFolder(str(tmp_path)) as f:
        assert f.claim({'a': IDENT}) == {'a': 'new'}
        f.done('a', _outputs(tmp_path, 'a', '_labels.tif',
                             '_polygons.geojson', '_summary.json'))
    m = json.loads((tmp_path / 'ovseg_run.json').read_text())
    assert m['jobs']['a']['status'] == 'done'
    assert m['jobs']['a']['outputs'] == ['a_labels.tif', 'a_polygons.geojson',
                                         'a_summary.json']
    with RunFolder(str(tmp_path)) as f:
        assert f.claim({'a': IDENT}) == {'a': 'replace'}
    assert sorted(os.listdir(tmp_path)) == ['.ovseg_run.lock',
                                            'ovseg_run.json']


def test_resume_keeps_finished_windows_and_skips_finished_jobs(tmp_path):
    with RunFolder(str(tmp_path)) as f:
        f.claim({'a': IDENT, 'b': dict(IDENT, input='/y.tif')})
        f.done('a', _outputs(tmp_path, 'a', '_labels.png', '_summary.json'))
        os.makedirs(f.parts_dir('b'))
        (tmp_path / '.ovseg_parts' / 'b' / 'w0000000.npz').write_text('x')
    # killed here: b unfinished, a done
    with RunFolder(str(tmp_path)) as f:
        actions = f.claim({'a': IDENT, 'b': dict(IDENT, input='/y.tif')},
                          resume=True)
    assert actions == {'a': 'skip', 'b': 'resume'}
    assert (tmp_path / '.ovseg_parts' / 'b' / 'w0000000.npz').is_file()
    assert (tmp_path / 'a_labels.png').is_file()


def test_stale_temporaries_of_a_killed_run_are_removed(tmp_path):
    (tmp_path / '.tmp_abc123.tif').write_text('half')
    os.makedirs(tmp_path / '.ovseg_parts' / 'a')
    (tmp_path / '.ovseg_parts' / 'a' / '.tmp_x.npz').write_text('half')
    (tmp_path / 'notes.txt').write_text('mine')
    RunFolder(str(tmp_path)).open().close()
    assert sorted(os.listdir(tmp_path)) == ['.ovseg_parts', '.ovseg_run.lock',
                                            'notes.txt']
    assert os.listdir(tmp_path / '.ovseg_parts' / 'a') == []


def test_output_stems_distinct_for_same_stem_other_extension():
    assert output_stems(['d/a.tif', 'd/a.png', 'd/b.jpg']) == {
        'd/a.tif': 'a_tif', 'd/a.png': 'a_png', 'd/b.jpg': 'b'}
    assert output_stems(['d/tiles/']) == {'d/tiles/': 'tiles'}


def test_overwrite_replaces_another_commands_outputs(tmp_path):
    with RunFolder(str(tmp_path)) as f:
        f.claim({'a': IDENT})
        f.done('a', _outputs(tmp_path, 'a', '_labels.tif'))
    other = dict(IDENT, classes=[['water']])
    with RunFolder(str(tmp_path)) as f:
        with pytest.raises(ValueError):
            f.claim({'a': other})
        assert f.claim({'a': other}, overwrite=True) == {'a': 'replace'}
    assert not (tmp_path / 'a_labels.tif').exists()
