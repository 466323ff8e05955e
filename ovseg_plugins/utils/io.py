"""Atomic file writes shared by the toolbox."""
import os
import os.path as osp
import tempfile
from typing import Callable


def atomic_write(path: str, write: Callable[[str], None],
                 suffix: str = '.tmp') -> None:
    """Write ``path`` through a temp file in the same folder + ``os.replace``.

    ``write(tmp_path)`` produces the file; a reader (another rank, a later
    phase) sees either the old file or the complete new one, never a half,
    and a failed write leaves no temp file behind.

    Args:
        path (str): Destination; its folder is created.
        write (callable): Writes the content to the given temp path.
        suffix (str): Temp-file suffix.
    """
    d = osp.dirname(osp.abspath(path))
    os.makedirs(d, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix='.tmp_', suffix=suffix, dir=d)
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise
