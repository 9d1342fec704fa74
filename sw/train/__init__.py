"""Training machinery shared by every method: the trainer loop and checkpoints, the method
protocol, the one registry that picks a float or fixed implementation, optimisers, datasets,
run sessions and the host runtime (BLAS threads, usable CPUs)."""
