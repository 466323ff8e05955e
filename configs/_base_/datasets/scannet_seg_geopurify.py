# ScanNet v2 (mmdet3d info format: data/scannet/scannet_infos_{train,val}.pkl,
# points/*.bin xyz+rgb, semantic_mask/*.bin) plus the per-scene fused 2D
# features written by tools/geopurify/lift_features.py and, for training,
# teacher features (tools/geopurify/export_teacher_features.py, or Sonata's
# own export), both as <scene>.npz/.npy.
# Evaluation is deterministic: no rotation/scale/sampling at test time.
class_names = ('wall', 'floor', 'cabinet', 'bed', 'chair', 'sofa', 'table',
               'door', 'window', 'bookshelf', 'picture', 'counter', 'desk',
               'curtain', 'refrigerator', 'showercurtrain', 'toilet', 'sink',
               'bathtub', 'otherfurniture')
metainfo = dict(classes=class_names)
dataset_type = 'ScanNetSceneSegDataset'
data_root = 'data/scannet/'
fused_root = 'data/scannet/geopurify_fused'
teacher_root = 'data/scannet/teacher_feats'
fused_dim = 512
teacher_dim = 1088
data_prefix = dict(pts='points', pts_instance_mask='instance_mask',
                   pts_semantic_mask='semantic_mask')
load_points = dict(type='LoadPointsFromFile', coord_type='DEPTH',
                   shift_height=False, use_color=True, load_dim=6,
                   use_dim=[0, 1, 2, 3, 4, 5])
train_pipeline = [
    load_points,
    dict(type='LoadPointFeatures', feature_root=fused_root,
         expected_dim=fused_dim),
    dict(type='LoadPointFeatures', feature_root=teacher_root,
         expected_dim=teacher_dim),
    dict(type='Pack3DDetInputs', keys=['points'])
]
test_pipeline = [
    load_points,
    dict(type='LoadAnnotations3D', with_bbox_3d=False, with_label_3d=False,
         with_mask_3d=False, with_seg_3d=True),
    dict(type='PointSegClassMapping'),
    dict(type='LoadPointFeatures', feature_root=fused_root,
         expected_dim=fused_dim),
    dict(type='Pack3DDetInputs', keys=['points', 'pts_semantic_mask'])
]
train_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root,
                 ann_file='scannet_infos_train.pkl', metainfo=metainfo,
                 data_prefix=data_prefix, pipeline=train_pipeline,
                 ignore_index=len(class_names), scene_idxs=None,
                 test_mode=False))
test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root,
                 ann_file='scannet_infos_val.pkl', metainfo=metainfo,
                 data_prefix=data_prefix, pipeline=test_pipeline,
                 ignore_index=len(class_names), test_mode=True))
val_dataloader = test_dataloader
val_evaluator = dict(type='SegMetric')
test_evaluator = val_evaluator
