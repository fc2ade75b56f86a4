"""Batch-size rules: move a known-good (learning rate, batch size) to another batch size.

- :func:`linear_rule` -- lr proportional to B, for SGD (Goyal et al. 2017; Granziol, Zohren & Roberts,
  "Learning Rates as a Function of Batch Size: A Random Matrix Theory Approach", JMLR, arXiv 2006.09092).
- :func:`sqrt_rule` -- lr proportional to sqrt(B), for Adam and other adaptive optimisers (the same
  random-matrix-theory paper).
- :func:`power_scheduler_rule` -- the Power Scheduler's lr = a * B * T^b (Shen et al., arXiv 2408.13359)
  with b = -0.51, T = training tokens: lr is linear in B at a fixed token count and falls as T^-0.51.

Each returns a :class:`BatchTransfer` with the new learning rate and a note of where the rule holds.
Batch sizes may be in any unit (sequences, tokens, examples) as long as both are in the same one.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from hpo.errors import PriorError
from hpo.priors.step_law import check_positive

__all__ = ["BatchTransfer", "linear_rule", "sqrt_rule", "power_scheduler_rule", "transfer_lr",
           "POWER_SCHEDULER_EXPONENT", "BATCH_RULES"]

#: The Power Scheduler's token exponent b in lr = a * B * T^b: -0.51, read from IBM's dolomite-engine
#: code (``lm_engine/optimization/scheduler.py``). The paper's own a (possibly 4.6) is UNVERIFIED; the
#: rule here uses ratios only, so a cancels.
POWER_SCHEDULER_EXPONENT = -0.51


@dataclass(frozen=True)
class BatchTransfer:
    """A learning rate moved to another batch size.

    Attributes:
        lr: the learning rate for ``batch``.
        batch: the new batch size.
        factor: ``lr / from_lr``.
        from_lr: the known-good learning rate.
        from_batch: the batch size it was good at.
        rule: ``"linear"``, ``"sqrt"`` or ``"power_scheduler"``.
        note: where the rule holds and where it comes from.
    """

    lr: float
    batch: float
    factor: float
    from_lr: float
    from_batch: float
    rule: str
    note: str


def _inputs(lr: Any, batch: Any, new_batch: Any) -> tuple[float, float, float]:
    return check_positive("lr", lr), check_positive("batch", batch), check_positive("new_batch", new_batch)


def linear_rule(lr: float, batch: float, new_batch: float) -> BatchTransfer:
    """``lr * new_batch / batch`` (SGD with or without momentum).

    Holds for SGD below the critical batch size, with a warm-up at large batches (Goyal et al. 2017);
    Granziol et al. derive it as the scaling of the maximal stable learning rate. Not for Adam-type
    optimisers (use :func:`sqrt_rule`).
    """
    old_lr, old, new = _inputs(lr, batch, new_batch)
    factor = new / old
    return BatchTransfer(old_lr * factor, new, factor, old_lr, old, "linear",
                         "linear scaling lr ~ B: SGD, below the critical batch size, with warm-up at large B "
                         "(Granziol, Zohren & Roberts, arXiv 2006.09092; Goyal et al. 2017)")


def sqrt_rule(lr: float, batch: float, new_batch: float) -> BatchTransfer:
    """``lr * sqrt(new_batch / batch)`` (Adam, AdamW and other adaptive optimisers).

    Granziol, Zohren & Roberts (random-matrix theory of the batch Hessian) derive the maximal learning
    rate of adaptive methods as proportional to sqrt(B); it holds while the batch is small against the
    critical batch size (beyond it the optimal lr stops growing) and says nothing about the token budget.
    """
    old_lr, old, new = _inputs(lr, batch, new_batch)
    factor = (new / old) ** 0.5
    return BatchTransfer(old_lr * factor, new, factor, old_lr, old, "sqrt",
                         "square-root scaling lr ~ sqrt(B): Adam-type optimisers, below the critical batch "
                         "size (Granziol, Zohren & Roberts, arXiv 2006.09092)")


def power_scheduler_rule(lr: float, batch: float, new_batch: float, tokens: float | None = None,
                         new_tokens: float | None = None) -> BatchTransfer:
    """The Power Scheduler's law lr = a * B * T^b with b = -0.51 (:data:`POWER_SCHEDULER_EXPONENT`).

    ``lr * (new_batch / batch) * (new_tokens / tokens) ** b``; without token counts T is held fixed
    (the rule is then linear in B). To keep the number of steps fixed instead, pass
    ``new_tokens = tokens * new_batch / batch`` (lr then grows about as B^0.49).

    Holds for the WSD (warmup-stable-decay) / Power schedules with muP that Shen et al. (arXiv
    2408.13359) fitted it on: small dense LMs, peak lr capped at lr_max. The exponent -0.51 is read from
    IBM's dolomite-engine code; the paper's constant a (possibly 4.6) and lr_max are UNVERIFIED and not
    used here (the rule uses ratios only).
    """
    old_lr, old, new = _inputs(lr, batch, new_batch)
    if (tokens is None) != (new_tokens is None):
        raise PriorError(f"tokens and new_tokens: give both or neither, but got tokens={tokens!r}, "
                         f"new_tokens={new_tokens!r}")
    ratio = 1.0 if tokens is None else check_positive("new_tokens", new_tokens) / check_positive("tokens", tokens)
    factor = (new / old) * ratio ** POWER_SCHEDULER_EXPONENT
    return BatchTransfer(old_lr * factor, new, factor, old_lr, old, "power_scheduler",
                         "Power Scheduler lr = a B T^b, b = -0.51 (Shen et al., arXiv 2408.13359; exponent from "
                         "the dolomite-engine code, the paper's a and lr_max UNVERIFIED): WSD/Power schedules "
                         "with muP, small dense LMs, lr below lr_max")


BATCH_RULES = {"linear": linear_rule, "sqrt": sqrt_rule, "power_scheduler": power_scheduler_rule}


def transfer_lr(lr: float, batch: float, new_batch: float, rule: str = "sqrt", **kwargs: Any) -> BatchTransfer:
    """Apply the named rule (``"linear"``, ``"sqrt"``, ``"power_scheduler"``; ``kwargs`` go to it)."""
    if rule not in BATCH_RULES:
        raise PriorError(f"rule: must be one of {sorted(BATCH_RULES)}, but got {rule!r}")
    if kwargs and rule != "power_scheduler":
        raise PriorError(f"rule {rule!r} takes no options, but got {sorted(kwargs)}")
    return BATCH_RULES[rule](lr, batch, new_batch, **kwargs)
