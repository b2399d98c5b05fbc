"""The attested finalize stage (ARCHITECTURE, step 9): the coordinator records the round's
payload root and model hash and publishes the model in the off-chain store; every chain
validator (:class:`~bflray.roles.validator.ChainValidator`, hosted by the backend) checks the
round against the store and attests what it recomputed, or refuses with a reason; the ledger
finalizes the round once ⌈2n/3⌉ of the validators attested the same pair.

Records ``final``, ``final_as_recorded`` (the final pair is the coordinator's record, not a
pair colluding validators forged), ``attested``, ``refused`` and the first refusal's
``refusal`` in the round's row. A round that is not final still moves the global model on: the record says so, and
finality is the ledger's verdict for anyone who reads it.
"""

from __future__ import annotations

import numpy as np

from bflray.chain.flock_reference import draw_seed
from bflray.chain.merkle import EMPTY_ROUND_ROOT
from bflray.protocol.stages.chain_plan import federation_of
from bflray.protocol.state import RoundState, RunContext
from bflray.roles import encode_payload
from bflray.roles.validator import RoundClaim


class AttestedFinalizeStage:
    name = "finalize"

    def __call__(self, state: RoundState, ctx: RunContext) -> None:
        fed = federation_of(ctx)
        if state.candidate is None:
            raise RuntimeError(f"round {state.round}: finalize needs a candidate model")
        if not fed.ledger.is_opened(state.round):  # pipelines whose plan stage does not open rounds on chain
            state.receipts.append(fed.open_ledger_round(state.round, draw_seed(ctx.config.experiment.seed, state.round)))
        model = encode_payload(state.candidate)
        state.model_hash = ctx.store.put(model, round_=state.round)  # pruned with its round (store.keep_rounds)
        root = state.payload_root if any(state.payload_root) else EMPTY_ROUND_ROOT
        state.receipts.append(fed.record_round(state.round, root, state.model_hash))
        claim = RoundClaim(state.round, root, state.model_hash)
        verdicts = [v.verify(claim, excluded=_excluded(state)) for v in ctx.validators]
        attesting = {v.validator: (v.payload_root, v.model_hash) for v in verdicts if v.attest}
        if attesting:
            state.receipts.extend(fed.attest_each(state.round, attesting).receipts)
        refusals = [v.reason for v in verdicts if not v.attest]
        final = bool(fed.is_final(state.round))
        state.record.update(
            final=final, final_as_recorded=final and bool(fed.ledger.final_matches_record(state.round)),
            attested=len(attesting), refused=len(refusals), refusal=refusals[0] if refusals else "",
        )
        state.global_params = state.candidate


def _excluded(state: RoundState) -> tuple[int, ...]:
    """Hospitals whose PoR transaction the coordinator found invalid this round."""
    valid = state.hospital_columns.get("por_valid")
    if valid is None or state.updates is None:
        return ()
    return tuple(int(h) for h in state.updates.hospital_ids[~np.asarray(valid, dtype=bool)])

