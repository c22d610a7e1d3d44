"""chromasweep: train a ChromaGAN colorizer and sweep its hyperparameters on Ray, tracked in MLflow."""
