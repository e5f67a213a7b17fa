"""Training: the one loop on Accelerate (engine), the weights' EMA, checkpoints, the run's metrics log and
experiment trackers."""
