from .load_point_features import LoadPointFeatures

__all__ = ['LoadPointFeatures']
