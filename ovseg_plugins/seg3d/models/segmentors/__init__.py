from .geopurify_segmentor import GeoPurifySegmentor

__all__ = ['GeoPurifySegmentor']
