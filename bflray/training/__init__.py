"""Local training of many hospitals at once."""

from bflray.training.local_sgd import train_block_sgd

__all__ = ["train_block_sgd"]
