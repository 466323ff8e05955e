# SimFeatUp recipe: frozen CLIP ViT-B/16 featurizer, JBU-one upsampler,
# attention downsampler, 5 jitters, 30-d random projection, learned
# uncertainty, Content Retention Network image loss (weight 0.1).
custom_imports = dict(imports=['ovseg_plugins.seg2d'], allow_failed_imports=False)
model = dict(
    type='SimFeatUpTrainer',
    featurizer=dict(
        type='DenseCLIPViT',
        model_name='ViT-B-16',
        pretrained='openai',
        attn_mode='segearth',
        ignore_residual=True),
    feature_layer='penultimate',
    upsampler=dict(type='SimFeatUp', feat_dim=512),
    downsampler=dict(type='AttentionDownsampler', dim=512, kernel_size=16),
    n_jitters=5,
    max_pad=20,
    max_zoom=2.0,
    random_projection=30,
    outlier_detection=True,
    rec_img_weight=0.1)
