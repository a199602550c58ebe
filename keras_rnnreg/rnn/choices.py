"""Option values of the layers, free of Keras imports.

The zoo's declarations (:mod:`keras_rnnreg.zoo_specs`) offer them as choices
and the command line lists them in ``--help``, which must not start Keras.
"""

#: How weight noise is drawn (:class:`~keras_rnnreg.WeightNoise`).
IMPLEMENTATIONS = ("local_reparameterization", "exact")

#: The fast-dropout computations (:class:`~keras_rnnreg.FastDropoutSimpleRNN`).
FAST_DROPOUT_VARIANTS = ("consistent", "authors")

#: The initializations of ``rnn_fd`` (``fd_init``): that of its ``fd_variant``
#: (``"variant"``, default), or the authors' / the zoo's with either computation
#: (an ablation of the two).
FAST_DROPOUT_INITS = ("variant", "authors", "zoo")
