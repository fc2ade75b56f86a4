"""The kernels in hpo.kernels are positive semi-definite on random inputs and map codes to categories."""

from __future__ import annotations

import pytest
import torch

from hpo.kernels import UnitCubeCategoricalKernel, mixed_kernel


def _min_eigenvalue(K: torch.Tensor) -> float:
    K = 0.5 * (K + K.transpose(-1, -2))
    return float(torch.linalg.eigvalsh(K).min())


def _randomise(kernel: torch.nn.Module, g: torch.Generator) -> None:
    """Random hyperparameters (raw values in [-3, 3]) so PSD is checked beyond the defaults."""
    with torch.no_grad():
        for _, param in kernel.named_parameters():
            param.copy_(6 * torch.rand(param.shape, generator=g, dtype=param.dtype) - 3)


@pytest.mark.parametrize("seed", range(5))
def test_categorical_kernel_is_psd(seed: int) -> None:
    g = torch.Generator().manual_seed(seed)
    kernel = UnitCubeCategoricalKernel([3, 5]).double()
    _randomise(kernel, g)
    X = torch.rand(40, 2, generator=g, dtype=torch.float64)  # off-grid values are decoded to categories
    K = kernel(X).to_dense().detach()
    assert K.shape == (40, 40)
    assert _min_eigenvalue(K) > -1e-8 * K.abs().max()
    assert torch.allclose(K.diagonal(), torch.ones(40, dtype=torch.float64))


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("categorical", [{}, {1: 3}, {0: 2, 3: 4}, {0: 3, 1: 2, 2: 4, 3: 2}])
def test_mixed_kernel_is_psd(seed: int, categorical: dict[int, int]) -> None:
    g = torch.Generator().manual_seed(seed)
    kernel = mixed_kernel(4, categorical).double()
    _randomise(kernel, g)
    X = torch.rand(50, 4, generator=g, dtype=torch.float64)
    K = kernel(X).to_dense().detach()
    assert _min_eigenvalue(K) > -1e-8 * K.abs().max()


def test_batched_mixed_kernel_is_psd() -> None:
    g = torch.Generator().manual_seed(0)
    kernel = mixed_kernel(3, {2: 3}, batch_shape=torch.Size([2])).double()
    _randomise(kernel, g)
    K = kernel(torch.rand(2, 30, 3, generator=g, dtype=torch.float64)).to_dense().detach()
    assert K.shape == (2, 30, 30)
    assert min(_min_eigenvalue(k) for k in K) > -1e-8 * K.abs().max()


def test_codes_map_to_the_encoders_categories() -> None:
    kernel = UnitCubeCategoricalKernel([4])
    codes = torch.tensor([[0.0], [0.125], [0.249], [0.25], [0.6], [0.875], [1.0]])
    assert kernel.to_index(codes).squeeze(-1).tolist() == [0, 0, 0, 1, 2, 3, 3]
    same = kernel(torch.tensor([[0.1]]), torch.tensor([[0.2]])).to_dense()
    other = kernel(torch.tensor([[0.1]]), torch.tensor([[0.3]])).to_dense()
    assert same.item() == pytest.approx(1.0) and other.item() < 1.0


def test_bad_arguments_name_the_values() -> None:
    with pytest.raises(ValueError, match="counts >= 1"):
        UnitCubeCategoricalKernel([0])
    with pytest.raises(ValueError, match=r"must lie in \[0, 3\), but got \[5\]"):
        mixed_kernel(3, {5: 2})
    with pytest.raises(ValueError, match="2 categorical columns"):
        UnitCubeCategoricalKernel([2, 3]).to_index(torch.rand(4, 3))
