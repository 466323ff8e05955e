from .cls_removal_head import CLSRemovalHead
from .dual_head_fusion_decoder import DualHeadFusionDecoder

__all__ = ['CLSRemovalHead', 'DualHeadFusionDecoder']
