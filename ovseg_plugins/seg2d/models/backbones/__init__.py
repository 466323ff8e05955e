from .dense_clip_vit import ATTN_MODES, DenseCLIPViT, surgery_attention

__all__ = ['DenseCLIPViT', 'ATTN_MODES', 'surgery_attention']
