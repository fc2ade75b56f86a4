"""``"pfn-ei"``: BO with the PFN and an exact acquisition on its bar distribution.

The ``"pfn"`` sampler is the generic BO sampler (:class:`hpo.samplers.bo.BOSampler`)
with the PFN surrogate: BoTorch's qLogNoisyEI on the moment-matched posterior,
maximised by ``optimize_acqf`` (multi-start L-BFGS, each step a forward pass).
:class:`PFNSampler` keeps everything of that sampler (initial Sobol design,
encoding, constraints, duplicate handling) but replaces the acquisition and its
optimiser with the PFN's own path: an acquisition computed exactly from the bar
distribution (default ``"aei"``, the augmented EI, see
:meth:`~hpo.surrogates.pfn.surrogate.PFNModel.aei`; also ``"ei"``, ``"pi"``,
``"ucb"``; with outcome constraints the PFN4sBO constrained EI, ``"cei"`` /
``"cei+"``, or ``"acei"`` / ``"acei+"`` with the augmented EI), maximised over ``n_candidates`` scrambled Sobol points plus
perturbations of the best observations in one batched forward pass, then local
perturbations of the best ``n_refine`` (:meth:`PFNModel.suggest`).

It overrides one method of ``BOSampler``, the extension point
:meth:`~hpo.samplers.bo.BOSampler.select_candidates`. Trials still running
(other workers') and the earlier points of a ``q``-batch join the PFN's context
with their predicted mean as value (the kriging believer,
:meth:`PFNModel.add_pending`), so parallel suggestions spread out. It handles one
objective; for several, the ``"pfn"`` sampler runs qLogNEHVI on the PFN's
posterior (slow: L-BFGS through the network) and ``"gp"`` is the default.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import torch

from hpo.errors import SamplerError
from hpo.registry import check_options
from hpo.samplers.bo import BOSampler
from hpo.validators import non_negative_int, positive_int

if TYPE_CHECKING:
    from hpo.encoding import SpaceEncoder
    from hpo.records import Constraint
    from hpo.samplers.base import SamplingContext

__all__ = ["PFNSampler", "make_pfn_sampler"]

_EXACT = ("ei", "aei", "pi", "ucb", "cei", "cei+", "acei", "acei+")


class PFNSampler(BOSampler):
    """BO with the PFN surrogate and exact acquisitions over a candidate set.

    Args:
        acquisition: ``"aei"`` (default), ``"ei"``, ``"pi"``, ``"ucb"``; with
            outcome constraints ``"aei"``/``"acei"`` (AEI x PoF), ``"ei"``/``"cei"``
            (EI x PoF), ``"cei+"`` or ``"acei+"``.
        n_initial: Sobol points before BO (default ``max(5, 2 d)``).
        n_candidates: size of the candidate set scored in one forward pass.
        n_refine: best candidates refined by local perturbation.
        refine_rounds: rounds of the refinement (``n_local`` perturbations each).
        n_local: perturbations per refined candidate and round.
        weights: PFN weights file (default: the shipped one).
        max_context: most observations used as the PFN's context.
        y_transform: ``"power"`` (Yeo-Johnson, as PFNs4BO) or ``"rank"`` (normal scores of the ranks).
        precision: ``"float32"`` or ``"bfloat16"`` (CPU autocast for the forward passes; see
            :class:`~hpo.surrogates.pfn.surrogate.PFNModel`).
    """

    name: ClassVar[str] = "pfn-ei"

    def __init__(self, acquisition: str = "aei", n_initial: int | None = None, *, n_candidates: int = 1024,
                 n_refine: int = 8, refine_rounds: int = 2, n_local: int = 32, weights: str | None = None,
                 max_context: int | None = None, y_transform: str = "power", precision: str = "float32") -> None:
        if acquisition not in _EXACT:
            raise SamplerError(f"pfn-ei: unknown acquisition {acquisition!r}; valid: {list(_EXACT)}")
        n_candidates = positive_int("pfn-ei: n_candidates", n_candidates, SamplerError)
        n_refine = non_negative_int("pfn-ei: n_refine", n_refine, SamplerError)
        refine_rounds = non_negative_int("pfn-ei: refine_rounds", refine_rounds, SamplerError)
        n_local = non_negative_int("pfn-ei: n_local", n_local, SamplerError)
        super().__init__(surrogate="pfn", acquisition="logei", n_initial=n_initial,
                         surrogate_options={"weights": weights, "max_context": max_context,
                                            "y_transform": y_transform, "precision": precision},
                         output_warping="none", device="cpu")
        self.exact = acquisition
        self.n_candidates, self.n_refine = n_candidates, n_refine
        self.refine_rounds, self.n_local = refine_rounds, n_local

    def options(self) -> dict[str, Any]:
        return {"acquisition": self.exact, "n_initial": self.n_initial, "n_candidates": self.n_candidates,
                "n_refine": self.n_refine, "refine_rounds": self.refine_rounds, "n_local": self.n_local, **self.surrogate.options()}

    def check_context(self, context: SamplingContext) -> None:
        names = [o.name for o in context.objectives]
        if len(names) > 1:
            raise SamplerError(f"pfn-ei: handles one objective, but the study has {len(names)}: {names}; for "
                               f"several objectives use sampler 'gp' (qLogNEHVI) or 'pfn' (qLogNEHVI on the PFN)")
        super().check_context(context)

    def select_candidates(self, model: Any, X: torch.Tensor, X_pending: torch.Tensor | None,
                          constraints: tuple[Constraint, ...], encoder: SpaceEncoder, q: int,
                          seed: int) -> torch.Tensor:
        """``q x d`` points maximising the exact acquisition of the PFN's bar distribution (``model``: a ``PFNModel``)."""
        rules = {j + 1: (c.op, float(c.bound)) for j, c in enumerate(constraints)}
        name = self.exact
        if rules and name in ("ei", "aei"):
            name = {"ei": "cei", "aei": "acei"}[name]
        if rules and name not in ("cei", "cei+", "acei", "acei+"):
            raise SamplerError(f"pfn-ei: outcome constraints need an EI acquisition, but got {name!r}")
        if X_pending is not None:
            model.add_pending(X_pending)
        points = []
        for i in range(q):
            x, _ = model.suggest(n_candidates=self.n_candidates, acquisition=name, constraints=rules or None,
                                 n_refine=self.n_refine, refine_rounds=self.refine_rounds, n_local=self.n_local,
                                 seed=seed + i)
            points.append(x)
            if i + 1 < q:
                model.add_pending(x)
        return torch.stack(points)


def make_pfn_sampler(**options: Any) -> PFNSampler:
    """``make_sampler("pfn-ei", ...)``: unknown options are errors listing the valid ones."""
    check_options("pfn-ei", PFNSampler, options, SamplerError)
    return PFNSampler(**options)
