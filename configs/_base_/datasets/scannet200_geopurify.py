# ScanNet200: OpenScene ScanNet points + raw ScanNet label ids:
#   data/scannet_3d/val/<scene>_vh_clean_2.pth (points; its 20-class labels
#     are not used), data/scannet_3d_200/val/<scene>.txt (one raw ScanNet id
#     per vertex; the 200 benchmark ids -> 0..199, others -> 200 ignored);
#   data/scannet/scans/<scene>/<scene>_vh_clean_2.ply (optional, normals).
# Training uses ScanNet scenes without labels (the student is label-free).
# Metrics: mIoU / mAcc over 200 classes, head / common / tail means and
# f-mIoU / f-mAcc (all but wall, floor, ceiling).
dataset_type = 'ScanNet200SegDataset'
data_root = 'data/'
fused_root = 'data/scannet_3d/geopurify_fused'
teacher_root = 'data/scannet_3d/teacher_feats'
fused_dim = 512
teacher_dim = 1088
train_scene_list = None  # leaf configs: the authors' 20 training scenes
scene_kwargs = dict(pts_template='{scene}_vh_clean_2.pth',
                    mesh_template='{scene}/{scene}_vh_clean_2.ply')
train_pipeline = [
    dict(type='LoadOpenScenePoints', with_seg=False),
    dict(type='AddPointNormals', source='auto'),
    dict(type='LoadPointFeatures', feature_root=fused_root,
         expected_dim=fused_dim),
    dict(type='LoadPointFeatures', feature_root=teacher_root,
         expected_dim=teacher_dim),
    dict(type='Pack3DDetInputs', keys=['points'])
]
test_pipeline = [
    dict(type='LoadOpenScenePoints'),
    dict(type='PointSegClassMapping'),
    dict(type='AddPointNormals', source='auto'),
    dict(type='LoadPointFeatures', feature_root=fused_root,
         expected_dim=fused_dim),
    dict(type='Pack3DDetInputs', keys=['points', 'pts_semantic_mask'])
]
train_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type='OpenSceneSegDataset', data_root=data_root,
                 data_prefix=dict(pts='scannet_3d/train',
                                  mesh='scannet/scans'),
                 scene_list=train_scene_list, pipeline=train_pipeline,
                 test_mode=False, **scene_kwargs))
test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root,
                 data_prefix=dict(pts='scannet_3d/val',
                                  pts_semantic_mask='scannet_3d_200/val',
                                  mesh='scannet/scans'),
                 label_template='{scene}.txt', pipeline=test_pipeline,
                 test_mode=True, **scene_kwargs))
val_dataloader = test_dataloader
val_evaluator = dict(type='PointSegMetric', absent_classes='zero',
                     class_groups='scannet200')
test_evaluator = val_evaluator
