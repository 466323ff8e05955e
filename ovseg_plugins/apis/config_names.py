"""Config names of the inferencers: a config file, an alias or a name under
the package's configs (``ovseg_plugins/.mim/configs`` once installed; the
repository's ``configs/`` in a source checkout; no framework imported)."""
import glob
import os.path as osp

from ovseg_plugins.utils.config_paths import config_root

__all__ = ['REPO_ROOT', 'CONFIG_ROOT', 'ALIASES', 'resolve_config']

REPO_ROOT = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
CONFIG_ROOT = config_root()
ALIASES = {
    'segearth': '_base_/models/segearth_vit-b16.py',
    'segearth-ov': '_base_/models/segearth_vit-b16.py',
    'segearth_ov3': '_base_/models/segearth_ov3_sam3.py',
    'segearth-ov3': '_base_/models/segearth_ov3_sam3.py',
    'geopurify': '_base_/models/geopurify_student.py',
}


def resolve_config(model: str) -> str:
    """A config path for ``model``: a file, an alias ('segearth',
    'segearth_ov3'), or a name under ``configs/`` ('segearth/potsdam',
    'segearth/baselines/sclip_potsdam', 'segearth_ov3/loveda', with or
    without ``.py``)."""
    if osp.isfile(model):
        return model
    if model in ALIASES:
        return osp.join(CONFIG_ROOT, ALIASES[model])
    name = model[:-3] if model.endswith('.py') else model
    cand = osp.join(CONFIG_ROOT, name + '.py')
    if osp.isfile(cand):
        return cand
    hits = sorted(glob.glob(osp.join(CONFIG_ROOT, '**', osp.basename(name) +
                                     '.py'), recursive=True))
    hits = [h for h in hits if h.replace(osp.sep, '/').endswith(
        name.replace(osp.sep, '/') + '.py')]
    if len(hits) == 1:
        return hits[0]
    if len(hits) > 1:
        rel = [osp.relpath(h, CONFIG_ROOT)[:-3] for h in hits]
        raise ValueError(f'model={model!r} is ambiguous: {rel}; give one of '
                         'these names.')
    raise FileNotFoundError(
        f'model={model!r} is neither a config file nor a config name under '
        f'{CONFIG_ROOT} (e.g. "segearth/potsdam", "segearth/baselines/'
        f'sclip_potsdam", "segearth_ov3/loveda") nor one of {list(ALIASES)}.')
