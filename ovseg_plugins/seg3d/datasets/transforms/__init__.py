from .add_point_normals import AddPointNormals
from .load_openscene_points import LoadOpenScenePoints
from .load_point_features import LoadPointFeatures

__all__ = ['AddPointNormals', 'LoadOpenScenePoints', 'LoadPointFeatures']
