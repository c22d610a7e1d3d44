"""The colorization Turing test: a two-alternative forced-choice study of real and colorized photos,
served as a small web app, with its fooling rate reported beside the model's MLflow run."""
