"""Atomic file writes shared by the toolbox."""
import hashlib
import json
import os
import os.path as osp
import tempfile
from typing import Callable, Optional, Sequence, Tuple


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


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
        # mkstemp creates 0600; give the file the mode open() would
        os.chmod(tmp, 0o666 & ~_umask())
        os.replace(tmp, path)
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


def write_output_set(writes: Sequence[Tuple[str, Callable[[str], None]]]
                     ) -> None:
    """Write the files of one run as a set.

    Every destination is removed first (a failed run leaves no old file
    beside a new one), then each is written atomically (:func:`atomic_write`,
    temp file with the destination's suffix) in the given order: put the
    summary LAST (stamped with :func:`output_stamp` of the others) so its
    presence means the set is complete and :func:`verify_output_set` can
    refuse a stale or foreign file.

    Args:
        writes (list[tuple[str, callable]]): ``(path, write(tmp_path))``.
    """
    for path, _ in writes:
        if osp.lexists(path):
            os.remove(path)
    for path, write in writes:
        atomic_write(path, write, suffix=osp.splitext(path)[1] or '.tmp')


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, 'rb') as f:
        for b in iter(lambda: f.read(1 << 20), b''):
            h.update(b)
    return h.hexdigest()


def output_stamp(paths: Sequence[str]) -> dict:
    """``{basename: sha256}`` of finished output files (for a summary)."""
    return {osp.basename(p): _sha256(p) for p in paths}


def verify_output_set(summary_path: str, key: str = 'outputs') -> dict:
    """Read a run summary written with :func:`output_stamp` under ``key`` and
    check that the files beside it are the ones it describes.

    Raises:
        FileNotFoundError: The summary or a listed file is missing.
        ValueError: A listed file differs from the one the summary was
            written with (stale or foreign): re-run the tool.
    """
    if not osp.isfile(summary_path):
        raise FileNotFoundError(f'run summary not found: {summary_path!r}; '
                                'the run did not finish: re-run it.')
    with open(summary_path) as f:
        summary = json.load(f)
    d = osp.dirname(summary_path)
    for name, digest in (summary.get(key) or {}).items():
        p = osp.join(d, name)
        if not osp.isfile(p):
            raise FileNotFoundError(f'{summary_path}: lists {name!r}, which '
                                    'is missing; re-run the tool.')
        if _sha256(p) != digest:
            raise ValueError(f'{summary_path}: {p} is not the file this '
                             'summary was written with (stale or from '
                             'another run); re-run the tool.')
    return summary
