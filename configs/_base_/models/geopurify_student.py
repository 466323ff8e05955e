# GeoPurify: student affinity network (3³ conv -> 4 residual blocks -> 1x1 ->
# 128-d unit embeddings) distilled with InfoNCE (tau 0.07, 4096 anchors,
# 48 macro + 15 micro negatives among 96 neighbours); inference pools the
# [fused | rgb | normal] voxel features with K=96, softmax(20·cos) and 19
# sparse products (the authors' code: 1 + 18; the paper's T=18 is
# decode_head.pooling.iterations=18). Points whose pooled feature is zero
# take the label of the nearest non-zero point (zero_fill, as the authors'
# evaluation). Each setting lives in one place: the pooling's in
# decode_head.pooling, the InfoNCE neighbours in loss.knn.
custom_imports = dict(imports=['ovseg_plugins.seg3d'], allow_failed_imports=False)
model = dict(
    type='GeoPurifySegmentor',
    data_preprocessor=dict(type='Det3DDataPreprocessor'),
    backbone=dict(type='StudentAffinityNet', in_channels=512 + 6,
                  hidden_channels=512, embed_dim=128, num_blocks=4),
    loss=dict(type='AffinityInfoNCELoss', num_anchors=4096, num_macro=48,
              num_micro=15, tau=0.07,
              knn=96),  # spatial neighbours of the micro negatives
    class_names=None,
    fused_channels=512,
    teacher_channels=1088,
    text_embeddings=None,
    templates=['a {} in a scene'],
    voxel_size=0.02,
    decode_head=dict(
        type='AffinityPurifyHead',
        pooling=dict(type='GeometryGuidedPooling', knn=96, sharpen=20.,
                     iterations=19, chunk=4096),
        zero_fill=True))
