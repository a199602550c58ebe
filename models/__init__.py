"""The zoo: one named model per row of the paper's Table 1.

>>> from keras_rnnreg import models
>>> models.names()
['rnn', 'rnn_fd', 'rnn_nbr', 'rnn_n', 'rnn_ns', 'rnn_mn', 'rnn_mns', 'rnn_do', 'rnn_dos', 'rnn_ff']
>>> model = models.get("rnn_mns", units=100, sigma=0.05)
"""

from keras_rnnreg.models.zoo import (
    CHOICES,
    COMMON_DEFAULTS,
    NUM_NOTES,
    SPECS,
    ModelSpec,
    default_hyperparameters,
    get,
    names,
    resolve_hyperparameters,
    spec,
)
from keras_rnnreg.models.zoo_model import ZooModel

__all__ = [
    "CHOICES",
    "COMMON_DEFAULTS",
    "NUM_NOTES",
    "SPECS",
    "ZooModel",
    "ModelSpec",
    "default_hyperparameters",
    "get",
    "names",
    "resolve_hyperparameters",
    "spec",
]
