"""Option values of the layers, free of Keras imports.

The zoo's declarations (:mod:`keras_rnnreg.zoo_specs`) offer them as choices
and the command line lists them in ``--help``, which must not start Keras.
"""

#: How weight noise is drawn (:class:`~keras_rnnreg.WeightNoise`).
IMPLEMENTATIONS = ("local_reparameterization", "exact")

#: The fast-dropout computations (:class:`~keras_rnnreg.FastDropoutSimpleRNN`):
#: ours, the authors', and the authors' with their recurrent mean scaled by the
#: keep probability as ours is (an ablation of that one difference).
FAST_DROPOUT_VARIANTS = ("consistent", "authors", "authors_keep_mean")

#: The variants that compute as the authors' code does (tanh(a/2) moments, trained
#: initial state, clipped output mean) and take their initialization by default.
AUTHORS_COMPUTATIONS = ("authors", "authors_keep_mean")

#: The initializations of ``rnn_fd`` (``fd_init``): that of its ``fd_variant``
#: (``"variant"``, default), or the authors' / the zoo's with either computation
#: (an ablation of the two).
FAST_DROPOUT_INITS = ("variant", "authors", "zoo")

#: The recurrent cells of the zoo models (``cell``): the paper's tanh RNN,
#: an LSTM or a GRU (:class:`~keras_rnnreg.NoisyLSTM`, :class:`~keras_rnnreg.NoisyGRU`,
#: and their fast-dropout layers for ``rnn_fd``).
CELLS = ("simple", "lstm", "gru")
