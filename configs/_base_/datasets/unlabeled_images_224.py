# Any folder of unlabeled images, random 224 crops (reflect-padded if small).
dataset_type = 'UnlabeledImageDataset'
data_root = 'data/million_aid/test'
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomPadCrop', crop_size=224),
    dict(type='PackSegInputs')
]
train_dataloader = dict(
    batch_size=4,
    num_workers=4,
    persistent_workers=True,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(type=dataset_type, data_root=data_root,
                 pipeline=train_pipeline))
