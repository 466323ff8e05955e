from .backbone_teacher import PointBackboneTeacher
from .geometric_teacher import GeometricTeacher, local_shape_features

__all__ = ['GeometricTeacher', 'PointBackboneTeacher', 'local_shape_features']
