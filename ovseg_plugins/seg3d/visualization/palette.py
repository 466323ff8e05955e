"""The class colours of every 3D output (pictures, coloured clouds, the
segmentor's ``dataset_meta``)."""
import numpy as np

__all__ = ['class_palette']

# a fixed qualitative table (ScanNet's 20-class colours), then seeded
# random colours
_BASE = np.array([
    [174, 199, 232], [152, 223, 138], [31, 119, 180], [255, 187, 120],
    [188, 189, 34], [140, 86, 75], [255, 152, 150], [214, 39, 40],
    [197, 176, 213], [148, 103, 189], [196, 156, 148], [23, 190, 207],
    [247, 182, 210], [219, 219, 141], [255, 127, 14], [158, 218, 229],
    [44, 160, 44], [112, 128, 144], [227, 119, 194], [82, 84, 163]
], np.uint8)


def class_palette(num_classes: int, seed: int = 0) -> np.ndarray:
    """Distinct colours for ``num_classes`` classes.

    Args:
        num_classes (int): Number of classes.
        seed (int): Seed of the colours beyond the fixed table's 20.

    Returns:
        np.ndarray: ``(num_classes, 3)`` uint8 RGB, the same for the same
        arguments.
    """
    if num_classes <= len(_BASE):
        return _BASE[:num_classes].copy()
    rng = np.random.default_rng(seed)
    extra = rng.integers(0, 256, (num_classes - len(_BASE), 3),
                         dtype=np.uint8)
    return np.concatenate([_BASE, extra])
