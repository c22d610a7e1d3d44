"""Training: the loop of distributed GAN steps, validation and checkpoints (``trainer``), and what a
long-lived process keeps between runs of one shape (``warm``)."""
