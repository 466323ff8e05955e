"""2D components registered into the mmseg registries.

Load from a config with
``custom_imports = dict(imports=['ovseg_plugins.seg2d'], allow_failed_imports=False)``.
Never imports mmdet3d.
"""
# registers the checkpoint allow-list with torch (safe loading)
from ovseg_plugins.utils import checkpoint as _safe_loading  # noqa: F401
from .datasets import *  # noqa: F401,F403
from .evaluation import *  # noqa: F401,F403
from .models import *  # noqa: F401,F403
