# Matterport3D regions (GeoPurify / OpenScene .pth):
#   data/matterport_3d/{train,test}/<building>_<region>.pth = (coords,
#     colors [-1, 1], normals, labels 0..20 / 255) - GeoPurify's 21 classes
#     (ScanNet-20 with "other" + ceiling), normals stored in the file;
#   data/matterport_3d_{40,80,160}/test/*.pth = OpenScene K-class 3-tuples
#     (no normals: the test split's normals are then estimated from points;
#     set mesh_template to the region meshes for mesh normals).
# K variants (matterport_{40,80,160}.py) override test_dataloader.dataset's
# num_classes and data_root.
dataset_type = 'MatterportSegDataset'
data_root = 'data/matterport_3d/'
fused_root = 'data/matterport_3d/geopurify_fused'
teacher_root = 'data/matterport_3d/teacher_feats'
fused_dim = 512
teacher_dim = 1088
train_scene_list = None  # leaf configs: the authors' 20 training regions
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
    dataset=dict(type=dataset_type, data_root=data_root,
                 data_prefix=dict(pts='train'), scene_list=train_scene_list,
                 pipeline=train_pipeline, test_mode=False))
test_dataloader = dict(
    batch_size=1,
    num_workers=2,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type=dataset_type, num_classes=21, data_root=data_root,
                 data_prefix=dict(pts='test'),
                 pipeline=test_pipeline, test_mode=True))
val_dataloader = test_dataloader
val_evaluator = dict(type='PointSegMetric', absent_classes='zero')
test_evaluator = val_evaluator
