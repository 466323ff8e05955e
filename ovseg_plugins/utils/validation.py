"""Checks of what users feed the toolbox, with errors that name the field,
its owner (config key, component or file) and the fix.

One place per surface; the components call these from their constructors
and loaders:

- config parameters: :func:`check_int`, :func:`check_number`,
  :func:`check_range`, :func:`check_choice`, :func:`check_slide`;
- arrays and tensors read from files (embeddings, features, caches):
  :func:`check_array`;
- label maps and label outputs: :func:`check_label_values`,
  :func:`label_dtype`;
- merged sliding-window outputs: :func:`check_covered`,
  :func:`check_finite_output`;
- errors raised deep inside numpy / torch / scipy while reading a file:
  :func:`file_errors` re-raises them with the file named;
- message size: :func:`short_repr` / :func:`cap_message` (a bad value's repr
  can be huge).
"""
import contextlib
import math
import numbers
from typing import Iterable, Optional, Sequence, Tuple

import numpy as np

MAX_REPR = 200
MAX_MESSAGE = 2000


def short_repr(value, limit: int = MAX_REPR) -> str:
    """``repr(value)`` cut to ``limit`` characters (arrays summarised)."""
    shape = getattr(value, 'shape', None)
    if shape is not None and not isinstance(value, (str, bytes)):
        dtype = getattr(value, 'dtype', '?')
        return f'<{type(value).__name__} shape={tuple(shape)} dtype={dtype}>'
    try:
        s = repr(value)
    except Exception:  # noqa: BLE001 - a broken __repr__ must not hide ours
        s = f'<{type(value).__name__}>'
    if len(s) > limit:
        s = f'{s[:limit - 30]}... ({len(s)} characters)'
    return s


def cap_message(msg: str, limit: int = MAX_MESSAGE) -> str:
    """Cut an error message to ``limit`` characters (head and tail kept)."""
    msg = str(msg)
    if len(msg) <= limit:
        return msg
    keep = limit // 2 - 40
    return (f'{msg[:keep]} ... [{len(msg) - 2 * keep} characters cut] ... '
            f'{msg[-keep:]}')


def _who(name: str, owner: Optional[str]) -> str:
    return f'{owner}: {name}' if owner else name


def check_choice(name: str, value, choices: Sequence, owner: str = None):
    """``value`` is one of ``choices``.

    Raises:
        ValueError: Naming the field, the owner and the choices.
    """
    if value not in choices:
        raise ValueError(f'{_who(name, owner)} must be one of '
                         f'{list(choices)}, got {short_repr(value)}.')
    return value


def check_int(name: str, value, owner: str = None, lo: Optional[int] = None,
              hi: Optional[int] = None) -> int:
    """An integer (``bool`` and non-integral numbers refused) in
    ``[lo, hi]``.

    Raises:
        TypeError: Not an integer.
        ValueError: Out of range.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(
            value, (numbers.Integral, np.integer)):
        raise TypeError(
            f'{_who(name, owner)} must be an integer, got '
            f'{type(value).__name__} {short_repr(value)}; write it without '
            'a decimal point or quotes.')
    value = int(value)
    if (lo is not None and value < lo) or (hi is not None and value > hi):
        raise ValueError(f'{_who(name, owner)}={value} is out of range: it '
                         f'must be in [{lo if lo is not None else "-inf"}, '
                         f'{hi if hi is not None else "inf"}].')
    return value


def check_number(name: str, value, owner: str = None,
                 lo: Optional[float] = None, hi: Optional[float] = None,
                 lo_open: bool = False, hi_open: bool = False) -> float:
    """A finite real number in the interval ``lo..hi`` (open ends by flag).

    Raises:
        TypeError: Not a number (strings, ``None``, ``bool``).
        ValueError: NaN/inf or out of range.
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(
            value, (numbers.Real, np.floating, np.integer)):
        raise TypeError(f'{_who(name, owner)} must be a number, got '
                        f'{type(value).__name__} {short_repr(value)}.')
    value = float(value)
    bad = not math.isfinite(value)
    if lo is not None:
        bad |= value <= lo if lo_open else value < lo
    if hi is not None:
        bad |= value >= hi if hi_open else value > hi
    if bad:
        lb = '(' if lo_open else '['
        rb = ')' if hi_open else ']'
        raise ValueError(
            f'{_who(name, owner)}={value!r} is out of range: it must be a '
            f'finite number in {lb}{lo if lo is not None else "-inf"}, '
            f'{hi if hi is not None else "inf"}{rb}.')
    return value


def check_range(name: str, value, lo: Optional[float], hi: Optional[float],
                owner: str = None) -> float:
    """A finite number in the closed interval ``[lo, hi]``."""
    return check_number(name, value, owner, lo, hi)


def _pair(name, value, owner, lo):
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f'{_who(name, owner)} must be an int or an '
                             f'(h, w) pair, got {short_repr(value)}.')
        return tuple(check_int(name, v, owner, lo=lo) for v in value)
    v = check_int(name, value, owner, lo=lo)
    return v, v


def check_slide(crop, stride, owner: str = None, crop_name='slide_crop',
                stride_name='slide_stride', allow_zero_crop=False
                ) -> Tuple[Tuple[int, int], Tuple[int, int]]:
    """Sliding-window crop and stride: integers > 0 and stride <= crop
    (a larger stride leaves pixels between windows without a prediction).

    Args:
        allow_zero_crop (bool): ``crop == 0`` means "whole image" (the
            stride is then ignored).

    Returns:
        tuple: ``(crop_h, crop_w), (stride_h, stride_w)``.
    """
    c = _pair(crop_name, crop, owner, 0 if allow_zero_crop else 1)
    if allow_zero_crop and c == (0, 0):
        return c, c
    if min(c) < 1:
        raise ValueError(f'{_who(crop_name, owner)}={crop} must be > 0.')
    s = _pair(stride_name, stride, owner, 1)
    if s[0] > c[0] or s[1] > c[1]:
        raise ValueError(
            f'{_who(stride_name, owner)}={stride} is larger than '
            f'{crop_name}={crop}: the pixels between two windows would get '
            f'no prediction. Set {stride_name} <= {crop_name} (e.g. half of '
            'it).')
    return c, s


def check_array(name: str, value, owner: str = None,
                shape: Optional[Sequence[Optional[int]]] = None,
                finite: bool = True, nonzero_rows: bool = False):
    """A numeric array / tensor: its shape (``None`` = any size on that
    axis), finite values, and (``nonzero_rows``) no all-zero row (a zero
    embedding gives cosine 0 with everything).

    Raises:
        TypeError: Not an array / tensor of numbers.
        ValueError: Shape, NaN/inf or zero rows; the message names the
            owner (file) and the field.
    """
    if not hasattr(value, 'shape') or not hasattr(value, 'dtype'):
        raise TypeError(f'{_who(name, owner)} must be an array/tensor, got '
                        f'{type(value).__name__} {short_repr(value)}.')
    arr = value.detach().cpu().float().numpy() if hasattr(
        value, 'detach') else np.asarray(value)
    if not (np.issubdtype(arr.dtype, np.number)
            or arr.dtype == np.bool_):
        raise TypeError(f'{_who(name, owner)} has dtype {arr.dtype}, '
                        'expected numbers.')
    if shape is not None and (arr.ndim != len(shape) or any(
            s is not None and s != a for s, a in zip(shape, arr.shape))):
        want = '(' + ', '.join('N' if s is None else str(s)
                               for s in shape) + ')'
        raise ValueError(f'{_who(name, owner)} has shape '
                         f'{tuple(arr.shape)}, expected {want}.')
    if finite and arr.size and not np.isfinite(arr).all():
        n = int((~np.isfinite(arr)).sum())
        raise ValueError(f'{_who(name, owner)} contains {n} NaN/inf '
                         'values; regenerate it.')
    if nonzero_rows and arr.ndim == 2 and arr.size:
        zero = np.where(~np.abs(arr).any(axis=1))[0]
        if len(zero):
            raise ValueError(f'{_who(name, owner)}: rows {zero[:10].tolist()}'
                             ' are all zeros (no direction to compare '
                             'with); regenerate it.')
    return value


def label_dtype(num_classes: int, owner: str = None):
    """The smallest unsigned dtype holding labels ``0..num_classes-1``
    (uint8 wraps class 256 to 0)."""
    n = check_int('num_classes', num_classes, owner, lo=1)
    if n <= 255:
        return np.uint8
    if n <= 65535:
        return np.uint16
    raise ValueError(f'{_who("num_classes", owner)}={n}: label maps hold at '
                     'most 65535 classes.')


def check_label_values(labels, num_classes: int, owner: str = None,
                       ignore_index: Optional[int] = 255) -> None:
    """Label-map values are class indices ``0..num_classes-1`` or
    ``ignore_index`` (an out-of-range value is silently dropped by the IoU
    histogram: a wrong metric).

    Raises:
        ValueError: Naming the file (owner), the values and the fix.
    """
    arr = np.asarray(labels.detach().cpu() if hasattr(labels, 'detach')
                     else labels)
    vals = np.unique(arr)
    bad = vals[(vals < 0) | (vals >= num_classes)]
    if ignore_index is not None:
        bad = bad[bad != ignore_index]
    if len(bad):
        raise ValueError(
            f'{owner or "label map"}: label values {bad[:10].tolist()} are '
            f'outside the {num_classes} classes (0..{num_classes - 1}) and '
            f'are not ignore_index={ignore_index}; convert the labels '
            '(tools/dataset_converters/) or fix the dataset classes / '
            'reduce_zero_label.')


def check_covered(count, owner: str = None) -> None:
    """Every pixel was covered by at least one sliding window.

    Raises:
        RuntimeError: Naming the owner and the uncovered pixel count.
    """
    if hasattr(count, 'detach'):
        n = int((count <= 0).sum().item())
    else:
        n = int((np.asarray(count) <= 0).sum())
    if n:
        raise RuntimeError(
            f'{owner or "slide inference"}: {n} pixels are covered by no '
            'window (test_cfg.stride > test_cfg.crop_size?); their '
            'prediction would be NaN. Set test_cfg.stride <= '
            'test_cfg.crop_size.')


def check_finite_output(name: str, value, owner: str = None) -> None:
    """An output tensor has no NaN/inf (never label NaN pixels silently).

    Raises:
        FloatingPointError: Naming the output and the owner.
    """
    import torch
    if isinstance(value, torch.Tensor):
        ok = bool(torch.isfinite(value).all())
    else:
        ok = bool(np.isfinite(np.asarray(value)).all())
    if not ok:
        raise FloatingPointError(
            f'{_who(name, owner)} contains NaN/inf; the input or the model '
            'weights produce non-finite values (check the image, the '
            'checkpoint and autocast_dtype).')


@contextlib.contextmanager
def file_errors(path: str, what: str = 'file',
                fix: str = 'regenerate or re-download it',
                catch: Tuple[type, ...] = (Exception, )):
    """Re-raise errors from deep inside numpy / torch / scipy / PIL with the
    file named (and the message capped).

    ``FileNotFoundError``/``PermissionError`` and errors whose message
    already names the file pass unchanged; others become ``ValueError``
    (``TypeError`` stays a ``TypeError``), chained to the original.
    """
    try:
        yield
    except catch as e:
        if isinstance(e, (FileNotFoundError, PermissionError)) or \
                str(path) in str(e):
            raise
        cls = TypeError if isinstance(e, TypeError) else ValueError
        raise cls(cap_message(
            f'Could not read {what} {str(path)!r} ({type(e).__name__}: '
            f'{cap_message(e, 400)}); {fix}.')) from e


def iter_duplicates(keys: Iterable) -> list:
    """Values seen more than once, in first-seen order."""
    seen, dup = set(), []
    for k in keys:
        if k in seen and k not in dup:
            dup.append(k)
        seen.add(k)
    return dup


def check_xyz_rgb(points, owner: str = None, max_abs: float = 1e5) -> None:
    """Point columns ``[x, y, z, r, g, b]``: finite coordinates within
    ``max_abs`` metres and colours in 0..255 (float64 files read as float32,
    or OpenScene colours in [-1, 1] read raw, give such values silently).

    Raises:
        ValueError: Naming the owner (file / component) and the fix.
    """
    import torch
    t = points if isinstance(points, torch.Tensor) else torch.as_tensor(
        np.asarray(points))
    if t.ndim != 2 or t.shape[1] < 6 or not t.shape[0]:
        return
    xyz, rgb = t[:, :3].float(), t[:, 3:6].float()
    if not bool(torch.isfinite(t[:, :6]).all()):
        raise ValueError(f'{owner or "points"}: points contain NaN/inf '
                         '(coordinates or colours); regenerate the point '
                         'file, or check its dtype (float32) and load_dim.')
    big = float(xyz.abs().max())
    if big > max_abs:
        raise ValueError(
            f'{owner or "points"}: coordinates reach {big:.3g} m; the point '
            'file is probably not float32 [x, y, z, r, g, b] (check its '
            'dtype and load_dim) or not in metres.')
    lo, hi = float(rgb.min()), float(rgb.max())
    if lo < -0.5 or hi > 255.5:
        raise ValueError(
            f'{owner or "points"}: colours span [{lo:.3g}, {hi:.3g}], '
            'expected 0..255 (OpenScene files store [-1, 1]: load them with '
            'LoadOpenScenePoints; 16-bit colours: divide by 257).')


def check_one_class_vocabulary(vocabulary, prob_thd: float,
                               owner: str) -> None:
    """A vocabulary of one class labels every pixel with it (the winning
    class of one is always that class): refused unless a background rule
    (``prob_thd``) is set.

    Raises:
        ValueError: Naming the vocabulary and the two fixes.
    """
    if vocabulary.num_classes != 1 or prob_thd:
        return
    name = vocabulary.class_names[0]
    raise ValueError(
        f'{owner}: the vocabulary {vocabulary.source} has one class '
        f'({name!r}), so every pixel would get it. Add a background class '
        f"(e.g. 'background;{name}' with bg_idx=0), or set prob_thd "
        '(pixels whose score is below it go to bg_idx).')


_AUTOCAST_ALIASES = {'float16': 'fp16', 'half': 'fp16', 'bfloat16': 'bf16',
                     'torch.float16': 'fp16', 'torch.bfloat16': 'bf16',
                     'fp32': None, 'float32': None}


def check_autocast_dtype(value, owner: str):
    """``autocast_dtype``: None, ``'fp16'`` or ``'bf16'``.

    Returns:
        torch.dtype | None: The autocast dtype.

    Raises:
        ValueError: Naming the option, the valid values and the spelling
            meant (``'float16'`` -> ``'fp16'``).
    """
    import torch
    table = {None: None, 'fp16': torch.float16, 'bf16': torch.bfloat16}
    if isinstance(value, str) and value in table:
        return table[value]
    if value is None:
        return None
    hint = ''
    key = str(value)
    if key in _AUTOCAST_ALIASES:
        hint = f' (write {_AUTOCAST_ALIASES[key]!r} for {key})'
    raise ValueError(
        f'{owner}: autocast_dtype must be None (fp32), \'fp16\' or '
        f'\'bf16\', got {value!r}{hint}.')


def load_npy(path: str, what: str = 'array') -> np.ndarray:
    """``np.load`` of a numeric ``.npy`` file; an object (pickled) array is
    refused, never unpickled, and every error names the file.

    Raises:
        ValueError: Naming the file and the fix.
    """
    with file_errors(path, what):
        try:
            return np.load(path, allow_pickle=False)
        except ValueError as e:
            if 'allow_pickle' not in str(e):
                raise
            raise ValueError(
                f'{path}: the {what} file holds a Python-object (pickled) '
                'array, which is never loaded (unpickling can run code); '
                'save a numeric array instead: np.save(path, '
                'np.asarray(x, dtype=np.float32)).') from None


def backbone_with_pretrained(backbone: dict, pretrained: Optional[str],
                             owner: str) -> dict:
    """A segmentor's ``pretrained`` (mmseg's convention; ``init_model`` sets
    it to None) put on its backbone; the two naming different weights is
    refused (one would be ignored).

    Raises:
        ValueError: Naming both settings and the one to keep.
    """
    if pretrained is None:
        return backbone
    named = backbone.get('pretrained')
    if named is not None and named != pretrained:
        raise ValueError(
            f'{owner}: pretrained={pretrained!r} and backbone.pretrained='
            f'{named!r} name different weights (one would be ignored); set '
            'only model.backbone.pretrained.')
    return dict(backbone, pretrained=pretrained)
