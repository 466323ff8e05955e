# CoIDO phase 1 for choosing GeoPurify's training scenes. GeoPurify trains
# without 3D labels, so the per-sample loss is the per-scene distillation
# (InfoNCE) loss: `per_sample_loss='split'` runs the segmentor's own loss on
# each scene. The bank embeds each scene by the mean/std of its lifted CLIP
# features (no labels -> the only statistic is log #points).
#   python tools/coido/run.py configs/coido/geopurify_scannet_phase1.py
_base_ = ['./geopurify_scannet_phase2.py']
coido_files = 'work_dirs/geopurify_scannet_phase1/coido'
model = dict(
    _delete_=True,
    type='CoIDOSegmentor',
    segmentor={{_base_.model}},
    feature_bank=coido_files + '/feature_bank.pt',
    clusters=coido_files + '/clusters.json',
    scorer=dict(type='CoIDOScorer', hidden=256, dropout=0.1),
    per_sample_loss='split',
    scorer_warmup_iters=200)
# scenes are scored one per iteration; the softmax needs a batch: 8 scenes
# pool = all training scenes (no 20-scene list; sample_idx indexes them all)
train_dataloader = dict(
    dataset=dict(scene_list=None),
    batch_size=8,
    sampler=dict(_delete_=True, type='IndexSubsetEpochSampler', shuffle=True,
                 indices_file=coido_files + '/subset.json'))
param_scheduler = [dict(type='LinearLR', start_factor=0.1, by_epoch=True,
                        begin=0, end=1)]
train_cfg = dict(type='EpochBasedTrainLoop', max_epochs=3, val_interval=100)
optim_wrapper = dict(paramwise_cfg=dict(custom_keys={
    'coido_scorer': dict(lr_mult=1.0),
    'log_sigma': dict(lr_mult=30., decay_mult=0.)}))
# cluster_quotas: a spec §11.5 safeguard, NOT in CoIDO (flagged deviation;
# False = the published rule): the budget is split over the clusters in
# proportion to their size. No label-noise guard: GeoPurify has no 3D labels
# (the 'knn_label' signal needs class histograms).
custom_hooks = [dict(type='CoIDOSelectionHook', budget=0.2,
                     out_dir=coido_files, cluster_quotas=True)]
coido = dict(
    files_dir=coido_files,
    phase2_config='{{fileDirname}}/geopurify_scannet_phase2.py',
    extract=dict(
        pipeline=[
            {{_base_.load_points}},
            dict(type='LoadPointFeatures', feature_root={{_base_.fused_root}},
                 expected_dim={{_base_.fused_dim}}),
            dict(type='Pack3DDetInputs', keys=['points'])
        ],
        embedder=dict(source='points', columns=(6, 6 + 512)),
        batch_size=1),
    cluster=dict(ratio=0.2, seed=0, n_clusters=20, knn=30, hist_weight=0.))
