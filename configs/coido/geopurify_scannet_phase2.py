# CoIDO phase 2 for GeoPurify: the unchanged ScanNet config trained on the
# selected scenes only (epoch-based loop -> IndexSubsetEpochSampler, whose
# length is the selection's, so the schedule is sized on it). The pool is ALL
# training scenes: the base config's authors' 20-scene list is removed
# (scene_list=None); the sampler alone restricts training to the selection.
_base_ = ['../geopurify/scannet.py']
custom_imports = dict(imports=['ovseg_plugins.seg3d', 'ovseg_plugins.coido'],
                      allow_failed_imports=False)
coido_files = 'work_dirs/geopurify_scannet_phase1/coido'
train_dataloader = dict(
    dataset=dict(scene_list=None),
    sampler=dict(_delete_=True, type='IndexSubsetEpochSampler', shuffle=True,
                 indices_file=coido_files + '/selected.json'))
