"""Secret-shared aggregation: fixed-point codec, additive and Shamir sharing, secure sum,
and the Gram matrix (distances, cosines) on shares with Beaver triples."""

from bflray.smpc.additive import reconstruct_additive, share_additive
from bflray.smpc.codec import FixedPointCodec
from bflray.smpc.dealer import Dealer
from bflray.smpc.errors import EncodingOverflowError, ReconstructionError, SmpcError
from bflray.smpc.field import MERSENNE_61
from bflray.smpc.gram import GramResult, cosine_similarities, pairwise_sq_distances, secure_gram
from bflray.smpc.messages import ShareBlock, TripleShare
from bflray.smpc.node import AggregationNode
from bflray.smpc.prg import CryptoRandom, expand_seed
from bflray.smpc.secure_sum import SecureAggregator, SumResult, quantize_weights
from bflray.smpc.shamir import lagrange_at_zero, reconstruct_shamir, share_shamir

__all__ = [
    "MERSENNE_61",
    "AggregationNode",
    "CryptoRandom",
    "Dealer",
    "EncodingOverflowError",
    "FixedPointCodec",
    "GramResult",
    "ReconstructionError",
    "SecureAggregator",
    "ShareBlock",
    "SmpcError",
    "SumResult",
    "TripleShare",
    "cosine_similarities",
    "expand_seed",
    "lagrange_at_zero",
    "pairwise_sq_distances",
    "quantize_weights",
    "reconstruct_additive",
    "reconstruct_shamir",
    "secure_gram",
    "share_additive",
    "share_shamir",
]
