from .slide import pad_to_multiple, slide_windows, unpad

__all__ = ['slide_windows', 'pad_to_multiple', 'unpad']
