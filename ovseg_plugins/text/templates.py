"""Prompt templates. ``{}`` is replaced by the query word."""
from typing import List, Sequence, Union


def _openai_imagenet() -> List[str]:
    # The 80 templates of OpenAI's CLIP ImageNet zero-shot evaluation, as
    # shipped by open_clip (the same list SegEarth-OV uses).
    from open_clip.zero_shot_metadata import OPENAI_IMAGENET_TEMPLATES
    return [t('{}') for t in OPENAI_IMAGENET_TEMPLATES]


def _simple_imagenet() -> List[str]:
    from open_clip.zero_shot_metadata import SIMPLE_IMAGENET_TEMPLATES
    return [t('{}') for t in SIMPLE_IMAGENET_TEMPLATES]


TEMPLATE_SETS = {
    'openai_imagenet': _openai_imagenet,  # 80
    'simple_imagenet': _simple_imagenet,  # 7
    'photo': lambda: ['a photo of a {}.'],
    'scene': lambda: ['a {} in a scene'],
    'none': lambda: ['{}'],
}


def get_templates(spec: Union[str, Sequence[str]]) -> List[str]:
    """Return a template list from a set name or an explicit list.

    Args:
        spec (str | list[str]): A name in :data:`TEMPLATE_SETS` or templates
            each containing exactly one ``{}``.
    """
    if isinstance(spec, str):
        if spec not in TEMPLATE_SETS:
            raise KeyError(f'Unknown template set {spec!r}; choose one of '
                           f'{sorted(TEMPLATE_SETS)} or give a list.')
        return list(TEMPLATE_SETS[spec]())
    templates = list(spec)
    if not templates:
        raise ValueError('Template list is empty; give at least "{}".')
    for t in templates:
        if not isinstance(t, str) or t.count('{}') != 1:
            raise ValueError(f'Template {t!r} must contain exactly one "{{}}".')
    return templates
