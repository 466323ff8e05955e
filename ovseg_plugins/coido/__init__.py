"""CoIDO data selection, framework-neutral (mmengine registries), usable by
mmseg and mmdet3d configs alike. Imports neither mmseg nor mmdet3d.

``IndexSubsetSampler`` / ``IndexSubsetEpochSampler`` (DATA_SAMPLERS),
``CoIDOSelectionHook`` (HOOKS), ``CoIDOScorer`` and ``CoIDOSegmentor``
(MODELS); the phases as functions in :mod:`ovseg_plugins.coido.apis`
(``run_coido`` builds phase 1 / selection / phase 2 from any training
config). Load with
``custom_imports = dict(imports=['ovseg_plugins.coido'], ...)``; see
``docs/user_guides/coido.md``.
"""
# registers the checkpoint allow-list with torch (safe loading)
from ovseg_plugins.utils import checkpoint as _safe_loading  # noqa: F401
from .hooks import *  # noqa: F401,F403
from .models import *  # noqa: F401,F403
from .samplers import *  # noqa: F401,F403
