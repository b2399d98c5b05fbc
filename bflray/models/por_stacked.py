"""The PoR head (:mod:`bflray.models.por_head`) stacked over hospitals, in the trainer's
:class:`~bflray.models.stacked.StackedModel` interface.

A hospital's state is its parameters (``PoRHead.named_parameters()`` order) then its
BatchNorm running statistics (``named_buffers()`` order, without the step counters). Inputs
are κ flattened to ``K·W`` features per sample. Training-mode BatchNorm takes each
hospital's statistics over its real samples and all K positions (padding excluded), with
torch's momentum 0.1, ε = 1e-5, biased variance to normalise and unbiased to track.
Evaluation equals ``PoRHead.eval()`` hospital by hospital.
"""

from __future__ import annotations

from math import prod

import numpy as np
import torch

from bflray.models.por_head import PoRHead, PoRHeadSpec

_MOMENTUM = 0.1
_EPS = 1e-5
_NORMS = ("norm", "bottleneck.body.0", "bottleneck.body.3", "bottleneck.body.6")


class PoRHeadStacked:
    """H PoR heads evaluated and trained at once with batched matrix products."""

    def __init__(self, spec: PoRHeadSpec) -> None:
        self.spec = spec
        template = PoRHead(spec)
        self._params = [(n, tuple(p.shape)) for n, p in template.named_parameters()]
        self._buffers = [(n, tuple(b.shape)) for n, b in template.named_buffers() if b.is_floating_point()]
        self._norms = _NORMS if spec.input_norm else _NORMS[1:]

    @property
    def num_params(self) -> int:
        return sum(prod(s) for _, s in self._params)

    @property
    def num_buffers(self) -> int:
        return sum(prod(s) for _, s in self._buffers)

    @property
    def size(self) -> int:
        return self.num_params + self.num_buffers

    @property
    def dropout_width(self) -> int:
        return sum(self.spec.hidden) if self.spec.dropout > 0 else 0

    @property
    def num_features(self) -> int:
        return self.spec.tokens * self.spec.width

    def init(self, rng: np.random.Generator) -> np.ndarray:
        """torch's default initialisation of a fresh ``PoRHead``, seeded from ``rng``."""
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(rng.integers(2**62)))
            head = PoRHead(self.spec)
        return self.flatten(head)

    def flatten(self, head: PoRHead) -> np.ndarray:
        """A ``PoRHead``'s state as this layout's vector."""
        state = head.state_dict()
        names = [n for n, _ in self._params] + [n for n, _ in self._buffers]
        return torch.cat([state[n].reshape(-1).float() for n in names]).numpy().astype(np.float32)

    def load(self, state: np.ndarray) -> PoRHead:
        """A ``PoRHead`` holding ``state`` (for per-hospital reference computations)."""
        flat = torch.from_numpy(np.array(state, dtype=np.float32)).unsqueeze(0)
        named = {**self.unflatten(flat[:, : self.num_params]), **self._named_buffers(flat[:, self.num_params :])}
        head = PoRHead(self.spec)
        head.load_state_dict({k: v[0] for k, v in named.items()}, strict=False)
        return head

    def unflatten(self, params: torch.Tensor) -> dict[str, torch.Tensor]:
        return _split(params, self._params)

    def _named_buffers(self, buffers: torch.Tensor) -> dict[str, torch.Tensor]:
        return _split(buffers, self._buffers)

    def forward_train(
        self, p: dict[str, torch.Tensor], buffers: torch.Tensor, x: torch.Tensor, mask: torch.Tensor,
        keep: torch.Tensor | None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        running = self._named_buffers(buffers)
        updated: dict[str, torch.Tensor] = {}

        def bn(t: torch.Tensor, prefix: str) -> torch.Tensor:
            m = mask.to(t.dtype)[:, :, None, None]
            count = m.sum(dim=(1, 2, 3)) * t.shape[2]  # H: real samples × positions
            mean = (t * m).sum(dim=(1, 2)) / count.clamp(min=1).unsqueeze(1)
            centred = t - mean[:, None, None, :]
            var = (centred.square() * m).sum(dim=(1, 2)) / count.clamp(min=1).unsqueeze(1)
            out = centred * torch.rsqrt(var + _EPS)[:, None, None, :]
            with torch.no_grad():
                active = (count > 0).unsqueeze(1)
                unbiased = var * (count / (count - 1).clamp(min=1)).unsqueeze(1)
                old_mean, old_var = running[f"{prefix}.running_mean"], running[f"{prefix}.running_var"]
                updated[f"{prefix}.running_mean"] = torch.where(active, (1 - _MOMENTUM) * old_mean + _MOMENTUM * mean, old_mean)
                updated[f"{prefix}.running_var"] = torch.where(active, (1 - _MOMENTUM) * old_var + _MOMENTUM * unbiased, old_var)
            return out * p[f"{prefix}.weight"][:, None, None, :] + p[f"{prefix}.bias"][:, None, None, :]

        logits = self._forward(p, x, bn, keep)
        new_buffers = torch.cat([updated[n].reshape(x.shape[0], -1) for n, _ in self._buffers], dim=1)
        return logits, new_buffers

    def forward_eval(self, p: dict[str, torch.Tensor], buffers: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """Eval-mode logits ``N × B × C``; ``x`` is ``N × B × K·W``, or ``1 × B × K·W`` shared
        by every head.

        In eval mode every BatchNorm is a per-head affine map, so the network folds, per head,
        into few small matrices before it meets the inputs (:meth:`_fold_eval`): the input
        BatchNorm and the bottleneck's first make one relu(a·κ + c); the BatchNorms after the
        convolutions scale their weights and biases; the residual branch's mean over positions
        commutes with the last 1×1 convolution and the input map, which fold into the first
        classifier layer. Only a·κ + c, its ReLU (in place), one matrix product and one sum over
        positions touch the big ``N × B × K × W`` tensor; everything after works on ``W/8``
        channels (channels first, so that the convolution's shifts run along contiguous memory)
        or on pooled features. Equal to the unfolded network up to float rounding, of the same
        size as the unfolded network's. With the smaller blocks of ``score_classifiers``, PoR
        scoring ran 1.9× faster in committee mode and 3.4× in the exact mode than the unfolded
        evaluation (W = 64, K = 25, 2 vCPUs).

        (Writing relu(a·κ + c) as a clamp of κ, with a and c moved into the next weights, saves
        one pass and ran 6-10 % faster, but inactive channels then cancel a·t + c = 0 in
        float32 instead of giving exactly 0: five times the rounding error on the logits.)
        """
        s = self.spec
        heads = p["bottleneck.body.2.weight"].shape[0]
        f = self._fold_eval(p, buffers)
        batch, k, inner = x.shape[1], s.tokens, s.width // s.reduction
        kappa = x.reshape(x.shape[0], batch, k, s.width)
        u = torch.addcmul(f["c"][:, None, None, :], f["a"][:, None, None, :], kappa).relu_()
        # Channels first from here (N × W/8 × B·K): the convolution's shifts then run along
        # contiguous memory.
        z = torch.baddbmm(f["b2"].unsqueeze(2), f["w2"], u.view(heads, batch * k, s.width).transpose(1, 2)).relu_()
        del u
        # Kernel-3 convolution (padding 1): one product gives the three taps, each then shifted
        # into place along the positions of its own sequence.
        taps = torch.baddbmm(f["b3"].unsqueeze(2), f["w3"], z).view(heads, 3, inner, batch, k)
        y = taps[:, 1]
        y[..., 1:] += taps[:, 0, ..., :-1]
        y[..., :-1] += taps[:, 2, ..., 1:]
        pooled = y.relu_().sum(dim=-1).transpose(1, 2)  # N × B × W/8; 1/K is in z1 and in1
        g = torch.baddbmm(torch.matmul(kappa.sum(dim=2), f["in1"]) + f["b1"].unsqueeze(1), pooled, f["z1"])
        if not s.hidden:
            return g
        return self._classify(p, g.relu_(), None, start=1)  # the first classifier layer is folded in

    def _fold_eval(self, p: dict[str, torch.Tensor], buffers: torch.Tensor) -> dict[str, torch.Tensor]:
        """Per-head eval-mode weights with the BatchNorms folded in (see :meth:`forward_eval`):
        ``a``, ``c`` (``N × W``): the map before the first ReLU; ``w2`` (``N × W/8 × W``) and
        ``b2``: the 1×1 convolution down with the BatchNorm after it; ``w3`` (``N × 3·W/8 ×
        W/8``, the three taps stacked) and ``b3`` (on the middle tap):
        the kernel-3 convolution with its BatchNorm; ``in1`` (``N × W × H``), ``z1``
        (``N × W/8 × H``) and ``b1``: the first classifier layer (the output layer when there is
        no hidden one) applied to the input map plus the residual branch through the 1×1
        convolution up, both summed over the K positions (1/K is in ``in1`` and ``z1``)."""
        s = self.spec
        running = self._named_buffers(buffers)

        def affine(prefix: str) -> tuple[torch.Tensor, torch.Tensor]:
            scale = p[f"{prefix}.weight"] * torch.rsqrt(running[f"{prefix}.running_var"] + _EPS)
            return scale, p[f"{prefix}.bias"] - running[f"{prefix}.running_mean"] * scale

        if s.input_norm:
            scale0, shift0 = affine("norm")
        else:
            scale0 = torch.ones_like(p["bottleneck.body.0.weight"])
            shift0 = torch.zeros_like(scale0)
        scale1, shift1 = affine("bottleneck.body.0")
        scale3, shift3 = affine("bottleneck.body.3")
        scale6, shift6 = affine("bottleneck.body.6")
        heads, inner = scale3.shape
        w2 = p["bottleneck.body.2.weight"][..., 0] * scale3[:, :, None]  # N × W/8 × W
        w3 = p["bottleneck.body.5.weight"] * scale6[:, :, None, None]  # N × out × in × tap
        first = p["classifier.0.weight"].transpose(1, 2)  # N × W × H
        k = s.tokens
        zeros = torch.zeros_like(scale3)
        return {
            "a": scale0 * scale1,
            "c": shift0 * scale1 + shift1,
            "w2": w2,
            "b2": p["bottleneck.body.2.bias"] * scale3 + shift3,
            "w3": w3.permute(0, 3, 1, 2).reshape(heads, 3 * inner, inner),
            "b3": torch.cat([zeros, p["bottleneck.body.5.bias"] * scale6 + shift6, zeros], dim=1),  # on the middle tap
            "in1": (scale0 / k)[:, :, None] * first,
            "z1": torch.bmm(p["bottleneck.body.8.weight"][..., 0].transpose(1, 2), first) / k,
            "b1": torch.bmm((shift0 + p["bottleneck.body.8.bias"]).unsqueeze(1), first).squeeze(1)
            + p["classifier.0.bias"],
        }

    def logits(self, states: torch.Tensor, kappa: torch.Tensor) -> torch.Tensor:
        """Eval-mode logits of N states on their own batches (``N × M × K × W``) or on shared
        inputs (``M × K × W``): ``N × M × C``."""
        p = self.num_params
        flat = kappa.reshape(*kappa.shape[:-2], -1)
        if flat.dim() == 2:
            flat = flat.unsqueeze(0)
        return self.forward_eval(self.unflatten(states[:, :p]), states[:, p:], flat)

    @staticmethod
    def _conv3(p: dict[str, torch.Tensor], z: torch.Tensor) -> torch.Tensor:
        """The bottleneck's kernel-3 convolution over positions (padding 1), without its bias."""
        padded = torch.nn.functional.pad(z, (0, 0, 1, 1))
        w3 = p["bottleneck.body.5.weight"]
        k = z.shape[2]
        return sum(torch.einsum("nbki,noi->nbko", padded[:, :, t : t + k], w3[..., t]) for t in range(3))  # type: ignore[return-value]

    def _forward(self, p: dict[str, torch.Tensor], x: torch.Tensor, bn, keep: torch.Tensor | None) -> torch.Tensor:  # type: ignore[no-untyped-def]
        s = self.spec
        h = x.reshape(x.shape[0], x.shape[1], s.tokens, s.width)
        if s.input_norm:
            h = bn(h, "norm")
        z = torch.relu(bn(h, "bottleneck.body.0"))
        z = torch.einsum("nbkw,niw->nbki", z, p["bottleneck.body.2.weight"][..., 0]) + _bias(p, "bottleneck.body.2.bias")
        z = torch.relu(bn(z, "bottleneck.body.3"))
        z = self._conv3(p, z)
        z = torch.relu(bn(z + _bias(p, "bottleneck.body.5.bias"), "bottleneck.body.6"))
        z = torch.einsum("nbki,nwi->nbkw", z, p["bottleneck.body.8.weight"][..., 0]) + _bias(p, "bottleneck.body.8.bias")
        return self._classify(p, (h + z).mean(dim=2), keep)

    def _classify(
        self, p: dict[str, torch.Tensor], g: torch.Tensor, keep: torch.Tensor | None, *, start: int = 0
    ) -> torch.Tensor:
        """Hidden layers (ReLU, dropout mask ``keep``) and the output layer on pooled ``N × B × W``;
        with ``start``, ``g`` is the output of hidden layer ``start − 1`` and the layers before are skipped."""
        s = self.spec
        offset = 0
        for i, width in enumerate(s.hidden):
            if i < start:
                offset += width
                continue
            g = torch.relu(torch.baddbmm(p[f"classifier.{3 * i}.bias"].unsqueeze(1), g, p[f"classifier.{3 * i}.weight"].transpose(1, 2)))
            if keep is not None:
                g = g * keep[:, :, offset : offset + width]
            offset += width
        last = 3 * len(s.hidden)
        return torch.baddbmm(p[f"classifier.{last}.bias"].unsqueeze(1), g, p[f"classifier.{last}.weight"].transpose(1, 2))


def _bias(p: dict[str, torch.Tensor], name: str) -> torch.Tensor:
    return p[name][:, None, None, :]


def _split(flat: torch.Tensor, layout: list[tuple[str, tuple[int, ...]]]) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    start = 0
    for name, shape in layout:
        n = prod(shape)
        out[name] = flat[:, start : start + n].reshape(flat.shape[0], *shape)
        start += n
    return out
