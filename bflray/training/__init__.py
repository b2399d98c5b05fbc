"""Local training of many hospitals at once: one stacked computation per chunk of hospitals."""

from bflray.training.block import ChunkResult, iter_train_chunks, train_block
from bflray.training.optimizers import LocalTraining
from bflray.training.svrg import full_gradient_sum

__all__ = ["ChunkResult", "LocalTraining", "full_gradient_sum", "iter_train_chunks", "train_block"]
