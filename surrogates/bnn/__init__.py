"""Fully stochastic Bayesian-neural-network surrogates: ``"hmc"`` and ``"sghmc"``.

* :mod:`~hpo.surrogates.bnn.network`: the tanh MLP over a flat parameter vector (many samples at once);
* :mod:`~hpo.surrogates.bnn.model`: :class:`~hpo.surrogates.bnn.model.SampledNetworkModel`, the
  sample-based BoTorch ``EnsembleModel`` they return;
* :mod:`~hpo.surrogates.bnn.hmc`: :class:`~hpo.surrogates.bnn.hmc.HMCSurrogate`;
* :mod:`~hpo.surrogates.bnn.sghmc`: :class:`~hpo.surrogates.bnn.sghmc.SGHMCSurrogate`.

Nothing here imports Pyro.
"""
