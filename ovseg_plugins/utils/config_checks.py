"""Checks of configured parts that the frameworks would accept silently:
evaluator options nobody reads, a CLIP backbone fed images normalised for
another model."""
import inspect
import warnings
from typing import Iterable, List, Optional, Set

# OpenAI CLIP's image normalisation (x 255, RGB): open_clip's default
OPENAI_CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
OPENAI_CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

_PARAM_KINDS = (inspect.Parameter.POSITIONAL_OR_KEYWORD,
                inspect.Parameter.KEYWORD_ONLY)


def init_options(cls) -> Set[str]:
    """Keyword options a class's constructor takes, following ``**kwargs``
    up its bases (mmengine's ``BaseMetric`` options included)."""
    names: Set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get('__init__')
        if init is None:
            continue
        try:
            params = inspect.signature(init).parameters.values()
        except (TypeError, ValueError):
            break
        names |= {p.name for p in params
                  if p.kind in _PARAM_KINDS and p.name != 'self'}
        if not any(p.kind == inspect.Parameter.VAR_KEYWORD for p in params):
            break
    return names


def _metric_cfgs(evaluator) -> List[dict]:
    if evaluator is None:
        return []
    if isinstance(evaluator, dict):
        if 'metrics' in evaluator and evaluator.get('type', 'Evaluator') == \
                'Evaluator':
            return _metric_cfgs(evaluator['metrics'])
        return [evaluator]
    if isinstance(evaluator, (list, tuple)):
        return [m for m in evaluator if isinstance(m, dict)]
    return []


def metric_class(metric: dict, scope: Optional[str] = None):
    """The class a metric config names, from the registry of ``scope`` (or
    the current default scope); None when it cannot be resolved."""
    from mmengine.registry import METRICS, DefaultScope
    mtype = metric.get('type')
    if not isinstance(mtype, str):
        return None
    try:
        with DefaultScope.overwrite_default_scope(scope), \
                METRICS.switch_scope_and_registry(
                    metric.get('_scope_')) as registry:
            return registry.get(mtype)
    except Exception:  # noqa: BLE001 - mmengine names it when built
        return None


def check_evaluator_options(cfg, keys: Iterable[str] = (
        'val_evaluator', 'test_evaluator')) -> None:
    """Refuse evaluator / metric options their class does not take.

    mmseg's ``IoUMetric`` (and others) accept ``**kwargs`` and drop what they
    do not know, so ``test_evaluator.iou_metrik=['mFscore']`` would run and
    report the default mIoU.

    Raises:
        ValueError: Naming the config key, the unknown options and the
            valid ones.
    """
    for key in keys:
        for metric in _metric_cfgs(cfg.get(key)):
            mtype = metric.get('type')
            cls = metric_class(metric)
            if cls is None:
                continue
            known = init_options(cls) | {'type', '_scope_'}
            unknown = sorted(set(metric) - known)
            if unknown:
                valid = sorted(known - {'type', '_scope_'})
                raise ValueError(
                    f'{key}: {mtype} has no option {unknown}; it takes '
                    f'{valid}. An unknown option would be ignored and the run '
                    'would report the defaults: fix its spelling in the '
                    'config or --cfg-options.')


def _fmt(values) -> str:
    return '[' + ', '.join(f'{v:.3f}' for v in values) + ']'


def check_clip_normalisation(model) -> Optional[str]:
    """Warn when a CLIP backbone (:class:`DenseCLIPViT`) sits under a data
    preprocessor whose mean/std are not the backbone's (e.g. a stock mmseg
    config's ImageNet values): the features would be off without an error.

    Returns:
        str | None: The warning given, if any.
    """
    pre = getattr(model, 'data_preprocessor', None)
    mean, std = getattr(pre, 'mean', None), getattr(pre, 'std', None)
    if mean is None or std is None:
        return None
    for m in model.modules():
        if type(m).__name__ != 'DenseCLIPViT':
            continue
        visual = m.visual
        want_m = [255 * v for v in getattr(visual, 'image_mean', None)
                  or OPENAI_CLIP_MEAN]
        want_s = [255 * v for v in getattr(visual, 'image_std', None)
                  or OPENAI_CLIP_STD]
        got_m = [float(v) for v in mean.flatten()]
        got_s = [float(v) for v in std.flatten()]
        if len(got_m) == 3 and max(abs(a - b) for a, b in zip(
                got_m + got_s, want_m + want_s)) <= 0.5:
            return None
        msg = (f'{type(model).__name__}: data_preprocessor mean={_fmt(got_m)} '
               f'std={_fmt(got_s)} are not the CLIP backbone\'s '
               f'({m.model_name}): mean={_fmt(want_m)} std={_fmt(want_s)} '
               '(RGB, 0..255). The features will be off; set model.'
               'data_preprocessor.mean / .std to these values.')
        warnings.warn(msg)
        return msg
    return None
