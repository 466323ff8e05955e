"""Scene-list files: one scene name per line (``#`` comments, blank lines
ignored), e.g. ``configs/geopurify/splits/scannet_train_20.txt``."""
import os.path as osp
from typing import List, Optional, Sequence, Union

SceneListSpec = Union[None, str, Sequence[str]]


def _read_text(path: str) -> str:
    """The text of a scene-list file: UTF-8, with or without a byte-order
    mark (a BOM written by Windows editors is dropped, never part of the
    first scene name).

    Raises:
        ValueError: Not UTF-8 (e.g. Latin-1 or UTF-16), naming the file,
            the line and the fix.
    """
    with open(path, 'rb') as f:
        raw = f.read()
    if raw.startswith((b'\xff\xfe', b'\xfe\xff')):
        raise ValueError(
            f'{path}: the scene list is UTF-16 (byte-order mark '
            f'{raw[:2]!r}); save it as UTF-8 text (one scene name per '
            'line).')
    try:
        return raw.decode('utf-8-sig')
    except UnicodeDecodeError as e:
        line = raw[:e.start].count(b'\n') + 1
        raise ValueError(
            f'{path}: line {line} is not UTF-8 text (byte '
            f'{raw[e.start:e.start + 1]!r}; a Latin-1 / Windows-1252 file?); '
            'save the scene list as UTF-8, e.g. iconv -f latin1 -t utf-8 '
            f'{path} > fixed.txt.') from None


def read_scene_list(spec: SceneListSpec,
                    data_root: Optional[str] = None) -> Optional[List[str]]:
    """Scene names from a scene-list file or an inline list.

    Args:
        spec (str | list[str] | None): A file (absolute, relative to the
            working directory, or relative to ``data_root``) or the names.
        data_root (str, optional): Second place to look for a relative file.

    Returns:
        list[str] | None: The names in file order (None when ``spec`` is
        None).

    Raises:
        FileNotFoundError: The file does not exist.
        ValueError: The file is empty, names a scene twice or is not UTF-8
            text (a byte-order mark is dropped).
    """
    if spec is None:
        return None
    if isinstance(spec, str):
        path = spec
        if not osp.isfile(path) and data_root and not osp.isabs(spec):
            path = osp.join(data_root, spec)
        if not osp.isfile(path):
            raise FileNotFoundError(
                f'scene list not found: {spec!r} (also looked in '
                f'data_root={data_root!r}). Give a text file with one scene '
                'name per line, e.g. configs/geopurify/splits/'
                'scannet_train_20.txt, or write one with '
                'tools/geopurify/select_scenes.py.')
        names = [ln.split('#', 1)[0].strip()
                 for ln in _read_text(path).splitlines()]
        names = [n for n in names if n]
        where = path
    else:
        names = [str(n).strip() for n in spec]
        where = '<inline scene_list>'
    if not names:
        raise ValueError(f'{where}: the scene list is empty.')
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ValueError(f'{where}: scenes listed more than once: {dup}.')
    return names


def scene_name_of(path: str, strip: Sequence[str] = ('_vh_clean_2', )) -> str:
    """Scene name of a point file: its stem without e.g. ``_vh_clean_2``."""
    stem = osp.splitext(osp.basename(path))[0]
    for s in strip:
        if s and stem.endswith(s):
            return stem[:-len(s)]
    return stem


def filter_by_scene_list(data_list: List[dict], names: Sequence[str],
                         where: str) -> List[dict]:
    """Keep the infos whose ``scene_name`` is listed, in list order.

    Raises:
        FileNotFoundError: A listed scene has no info / point file.
    """
    by_name = {}
    for info in data_list:
        by_name.setdefault(info['scene_name'], info)
    missing = [n for n in names if n not in by_name]
    if missing:
        raise FileNotFoundError(
            f'{len(missing)} scene(s) of the scene list are not in {where}: '
            f'{missing[:10]}{" ..." if len(missing) > 10 else ""}. Fix the '
            'scene list or data_root / data_prefix (have '
            f'{len(by_name)} scenes, e.g. {sorted(by_name)[:3]}); other '
            'scenes: --cfg-options train_dataloader.dataset.scene_list='
            'my_list.txt (one name per line) or =None for all of them.')
    return [by_name[n] for n in names]
