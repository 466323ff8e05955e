from .cls_removal_head import CLSRemovalHead

__all__ = ['CLSRemovalHead']
