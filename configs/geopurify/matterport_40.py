# Matterport3D, the 40 most frequent NYU classes (OpenScene's
# data/matterport_3d_40/test 3-tuples, labels 0..39 / 255); same student
# as matterport.py. Normals of these files are estimated from the points.
_base_ = ['./matterport.py']
test_dataloader = dict(dataset=dict(num_classes=40,
                                    data_root='data/matterport_3d_40/'))
val_dataloader = test_dataloader
model = dict(
    class_names='{{fileDirname}}/class_names/matterport40.txt',
    text_embeddings='data/matterport_3d/text_embeds_matterport40.pt')
