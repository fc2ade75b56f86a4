"""Self-tuning networks (MacKay et al. 2019; Delta-STN, Bae & Grosse 2020): regularisation
hyperparameters adapted inside one training run by a learned best-response of the weights.

``import hpo`` does not import this package (it needs torch); import ``hpo.stn`` explicitly.
"""
from __future__ import annotations

from hpo.stn.hyper import HalfOpen, HyperBatch, StnHyperparameters
from hpo.stn.layers import StnConv2d, StnLinear
from hpo.stn.models import StnCNN, StnMLP, StnModel, cutout, dropout
from hpo.stn.result import StnResult
from hpo.stn.trainer import train

__all__ = ["HalfOpen", "HyperBatch", "StnCNN", "StnConv2d", "StnHyperparameters", "StnLinear", "StnMLP",
           "StnModel", "StnResult", "cutout", "dropout", "train"]
