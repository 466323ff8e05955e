# GeoPurify on Matterport3D (21 classes: ScanNet-20 with "other" + ceiling),
# GeoPurify .pth regions with stored normals (data/matterport_3d). Trains on
# the authors' 20 regions (splits/matterport_train_20.txt); evaluates the
# test regions. K-class long-tail variants: matterport_{40,80,160}.py.
_base_ = [
    '../_base_/datasets/matterport_geopurify.py',
    '../_base_/models/geopurify_student.py',
    '../_base_/default_runtime_3d.py',
    '../_base_/schedules/geopurify_adamw_50e.py'
]
train_dataloader = dict(dataset=dict(
    scene_list='{{fileDirname}}/splits/matterport_train_20.txt'))
model = dict(
    normals='columns',
    class_names='{{fileDirname}}/class_names/matterport21.txt',
    text_embeddings='data/matterport_3d/text_embeds_matterport21.pt')
