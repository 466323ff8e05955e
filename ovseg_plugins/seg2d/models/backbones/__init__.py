from .dense_clip_vit import ATTN_MODES, DenseCLIPViT, surgery_attention
from .hf_sam3 import HFSam3

__all__ = ['DenseCLIPViT', 'ATTN_MODES', 'surgery_attention', 'HFSam3']
