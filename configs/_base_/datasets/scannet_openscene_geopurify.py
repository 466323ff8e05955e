# ScanNet v2 (20 classes) in OpenScene format, as GeoPurify reads it:
#   data/scannet_3d/{train,val}/<scene>_vh_clean_2.pth  (coords, colors in
#     [-1, 1], labels 0..19 / 255)  - OpenScene's scannet_3d.zip;
#   data/scannet/scans/<scene>/<scene>_vh_clean_2.ply (optional): mesh whose
#     faces give area-weighted vertex normals (else PCA normals of points);
#   data/scannet_3d/geopurify_fused/<scene>.npz: fused 2D features
#     (tools/geopurify/lift_features.py); teacher_feats/<scene>.npy (train).
# Points reach the model as [xyz, rgb 0..255, normal, fused, teacher]
# (GeoPurifySegmentor(normals='columns')). Deterministic evaluation.
class_names = ('wall', 'floor', 'cabinet', 'bed', 'chair', 'sofa', 'table',
               'door', 'window', 'bookshelf', 'picture', 'counter', 'desk',
               'curtain', 'refrigerator', 'shower curtain', 'toilet', 'sink',
               'bathtub', 'otherfurniture')
metainfo = dict(classes=class_names)
dataset_type = 'OpenSceneSegDataset'
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
    dataset=dict(type=dataset_type, data_root=data_root, metainfo=metainfo,
                 data_prefix=dict(pts='scannet_3d/train',
                                  mesh='scannet/scans'),
                 scene_list=train_scene_list, pipeline=train_pipeline,
                 test_mode=False, **scene_kwargs))
test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, data_root=data_root, metainfo=metainfo,
                 data_prefix=dict(pts='scannet_3d/val',
                                  mesh='scannet/scans'),
                 pipeline=test_pipeline, test_mode=True, **scene_kwargs))
val_dataloader = test_dataloader
# GeoPurify protocol: I/U accumulated over the split, absent classes = 0.
val_evaluator = dict(type='PointSegMetric', absent_classes='zero')
test_evaluator = val_evaluator
