"""``test_cfg`` of the 2D segmentors, read as mmseg's ``EncoderDecoder`` does.

mmseg's ``EncoderDecoder`` takes its test-time windows from
``test_cfg=dict(mode='slide', crop_size=(h, w), stride=(h, w))`` (or
``mode='whole'``). Our segmentors honour the same keys, so a stock config's
``model.test_cfg`` (and ``--cfg-options model.test_cfg.mode=whole``) means the
same thing for them. The earlier top-level keys (``mode``, ``slide_crop``,
``slide_stride``) are accepted as aliases that warn; a setting given both
ways is refused (one of the two would be silently ignored).
"""
import warnings
from typing import Optional

from mmengine.config import ConfigDict

from ovseg_plugins.utils.validation import check_slide

TEST_CFG_KEYS = ('mode', 'crop_size', 'stride')
# old top-level key -> test_cfg key
ALIASES = {'mode': 'mode', 'slide_crop': 'crop_size', 'slide_stride': 'stride'}


def resolve_test_cfg(test_cfg: Optional[dict], owner: str,
                     default: dict, mode=None, slide_crop=None,
                     slide_stride=None,
                     zero_crop_is_whole: bool = False) -> ConfigDict:
    """The segmentor's test-time window settings.

    Args:
        test_cfg (dict, optional): ``mode`` ('slide' | 'whole'),
            ``crop_size`` and ``stride`` (int or ``(h, w)``).
        owner (str): Class name for messages.
        default (dict): Settings for keys given nowhere.
        mode, slide_crop, slide_stride: The old top-level keys (None = not
            given); each warns and fills its ``test_cfg`` key.
        zero_crop_is_whole (bool): ``slide_crop=0`` (SAM 3's old default)
            means ``mode='whole'``.

    Returns:
        ConfigDict: ``mode`` and, for 'slide', ``crop_size`` and ``stride``
        as ``(h, w)`` tuples.

    Raises:
        ValueError: An unknown ``test_cfg`` key, a setting given both in
            ``test_cfg`` and as an old key, a bad mode, crop or stride.
    """
    cfg = dict(test_cfg or {})
    unknown = sorted(set(cfg) - set(TEST_CFG_KEYS))
    if unknown:
        raise ValueError(
            f'{owner}: test_cfg has unknown keys {unknown}; it takes '
            f'{list(TEST_CFG_KEYS)} as mmseg\'s EncoderDecoder does.')
    given = dict(mode=mode, slide_crop=slide_crop, slide_stride=slide_stride)
    names = {k: f'test_cfg.{k}' for k in TEST_CFG_KEYS}
    for old, value in given.items():
        if value is None:
            continue
        new = ALIASES[old]
        whole = zero_crop_is_whole and old == 'slide_crop' and value == 0
        if whole and cfg.get('mode', 'whole') != 'whole':
            raise ValueError(
                f'{owner}: slide_crop=0 (whole image) contradicts '
                f"test_cfg.mode={cfg['mode']!r}.")
        if new in cfg and not whole:
            raise ValueError(
                f'{owner}: {old}={value!r} and test_cfg.{new}='
                f'{cfg[new]!r} set the same thing twice; keep '
                f'test_cfg.{new} only ({old} is an old alias).')
        warnings.warn(
            f'{owner}: {old}={value!r} is an old alias of test_cfg.{new}; '
            f'write model.test_cfg=dict({new}=...) as in mmseg configs.',
            FutureWarning, stacklevel=3)
        if whole:
            cfg['mode'] = 'whole'
            names['mode'] = old
            continue
        cfg[new] = value
        names[new] = old
    if 'mode' not in cfg and 'crop_size' in cfg and \
            names['crop_size'] == 'slide_crop':
        cfg['mode'] = 'slide'  # the old key alone meant sliding
    for k, v in default.items():
        cfg.setdefault(k, v)
    if cfg['mode'] not in ('slide', 'whole'):
        raise ValueError(
            f"{owner}: {names['mode']}={cfg['mode']!r}; use 'slide' or "
            "'whole'.")
    if cfg['mode'] == 'whole':
        return ConfigDict(mode='whole')
    if 'crop_size' not in cfg:
        raise ValueError(f"{owner}: test_cfg.mode='slide' needs "
                         'test_cfg.crop_size (and stride), e.g. '
                         'crop_size=(224, 224), stride=(112, 112).')
    if 'stride' not in cfg:
        cfg['stride'] = cfg['crop_size']
    crop, stride = check_slide(cfg['crop_size'], cfg['stride'], owner,
                               crop_name=names['crop_size'],
                               stride_name=names['stride'])
    return ConfigDict(mode='slide', crop_size=crop, stride=stride)
