"""Framework-neutral samplers, hooks and models (mmengine registries),
usable by mmseg and mmdet3d configs alike. Imports neither mmseg nor mmdet3d.

CoIDO data selection (``docs``: README "CoIDO"): ``IndexSubsetSampler`` /
``IndexSubsetEpochSampler`` (DATA_SAMPLERS), ``CoIDOSelectionHook`` (HOOKS),
``CoIDOScorer`` and ``CoIDOSegmentor`` (MODELS). Load with
``custom_imports = dict(imports=['ovseg_plugins.coido'], ...)``.
"""
from .hooks import *  # noqa: F401,F403
from .models import *  # noqa: F401,F403
from .samplers import *  # noqa: F401,F403
