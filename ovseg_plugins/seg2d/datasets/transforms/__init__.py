from .random_pad_crop import RandomPadCrop

__all__ = ['RandomPadCrop']
