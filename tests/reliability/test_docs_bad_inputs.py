"""docs/bad_inputs.md is generated from the tests (tools/misc/
bad_inputs_doc.py): it is up to date, numbered without gaps, and every row
names a test that exists."""
import importlib.util
import os.path as osp
import re

from conftest import REPO_ROOT

DOC = osp.join(REPO_ROOT, 'docs', 'bad_inputs.md')
HERE = osp.dirname(osp.abspath(__file__))


def _generator():
    path = osp.join(REPO_ROOT, 'tools', 'misc', 'bad_inputs_doc.py')
    spec = importlib.util.spec_from_file_location('bad_inputs_doc', path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _rows():
    with open(DOC) as f:
        return [ln for ln in f if re.match(r'\|\s*\d+\s*\|', ln)]


def test_bad_inputs_doc_is_up_to_date():
    gen = _generator()
    with open(DOC, encoding='utf-8') as f:
        assert f.read() == gen.render(gen.collect()), (
            'docs/bad_inputs.md is out of date: run python '
            'tools/misc/bad_inputs_doc.py')


def test_bad_inputs_doc_rows_name_existing_tests():
    rows = _rows()
    assert len(rows) >= 129, len(rows)  # 89 before + at least 40 new
    nums = [int(r.split('|')[1]) for r in rows]
    assert nums == list(range(1, len(rows) + 1))  # numbered, no gaps
    for row in rows:
        refs = re.findall(r'`(test_\w+\.py)::(?:Test\w+::)?(test_\w+)'
                          r'(?:\[([^\]]+)\])?`', row)
        assert refs, f'row names no test: {row}'
        for fname, func, param in refs:
            path = osp.join(HERE, fname)
            assert osp.isfile(path), f'{fname} missing ({row})'
            src = open(path).read()
            assert re.search(rf'^\s*def {func}\(', src, re.M), (fname, func)


def test_generator_resolves_parametrize_ids(tmp_path):
    """Ids from literals, module-level dicts, pytest.param(id=) and ids=;
    undocumented cases described from the docstring and pytest.raises;
    fixtures and None (control) entries skipped."""
    (tmp_path / 'test_bad_inputs_x.py').write_text('''
import pytest
CASES = {'a': 1, 'b': 2}


@pytest.fixture
def test_thing():
    return 1


@pytest.mark.parametrize('case', list(CASES))
def test_dict(case):
    """Bad thing. More."""
    with pytest.raises(ValueError, match='names the file'):
        pass


@pytest.mark.parametrize('v', [pytest.param(1, id='one'), 2])
def test_param(v):
    pass


@pytest.mark.parametrize('v', [object()], ids=['obj'])
def test_ids(v):
    pass


def test_control():
    pass


NAME = 'bank.pt'
A = [pytest.param('bank file missing', lambda t: t, FileNotFoundError,
                  (NAME, 'extract'), id='missing')]
B = [pytest.param('bank holds a list', lambda t: t, TypeError, ('list', ),
                  id='as_list')]


@pytest.mark.parametrize('desc,make,exc,needles', A + B)
def test_cases(desc, make, exc, needles):
    with pytest.raises(exc):
        make(1)


class TestGroup:

    def test_in_class(self):
        with pytest.raises(KeyError):
            pass


BAD_INPUTS_DOC = {'test_param[2]': ('params', 'two', 'handled'),
                  'test_control': None}
''')
    gen = _generator()
    rows = {r['test']: r for r in gen.collect(str(tmp_path))}
    assert sorted(rows) == [
        'test_bad_inputs_x.py::TestGroup::test_in_class',
        'test_bad_inputs_x.py::test_cases[as_list]',
        'test_bad_inputs_x.py::test_cases[missing]',
        'test_bad_inputs_x.py::test_dict[a]',
        'test_bad_inputs_x.py::test_dict[b]',
        'test_bad_inputs_x.py::test_ids[obj]',
        'test_bad_inputs_x.py::test_param[2]',
        'test_bad_inputs_x.py::test_param[one]']
    r = rows['test_bad_inputs_x.py::test_dict[a]']
    assert r['input'] == 'Bad thing. (`a`)'
    assert r['behaviour'] == '`ValueError`: "names the file"'
    assert rows['test_bad_inputs_x.py::test_param[2]']['section'] == 'params'
    r = rows['test_bad_inputs_x.py::test_cases[missing]']
    assert r['input'] == 'bank file missing'
    assert r['behaviour'] == '`FileNotFoundError`: "bank.pt" ... "extract"'
