# 3D runtime: mmdet3d's (default_scope='mmdet3d', default hooks,
# Det3DLocalVisualizer, log processor).
_base_ = ['mmdet3d::_base_/default_runtime.py']
