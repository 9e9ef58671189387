"""How the arms of a run are executed.

A run is split into units: per arm, the headline pass (first seed, whole train split), one
pass per further seed, one per learning-curve size, and for a swept tuning arm one per sweep
trial (which come first: the other units use the winning settings). ``units.Schedule`` hands
out the units whose inputs are ready and merges the finished ones into one record per arm;
``unit_runner.UnitRunner`` runs a unit in a process, or reuses it from the run folder's
``parts/`` (what each kind of pass computes is in ``passes``); an executor
(``local.LocalExecutor``, ``ray_cluster.RayExecutor``) decides where units run.
"""
