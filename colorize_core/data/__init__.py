"""Data: images found in the layouts users bring (``sources``), checked once into TFRecord shards
(``shards``), and streamed to training as normalised Lab batches (``pipeline``); the bundled sample
and the shared ImageNet sample as datasets; buckets as filesystems."""
