"""The names of an exported model's files: one home for what the trainer writes and readers open."""

MODEL_DIR = "model"  # a run's published model, beside its checkpoints
MODEL_FILE = "generator.keras"
MODEL_INFO = "colorizer.json"  # image size, class names, the training config, the step
