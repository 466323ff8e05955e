from .jitter import JitterParams, apply_jitter, sample_jitter
from .slide import pad_to_multiple, slide_windows, unpad

__all__ = ['slide_windows', 'pad_to_multiple', 'unpad', 'JitterParams',
           'sample_jitter', 'apply_jitter']
