# GeoPurify on ScanNet with CoIDO choosing the training scenes:
#   python tools/coido/run.py configs/coido/geopurify_scannet.py
# GeoPurify trains without 3D labels, so the per-sample loss is the per-scene
# distillation loss (per_sample_loss='split' runs the segmentor's own loss on
# each scene) and the bank embeds each scene by the mean/std of its lifted
# CLIP features (no labels -> the only statistic is log #points). The pool is
# ALL training scenes (the base config's authors' 20-scene list is removed);
# the sampler alone restricts training to the selection (epoch-based loop:
# IndexSubsetEpochSampler, so the schedule is sized on the selection).
# Defaults = CoIDO's published rule (see configs/coido/README.md).
_base_ = ['../geopurify/scannet.py']
custom_imports = dict(imports=['ovseg_plugins.seg3d', 'ovseg_plugins.coido'],
                      allow_failed_imports=False)
train_dataloader = dict(dataset=dict(scene_list=None))
coido = dict(
    extract=dict(
        pipeline=[
            {{_base_.load_points}},
            dict(type='LoadPointFeatures', feature_root={{_base_.fused_root}},
                 expected_dim={{_base_.fused_dim}}),
            dict(type='Pack3DDetInputs', keys=['points'])
        ],
        embedder=dict(source='points', columns=(6, 6 + 512)),
        batch_size=1),
    cluster=dict(ratio=0.2, seed=0, n_clusters=20, knn=30, hist_weight=0.),
    model=dict(scorer=dict(type='CoIDOScorer', hidden=256, dropout=0.1),
               per_sample_loss='split'),
    selection=dict(budget=0.2),
    # scenes are scored one per iteration; the softmax needs a batch: 8
    phase1=dict(passes=3, warmup_passes=1,
                cfg_options=dict(train_dataloader=dict(batch_size=8))))
