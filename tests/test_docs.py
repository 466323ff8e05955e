"""The user-facing documents point at files that exist.

Every relative Markdown link and every repository path written in the README,
``docs/``, ``configs/<method>/README.md`` and ``experiments/`` pages must name
a file or folder of this repository, so a reader following them on a fresh
clone never meets a moved script.
"""
import glob
import os.path as osp
import re

import pytest
from conftest import REPO_ROOT

DOCS = sorted(
    [osp.join(REPO_ROOT, 'README.md')] +
    glob.glob(osp.join(REPO_ROOT, 'docs', '**', '*.md'), recursive=True) +
    glob.glob(osp.join(REPO_ROOT, 'configs', '*', 'README.md')) +
    glob.glob(osp.join(REPO_ROOT, 'experiments', '**', '*.md'),
              recursive=True))

# Markdown links [text](target) whose target is not a URL or an anchor.
LINK = re.compile(r'\]\(([^)#\s]+)(?:#[^)]*)?\)')
# Paths of this repository written in prose or in commands.
PATH = re.compile(r'(?<![\w/.-])((?:tools|configs|experiments|docs|tests|demo|'
                  r'ovseg_plugins)/[\w./-]*\w)')
# Paths that are examples of what a user writes, not files of ours.
NOT_OURS = ('configs/geopurify/splits/my_', 'tools/create_data.py',
            'ovseg_plugins/.mim/', 'configs/names.lst')


def _repo_paths(text):
    for p in PATH.findall(text):
        if any(c in p for c in '*<{') or p.startswith(NOT_OURS):
            continue
        # `configs/geopurify/scannet*.py` style stems and `tools/dist_*.sh`
        # are cut at the wildcard by the pattern: skip the truncated stem.
        yield p


@pytest.mark.parametrize('doc', DOCS,
                         ids=[osp.relpath(d, REPO_ROOT) for d in DOCS])
def test_document_points_at_existing_files(doc):
    with open(doc, encoding='utf-8') as f:
        lines = f.read().splitlines()
    missing = []
    for no, line in enumerate(lines, 1):
        for target in LINK.findall(line):
            if re.match(r'[a-z]+:', target):  # http:, https:, mailto:
                continue
            if not osp.exists(osp.join(osp.dirname(doc), target)):
                missing.append(f'line {no}: link {target}')
        for p in _repo_paths(line):
            # a stem followed by a wildcard in the text (scannet*.py)
            end = line.find(p) + len(p)
            if end < len(line) and line[end] in '*_<{':
                continue
            if not osp.exists(osp.join(REPO_ROOT, p)):
                missing.append(f'line {no}: path {p}')
    assert not missing, (f'{osp.relpath(doc, REPO_ROOT)} names files that do '
                         'not exist:\n' + '\n'.join(missing))
