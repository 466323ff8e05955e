# GeoPurify on ScanNet v2 (20 classes) from OpenScene .pth scene files
# (data/scannet_3d/{train,val}), normals from the *_vh_clean_2.ply mesh faces
# when data/scannet/scans is present (else estimated from the points).
# Trains on the authors' 20 scenes. For the 19-class protocol add
# val_evaluator = dict(type='PointSegMetric', absent_classes='zero',
#                      ignore_classes=['otherfurniture']).
_base_ = [
    '../_base_/datasets/scannet_openscene_geopurify.py',
    '../_base_/models/geopurify_student.py',
    '../_base_/default_runtime_3d.py',
    '../_base_/schedules/geopurify_adamw_50e.py'
]
train_dataloader = dict(dataset=dict(
    scene_list='{{fileDirname}}/splits/scannet_train_20.txt'))
model = dict(
    normals='columns',
    class_names='{{fileDirname}}/class_names/scannet20.txt',
    text_embeddings='data/scannet_3d/text_embeds_scannet20.pt')
