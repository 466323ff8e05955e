"""``dataset_meta`` of open-vocabulary segmentors, derived from the vocabulary.

mmseg's visualisers and inferencers draw with ``model.dataset_meta['classes']``
and ``['palette']``. For an open-vocabulary model these come from the current
vocabulary (one display name per class: its first synonym), never from a
dataset guessed from the number of output channels.
"""
import warnings
from typing import List, Optional, Sequence

import numpy as np

# Distinct, colour-blind-friendlier first colours (road, building, low
# vegetation, tree, car, water, ...); further classes get seeded colours.
_BASE_PALETTE = [[128, 64, 128], [220, 20, 60], [107, 142, 35], [0, 130, 0],
                 [255, 200, 0], [0, 120, 255], [150, 100, 50], [255, 0, 255],
                 [0, 255, 255], [128, 128, 128], [255, 128, 0], [70, 70, 70]]


def make_palette(num_classes: int) -> List[List[int]]:
    """Deterministic RGB palette: ``num_classes`` lists of 3 ints in 0..255."""
    pal = [list(c) for c in _BASE_PALETTE[:num_classes]]
    if num_classes > len(_BASE_PALETTE):
        rng = np.random.default_rng(1)
        extra = rng.integers(0, 255, (num_classes - len(_BASE_PALETTE), 3))
        pal += extra.tolist()
    return pal


class VocabularyMetaMixin:
    """``dataset_meta`` property for segmentors holding a ``vocabulary``.

    Reading gives ``dict(classes=<first synonym of each class>,
    palette=<one RGB triple per class>)``. Assigning (what
    ``mmseg.apis.init_model`` and ``MMSegInferencer`` do with a checkpoint's or
    a guessed dataset's meta) keeps a palette of the right length, and ignores
    class names that do not match the vocabulary, with a warning: the names
    of an open-vocabulary model are changed with ``set_vocabulary``.
    """

    _custom_palette: Optional[List[List[int]]] = None

    @property
    def dataset_meta(self) -> dict:
        names = list(self.vocabulary.class_names)
        palette = self._custom_palette
        if palette is None or len(palette) != len(names):
            palette = make_palette(len(names))
        return dict(classes=names, palette=[list(c) for c in palette])

    @dataset_meta.setter
    def dataset_meta(self, meta: Optional[dict]) -> None:
        meta = dict(meta or {})
        names = list(self.vocabulary.class_names)
        classes = meta.get('classes')
        if classes is not None and list(classes) != names:
            warnings.warn(
                f'{type(self).__name__}: ignoring dataset_meta classes '
                f'{list(classes)[:4]}... ({len(classes)}); the class names '
                f'come from the vocabulary {names} (change them with '
                'set_vocabulary).')
        palette = meta.get('palette')
        if palette is not None and len(palette) == len(names):
            self._set_palette(palette)

    def _set_palette(self, palette: Optional[Sequence]) -> None:
        """Use ``palette`` (one RGB triple per class) or the default."""
        if palette is None:
            self._custom_palette = None
            return
        pal = [[int(v) for v in c] for c in palette]
        if any(len(c) != 3 or not all(0 <= v <= 255 for v in c)
               for c in pal):
            raise ValueError(
                f'palette must hold one [R, G, B] triple (0..255) per class; '
                f'got {palette!r}.')
        if len(pal) != len(self.vocabulary.class_names):
            raise ValueError(
                f'palette has {len(pal)} colours for '
                f'{len(self.vocabulary.class_names)} classes; give one per '
                'class.')
        self._custom_palette = pal
