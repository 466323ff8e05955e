# GeoPurify on ScanNet v2 (20 classes). Fused features: run
# tools/geopurify/lift_features.py first; teacher features: export Sonata (or
# any 3D SSL model) per-point features to data/scannet/teacher_feats; class
# text embeddings in the fused features' space: text_embeds_scannet20.pt
# (or set model.text_encoder to the open_clip tower that made the features).
_base_ = [
    '../_base_/datasets/scannet_seg_geopurify.py',
    '../_base_/models/geopurify_student.py',
    '../_base_/default_runtime_3d.py',
    '../_base_/schedules/geopurify_adamw_50e.py'
]
model = dict(
    class_names={{_base_.class_names}},
    text_embeddings='data/scannet/text_embeds_scannet20.pt')
