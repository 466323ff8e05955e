"""docs/bad_inputs.md: at least 30 rows, each naming a test that exists."""
import os.path as osp
import re

from conftest import REPO_ROOT

DOC = osp.join(REPO_ROOT, 'docs', 'bad_inputs.md')
HERE = osp.dirname(osp.abspath(__file__))


def _rows():
    with open(DOC) as f:
        return [ln for ln in f if re.match(r'\|\s*\d+\s*\|', ln)]


def test_bad_inputs_doc_has_30_rows_each_naming_an_existing_test():
    rows = _rows()
    assert len(rows) >= 30, len(rows)
    nums = [int(r.split('|')[1]) for r in rows]
    assert nums == list(range(1, len(rows) + 1))  # numbered, no gaps
    for row in rows:
        refs = re.findall(r'`(test_\w+\.py)::(test_\w+)(?:\[([\w-]+)\])?`',
                          row)
        assert refs, f'row names no test: {row}'
        for fname, func, param in refs:
            path = osp.join(HERE, fname)
            assert osp.isfile(path), f'{fname} missing ({row})'
            src = open(path).read()
            assert re.search(rf'^def {func}\(', src, re.M), (fname, func)
            if param:
                assert f"'{param}'" in src, (fname, func, param)
