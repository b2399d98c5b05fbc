"""Local training of a block of hospitals as one stacked computation.

Every hospital starts from the global state and runs ``epochs`` passes of mini-batch
training over its own samples, in its own seeded order (:mod:`bflray.training.batches`).
The hospitals of a chunk step together: their parameters are one contiguous ``C × shape``
tensor per named part, their batches one padded ``C × B × F`` slab evaluated with batched
matrix products, and a mask drops the padding, so a hospital with fewer samples takes no
step once it runs out (and its optimiser state and BatchNorm statistics stay as they are).
The result equals training each hospital alone, up to float rounding; chunks bound memory
and do not change results.

Per chunk and epoch the hospitals' samples are gathered once into batch-major float32
(:func:`~bflray.training.batches.gather_epoch`); models with a hand-written backward
(:class:`~bflray.models.stacked.HandWrittenBackward`) then step without autograd, with SGD
fused into their weight-gradient products; other models go through autograd.

Measured on a 2-core machine with issue 5's head (256 → 128 → 9, batch 32), one core trains
a hospital-epoch of 128 samples in about 0.5 ms at chunks of 32 (0.55 ms at 64, 0.65 ms at
128): small enough chunks keep a step's operands in cache, large enough ones amortise the
per-operation overhead. Several cores train whole chunks in parallel (``workers``).
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import cast

import numpy as np
import torch

from bflray.models.stacked import EpochBatches, HandWrittenBackward, StackedModel, scratch
from bflray.seeding import HospitalSeeds, Purpose
from bflray.training.batches import dropout_keep, epoch_orders, gather_epoch, padded_width
from bflray.training.loss import masked_losses
from bflray.training.optimizers import AdamState, LocalTraining, adam_step, sgd_step


@dataclass(frozen=True)
class ChunkResult:
    """Hospitals ``lo … hi-1`` (positions in the block's request) after local training.

    ``parts`` holds the trained state part by part (``C × k`` each, in the state layout's
    order, buffers last), so FedAvg's partial sum needs no ``C × size`` copy. They live in
    memory the trainer reuses for later chunks (fresh pages cost a fault per 4 KiB): read
    ``states`` or ``weighted_sum`` (fresh arrays) before advancing the iterator; a result
    read later raises instead of returning another chunk's numbers.
    """

    lo: int
    hi: int
    parts: tuple[torch.Tensor, ...]
    losses: np.ndarray
    _current: list[bool] = field(default_factory=lambda: [True], repr=False, compare=False)

    @property
    def states(self) -> np.ndarray:
        """The hospitals' trained state vectors, ``C × size`` float32 (a fresh array)."""
        self._check()
        return torch.cat(self.parts, dim=1).cpu().numpy()

    def weighted_sum(self, weights: np.ndarray) -> np.ndarray:
        """``Σ_c weights[c] · state_c`` (float64, length ``size``); float32 within the chunk."""
        self._check()
        w = torch.from_numpy(np.ascontiguousarray(weights, dtype=np.float32)).to(self.parts[0].device)
        return torch.cat([torch.mv(part.t(), w) for part in self.parts]).double().cpu().numpy()

    def _check(self) -> None:
        if not self._current[0]:
            raise RuntimeError(
                f"the states of hospitals {self.lo}…{self.hi - 1} were overwritten by the next chunk: "
                "read .states or .weighted_sum() before advancing the iterator that yielded them"
            )


def iter_train_chunks(
    model: StackedModel,
    global_state: np.ndarray,
    features: torch.Tensor,
    labels: torch.Tensor,
    *,
    hospital_ids: np.ndarray,
    starts: np.ndarray,
    sizes: np.ndarray,
    settings: LocalTraining,
    seed: int,
    round_: int,
    dropout: float = 0.0,
    full_gradient: np.ndarray | None = None,
    workers: int | None = None,
) -> Iterator[ChunkResult]:
    """Train the hospitals chunk by chunk, yielding each chunk's trained states in order.

    Parameters
    ----------
    features, labels:
        The block's samples (M × F, float32 or float16; M int64), shared, never copied whole.
    hospital_ids, starts, sizes:
        Hospital h owns rows ``starts[i] … starts[i] + sizes[i] - 1``; its id seeds its draws.
    full_gradient:
        ``∇f(ω^t)`` (length ``num_params``), required by the ``svrg`` optimiser.
    workers:
        Chunks trained at once, each on its own thread with one torch thread (default: torch's
        thread count, so a Ray shard given one CPU trains sequentially and an in-process block
        uses every core; chunks shrink below ``settings.chunk_size`` until every worker has
        one). Whole chunks per thread scale where torch's per-operation threading stalls: these
        operations are small, and on a busy machine one preempted thread holds up every
        barrier (measured: 10× slower). While the iterator runs with several workers, torch's
        thread count is 1.
    """
    if settings.optimizer == "svrg" and full_gradient is None:
        raise ValueError("optimizer 'svrg' needs the round's full gradient; got None")
    run = _ChunkRun(
        model, torch.tensor(np.asarray(global_state), dtype=torch.float32, device=features.device),
        None if full_gradient is None else torch.tensor(np.asarray(full_gradient), dtype=torch.float32,
                                                        device=features.device),
        features, labels, hospital_ids=hospital_ids, starts=starts, sizes=sizes, settings=settings, seed=seed,
        round_=round_, dropout=dropout,
    )
    n = len(hospital_ids)
    if n == 0:  # a block none of whose hospitals is in this round's cohort
        return
    workers = max(1, min(torch.get_num_threads() if workers is None else workers, n))
    size = min(settings.chunk_size, -(-n // workers))  # at least one chunk per worker
    bounds = [(lo, min(lo + size, n)) for lo in range(0, n, size)]
    if workers == 1:
        workspace: dict[str, torch.Tensor] = {}  # scratch reused by every chunk: no fresh pages per chunk
        for lo, hi in bounds:
            result = run.train(lo, hi, workspace)
            yield result
            result._current[0] = False  # its memory is about to hold the next chunk
        return
    yield from _parallel(run, bounds, workers)


def _parallel(run: _ChunkRun, bounds: list[tuple[int, int]], workers: int) -> Iterator[ChunkResult]:
    """Chunks on ``workers`` threads, yielded in order. Chunk k + workers reuses chunk k's
    workspace, so it starts only once chunk k has been yielded and its reader has moved on."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    spaces: list[dict[str, torch.Tensor]] = [{} for _ in range(workers)]
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="bflray-chunk")
    try:
        pending = deque(pool.submit(run.train, lo, hi, spaces[k]) for k, (lo, hi) in enumerate(bounds[:workers]))
        for k in range(len(bounds)):
            result = pending.popleft().result()
            yield result
            result._current[0] = False
            if k + workers < len(bounds):
                lo, hi = bounds[k + workers]
                pending.append(pool.submit(run.train, lo, hi, spaces[k % workers]))
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
        torch.set_num_threads(threads)


class _ChunkRun:
    """What every chunk of one call shares; :meth:`train` trains one chunk."""

    def __init__(
        self, model: StackedModel, start: torch.Tensor, full: torch.Tensor | None, features: torch.Tensor,
        labels: torch.Tensor, *, hospital_ids: np.ndarray, starts: np.ndarray, sizes: np.ndarray,
        settings: LocalTraining, seed: int, round_: int, dropout: float,
    ) -> None:
        self.model, self.start, self.full, self.features, self.labels = model, start, full, features, labels
        self.starts, self.sizes, self.settings, self.dropout = starts, sizes, settings, dropout
        self.width = padded_width(sizes, settings.batch_size)
        # every hospital's seeds of the round, hashed once for all chunks
        self.shuffle = HospitalSeeds(seed, round_, hospital_ids, Purpose.SHUFFLE)
        self.masks = None
        if dropout > 0 and model.dropout_width:
            self.masks = HospitalSeeds(seed, round_, hospital_ids, Purpose.DROPOUT_MASK)

    def train(self, lo: int, hi: int, workspace: dict[str, torch.Tensor]) -> ChunkResult:
        s = self.settings
        index = epoch_orders(
            seeds=self.shuffle[lo:hi], starts=self.starts[lo:hi], sizes=self.sizes[lo:hi], epochs=s.epochs,
            width=self.width,
        )
        keep = None
        if self.masks is not None:
            keep = dropout_keep(
                seeds=self.masks[lo:hi], epochs=s.epochs, width=self.width, units=self.model.dropout_width,
                probability=self.dropout, batch_size=s.batch_size, workspace=workspace,
            )
        device = self.features.device
        if keep is not None and keep.device != device:
            keep = keep.to(device)
        sizes = torch.from_numpy(self.sizes[lo:hi].astype(np.float32)).to(device)
        chunk = _Chunk(self.model, self.start, hi - lo, s, self.full, sizes, workspace)
        scale = 1.0 / (1.0 - self.dropout) if self.dropout > 0 else 1.0
        for epoch in range(s.epochs):
            batches = gather_epoch(
                self.features, self.labels, index[:, epoch], s.batch_size, workspace=workspace,
                convert=not chunk.manual,  # a hand-written backward converts batch by batch
            )
            chunk.run_epoch(batches, None if keep is None else keep[epoch], scale, workspace)
        return ChunkResult(lo, hi, *chunk.result())


def train_block(
    model: StackedModel,
    global_state: np.ndarray,
    features: torch.Tensor,
    labels: torch.Tensor,
    **kwargs: object,
) -> tuple[np.ndarray, np.ndarray]:
    """All hospitals' trained states (H × size, float32) and mean training losses (H,);
    keyword arguments as :func:`iter_train_chunks`."""
    ids = np.asarray(kwargs["hospital_ids"])
    states = np.empty((len(ids), model.size), dtype=np.float32)
    losses = np.empty(len(ids), dtype=np.float64)
    for chunk in iter_train_chunks(model, global_state, features, labels, **kwargs):  # type: ignore[arg-type]
        states[chunk.lo : chunk.hi] = chunk.states
        losses[chunk.lo : chunk.hi] = chunk.losses
    return states, losses


def split_parts(
    model: StackedModel, flat: torch.Tensor, copies: int, workspace: dict[str, torch.Tensor] | None = None,
    prefix: str = "part",
) -> dict[str, torch.Tensor]:
    """``copies`` contiguous copies of every named part of one parameter vector (length P),
    in ``workspace`` tensors named ``{prefix}_{part}`` when given."""
    out = {}
    for name, view in model.unflatten(flat.unsqueeze(0)).items():
        shape = (copies, *view.shape[1:])
        out[name] = scratch(workspace, f"{prefix}_{name}", shape, view.dtype, view.device).copy_(view.expand(shape))
    return out


class _Chunk:
    """C hospitals' parameters, buffers and optimiser state while they train."""

    def __init__(
        self, model: StackedModel, start: torch.Tensor, c: int, settings: LocalTraining, full: torch.Tensor | None,
        sizes: torch.Tensor, workspace: dict[str, torch.Tensor],
    ) -> None:
        p = model.num_params
        self.model, self.c, self.settings = model, c, settings
        self.parts = split_parts(model, start[:p], c, workspace)
        self.buffers = start[p:].expand(c, model.num_buffers).clone()
        self.manual = isinstance(model, HandWrittenBackward)
        self.steps = 0  # steps taken so far: until the first, every hospital holds the global state
        # Gradient buffers for the hand-written backward; SGD's step is fused and needs none.
        self.grads: dict[str, torch.Tensor] = {}
        if self.manual and settings.optimizer != "sgd":
            self.grads = {k: scratch(workspace, f"grad_{k}", v.shape, v.dtype, v.device) for k, v in self.parts.items()}
        self.adam = None
        if settings.optimizer == "adam":
            self.adam = {k: AdamState(v.view(c, -1)) for k, v in self.parts.items()}
        self.anchor: dict[str, torch.Tensor] | None = None
        self.full: dict[str, torch.Tensor] | None = None
        if settings.optimizer == "svrg":
            if full is None:
                raise ValueError("optimizer 'svrg' needs the round's full gradient; got None")
            self.anchor = split_parts(model, start[:p], c, workspace, prefix="anchor")
            self.anchor_grads = {k: torch.empty_like(v) for k, v in self.parts.items()} if self.manual else {}
            self.full = {k: v.reshape(1, -1) for k, v in model.unflatten(full.unsqueeze(0)).items()}
        self.svrg_step = (settings.learning_rate / sizes.clamp(min=1)).unsqueeze(1)
        self.loss_sum = torch.zeros(c, dtype=torch.float64, device=start.device)
        self.batches = torch.zeros(c, dtype=torch.float64, device=start.device)

    def run_epoch(
        self, batches: EpochBatches, keep: torch.Tensor | None, scale: float, workspace: dict[str, torch.Tensor]
    ) -> None:
        active = batches.mask.any(dim=2)  # nb × C
        if self.manual:
            self._manual_epoch(batches, keep, scale, active, workspace)
        else:
            self._autograd_epoch(batches, keep, scale, active)

    def _manual_epoch(
        self, batches: EpochBatches, keep: torch.Tensor | None, scale: float, active: torch.Tensor,
        workspace: dict[str, torch.Tensor],
    ) -> None:
        model = cast(HandWrittenBackward, self.model)
        prepared, buffers_after = model.prepare_epoch(batches, self.buffers, workspace=workspace)
        sgd = self.settings.optimizer == "sgd"
        stepped, step_losses = [], []
        for j, anyone in enumerate(active.any(dim=1).tolist()):
            if not anyone:
                continue
            step_keep = None if keep is None else keep[j]
            shared = self.steps == 0  # nobody has moved from the global point yet
            if sgd:
                losses = model.train_step(
                    self.parts, prepared, j, keep=step_keep, keep_scale=scale,
                    learning_rate=self.settings.learning_rate, shared=shared,
                )
            else:
                losses = model.train_step(
                    self.parts, prepared, j, keep=step_keep, keep_scale=scale, grads=self.grads, shared=shared
                )
                if self.anchor is not None:  # SVRG's anchor is the global point throughout
                    model.train_step(
                        self.anchor, prepared, j, keep=step_keep, keep_scale=scale, grads=self.anchor_grads, shared=True
                    )
                self._step(active[j].unsqueeze(1))
            self.steps += 1
            stepped.append(j)
            step_losses.append(losses)
        if stepped:  # one update of the loss sums per epoch, not per step
            self._count(torch.stack(step_losses), active[stepped])
        self.buffers = buffers_after

    def _autograd_epoch(
        self, batches: EpochBatches, keep: torch.Tensor | None, scale: float, active: torch.Tensor
    ) -> None:
        model, names = self.model, list(self.parts)
        leaves = [v.requires_grad_(True) for v in self.parts.values()]
        anchor = None if self.anchor is None else [v.requires_grad_(True) for v in self.anchor.values()]
        for j in range(batches.num_batches):
            if not bool(active[j].any()):
                continue
            x, y, mask = batches.x[j], batches.labels[j], batches.mask[j]
            step_keep = None if keep is None else keep[j] * scale
            named = dict(zip(names, leaves, strict=True))
            logits, new_buffers = model.forward_train(named, self.buffers, x, mask, step_keep)
            losses, _ = masked_losses(logits, y, mask)
            grads = torch.autograd.grad(losses.sum(), leaves)
            self.buffers = new_buffers.detach()
            for name, g in zip(names, grads, strict=True):
                self.grads[name] = g
            if anchor is not None:  # the same batch's gradient at the global point
                named = dict(zip(names, anchor, strict=True))
                anchor_logits, _ = model.forward_train(named, self.buffers, x, mask, step_keep)
                anchor_losses, _ = masked_losses(anchor_logits, y, mask)
                for name, g in zip(names, torch.autograd.grad(anchor_losses.sum(), anchor), strict=True):
                    self.anchor_grads[name] = g
            with torch.no_grad():
                self._step(active[j].unsqueeze(1))
            self._count(losses.detach().unsqueeze(0), active[j].unsqueeze(0))
        for v in [*leaves, *(anchor or [])]:  # workspace tensors: the next chunk copies into them
            v.requires_grad_(False)

    def _step(self, active: torch.Tensor) -> None:
        """Apply the optimiser to ``self.grads`` (C × 1 ``active`` rows only)."""
        c, s = self.c, self.settings
        for name, part in self.parts.items():
            flat, grad = part.view(c, -1), self.grads[name].reshape(c, -1)
            if self.adam is not None:
                adam_step(flat, grad, self.adam[name], active, s)
            elif self.full is not None:
                direction = grad - self.anchor_grads[name].reshape(c, -1) + self.full[name]
                flat.sub_(torch.where(active, self.svrg_step * direction, 0.0))
            else:
                sgd_step(flat, grad, learning_rate=s.learning_rate)

    def _count(self, losses: torch.Tensor, active: torch.Tensor) -> None:
        """Add steps' losses (steps × C) where the hospital took the step (``active``, steps × C)."""
        self.loss_sum += torch.where(active, losses.double(), 0.0).sum(dim=0)
        self.batches += active.double().sum(dim=0)

    def result(self) -> tuple[tuple[torch.Tensor, ...], np.ndarray]:
        c = self.c
        parts = (*(v.detach().view(c, -1) for v in self.parts.values()), self.buffers)
        return parts, (self.loss_sum / self.batches.clamp(min=1)).cpu().numpy()
