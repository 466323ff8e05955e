"""Where ovseg_plugins keeps its caches."""
import os
import os.path as osp


def default_cache_dir() -> str:
    """``$OVSEG_CACHE_DIR`` or ``~/.cache/ovseg_plugins``."""
    return os.environ.get(
        'OVSEG_CACHE_DIR',
        osp.join(osp.expanduser('~'), '.cache', 'ovseg_plugins'))
