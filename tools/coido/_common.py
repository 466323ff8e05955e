"""Shared start-up of the CoIDO tools (repo root on sys.path) and the
locations of CoIDO's files for a config."""
import os.path as osp
import sys

_TOOLS = osp.dirname(osp.dirname(osp.abspath(__file__)))
if _TOOLS not in sys.path:
    sys.path.insert(0, _TOOLS)

from _bootstrap import bootstrap  # noqa: E402

bootstrap()


def coido_section(cfg) -> dict:
    """The config's ``coido`` dict (clear error when missing)."""
    c = cfg.get('coido', None)
    if c is None:
        raise KeyError(
            'the config has no `coido = dict(...)` section (files dir, '
            'extract / cluster settings, phase2_config); see '
            'configs/coido/*_phase1.py.')
    return c


def coido_dir(cfg) -> str:
    """Folder of CoIDO's files: ``coido.files_dir`` or <work_dir>/coido."""
    c = cfg.get('coido', {}) or {}
    d = c.get('files_dir')
    if d:
        return d
    wd = cfg.get('work_dir') or osp.join('work_dirs', 'coido')
    return osp.join(wd, 'coido')


def paths(d: str) -> dict:
    return dict(bank=osp.join(d, 'feature_bank.pt'),
                subset=osp.join(d, 'subset.json'),
                clusters=osp.join(d, 'clusters.json'),
                selected=osp.join(d, 'selected.json'),
                scores=osp.join(d, 'coido_scores.json'),
                cost=osp.join(d, 'cost.json'))
