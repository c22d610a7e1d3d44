"""Networks: ChromaGAN's generator, critic and semantic teacher (``chromagan``), CIC's colour-bin
generator (``cic``, ``cic_bins``), both trained by one adversarial step (``gan``), from pretrained VGG16
weights (``weights``)."""
