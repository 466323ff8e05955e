"""3D components registered into the mmdet3d registries (GeoPurify).

Load from a config with
``custom_imports = dict(imports=['ovseg_plugins.seg3d'], allow_failed_imports=False)``.
Never imports mmseg or ``ovseg_plugins.seg2d``.
"""
# registers the checkpoint allow-list with torch (safe loading)
from ovseg_plugins.utils import checkpoint as _safe_loading  # noqa: F401
from .models import *  # noqa: F401,F403
from .datasets import *  # noqa: F401,F403
from .evaluation import *  # noqa: F401,F403
from .ops import *  # noqa: F401,F403
from .visualization import *  # noqa: F401,F403
