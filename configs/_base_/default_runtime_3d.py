# 3D runtime: mmdet3d's (default_scope='mmdet3d', default hooks with
# Det3DVisualizationHook, log processor) plus a visualizer that the hook can
# draw point segmentation with on a machine without a display
# (tools/test.py CONFIG --show-dir DIR --task lidar_seg: one PNG per scene,
# matplotlib; mmdet3d's own runtime names no visualizer).
_base_ = ['mmdet3d::_base_/default_runtime.py']

# checkpoints also hold the model config as plain data (meta['model_cfg']):
# GeoPurifyInferencer builds a student from it, never from the config text
default_hooks = dict(model_cfg=dict(type='StoreModelConfigHook'),
                     # empty datasets, class counts, missing/empty/truncated
                     # files, checkpoints: clear errors with every tool
                     input_checks=dict(type='RunInputChecksHook'))

vis_backends = [dict(type='LocalVisBackend')]
visualizer = dict(
    type='PointSegLocalVisualizer', vis_backends=vis_backends,
    name='visualizer')
