# GeoPurify on ScanNet200 (val): OpenScene ScanNet points + raw-id labels
# (data/scannet_3d_200/val/<scene>.txt). The student trains on the authors'
# 20 ScanNet scenes (labels unused); text embeddings of the 200 classes.
# Reports mIoU / mAcc, head / common / tail and f-mIoU / f-mAcc (no wall,
# floor, ceiling; the paper's headline ScanNet200 metric).
_base_ = [
    '../_base_/datasets/scannet200_geopurify.py',
    '../_base_/models/geopurify_student.py',
    '../_base_/default_runtime_3d.py',
    '../_base_/schedules/geopurify_adamw_50e.py'
]
train_dataloader = dict(dataset=dict(
    scene_list='{{fileDirname}}/splits/scannet_train_20.txt'))
model = dict(
    normals='columns',
    class_names='{{fileDirname}}/class_names/scannet200.txt',
    text_embeddings='data/scannet_3d/text_embeds_scannet200.pt')
