"""Class-name vocabularies, prompt templates and the text-embedding cache.

Shared by the 2D (mmseg) and 3D (mmdet3d) components; imports neither.
"""
from .embedding import TextEmbeddingCache, encode_queries, text_cache_key
from .templates import TEMPLATE_SETS, get_templates
from .vocabulary import Vocabulary

__all__ = [
    'Vocabulary', 'TEMPLATE_SETS', 'get_templates', 'encode_queries',
    'TextEmbeddingCache', 'text_cache_key'
]
