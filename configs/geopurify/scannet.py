# GeoPurify on ScanNet v2 (20 classes), mmdet3d info format
# (data/scannet/scannet_infos_{train,val}.pkl). Fused features: run
# tools/geopurify/lift_features.py first; teacher features (Sonata, 1088-d, or
# any teacher): tools/geopurify/export_teacher_features.py writes them to
# data/scannet/teacher_feats and prints the overrides for another width; class
# text embeddings in the fused features' space: text_embeds_scannet20.pt
# (or set model.text_encoder to the open_clip tower that made the features).
# Trains on the authors' 20 scenes (splits/scannet_train_20.txt); evaluates
# all 20 classes with absent classes = 0 (GeoPurify protocol). The paper's
# 19-class protocol (otherfurniture ignored): scannet_19cls.py.
# OpenScene-format data with mesh normals: scannet_openscene.py.
_base_ = [
    '../_base_/datasets/scannet_seg_geopurify.py',
    '../_base_/models/geopurify_student.py',
    '../_base_/default_runtime_3d.py',
    '../_base_/schedules/geopurify_adamw_50e.py'
]
train_dataloader = dict(dataset=dict(
    scene_list='{{fileDirname}}/splits/scannet_train_20.txt'))
model = dict(
    class_names='{{fileDirname}}/class_names/scannet20.txt',
    text_embeddings='data/scannet/text_embeds_scannet20.pt')
val_evaluator = dict(type='PointSegMetric', absent_classes='zero')
test_evaluator = val_evaluator
