"""GPyTorch kernels of hpo (installed as ``hpo.kernels``).

* :class:`UnitCubeCategoricalKernel`: BoTorch's categorical kernel on
  categories encoded in the unit cube by :mod:`hpo.encoding`.
* :func:`mixed_kernel`: Matern-5/2 ARD over continuous/integer columns combined
  (sum + product) with the categorical kernel, as in BoTorch's ``MixedSingleTaskGP``.
* :class:`HammingMaternKernel`: one Matern-5/2 over numerical and Hamming distances, as in
  Optuna's GPSampler (``GPSurrogate(categorical_kernel="overlap")``).
"""

from __future__ import annotations

from hpo.kernels.categorical import UnitCubeCategoricalKernel, continuous_kernel, mixed_kernel
from hpo.kernels.overlap import HammingMaternKernel

__all__ = ["UnitCubeCategoricalKernel", "HammingMaternKernel", "continuous_kernel", "mixed_kernel"]
