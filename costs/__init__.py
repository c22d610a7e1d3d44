"""What a trial costs: a dated price table of node types (``prices.yaml``, overridable by a file of the
user's), a trial's rate from the resources it books (``prices``), its running cost (``meter``) and the
sweep's spending limit (``budget``). Estimates from list prices and wall time, never a bill: no
network call, no billing account. Knows neither Ray nor MLflow."""
