from .adaptive_conv import adaptive_conv, adaptive_conv_unfold
from .bilinear_upsampler import BilinearUpsampler
from .jbu_learned_range import JBULearnedRange
from .jbu_stack import JBUStack
from .simfeatup import SimFeatUp

__all__ = [
    'BilinearUpsampler', 'SimFeatUp', 'JBUStack', 'JBULearnedRange',
    'adaptive_conv', 'adaptive_conv_unfold'
]
