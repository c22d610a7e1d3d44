"""A training run's life, wherever its worker is: the loop every run's worker runs (``worker_loop``),
its epoch-end protocol (``epoch_end``), the run folder (``checkpoint_store``, ``run_record``) and the
places a run trains: this process (``in_process``), a Tune trial's process (``in_trial``) or Ray Train
workers (``ray_train``). ``chromasweep train`` uses it without any sweep; ``sweeps`` runs trials with it.
Never imports ``sweeps``.
"""
