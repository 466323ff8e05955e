from .bilinear_upsampler import BilinearUpsampler

__all__ = ['BilinearUpsampler']
