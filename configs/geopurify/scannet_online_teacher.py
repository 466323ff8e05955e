# GeoPurify on ScanNet v2 with an ONLINE teacher instead of exported teacher
# features: the training-free GeometricTeacher here; any mmdet3d point
# backbone config works through PointBackboneTeacher, e.g.
#   teacher=dict(type='PointBackboneTeacher', backbone=dict(type=
#       'PointNet2SASSG', ...), checkpoint='ssl.pth', prefix='backbone.',
#       color_scale=1.0)  # colours in the scale that teacher was trained on
_base_ = ['./scannet.py']
model = dict(teacher=dict(type='GeometricTeacher'), teacher_channels=0)
train_dataloader = dict(dataset=dict(pipeline=[
    {{_base_.load_points}},
    dict(type='LoadPointFeatures', feature_root={{_base_.fused_root}},
         expected_dim={{_base_.fused_dim}}),
    dict(type='Pack3DDetInputs', keys=['points'])
]))
