"""GPyTorch kernels of hpo (installed as ``hpo.kernels``).

* :class:`UnitCubeCategoricalKernel`: BoTorch's categorical kernel on
  categories encoded in the unit cube by :mod:`hpo.encoding`.
* :func:`mixed_kernel`: Matern-5/2 ARD over continuous/integer columns combined
  (sum + product) with the categorical kernel, as in BoTorch's ``MixedSingleTaskGP``.
"""

from __future__ import annotations

from hpo.kernels.categorical import UnitCubeCategoricalKernel, continuous_kernel, mixed_kernel

__all__ = ["UnitCubeCategoricalKernel", "continuous_kernel", "mixed_kernel"]
