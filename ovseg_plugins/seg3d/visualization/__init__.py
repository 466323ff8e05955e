from .point_seg_visualizer import PointSegLocalVisualizer

__all__ = ['PointSegLocalVisualizer']
