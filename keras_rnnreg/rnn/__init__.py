"""The recurrent building blocks: weight noise, cells, sequence layers, loops, initializers.

Laid out as Keras keeps ``keras/src/layers/rnn/``:

- :mod:`~keras_rnnreg.rnn.weight_noise`: :class:`WeightNoise`, the one weight-noise
  mechanism (kinds, levels, scopes, implementations) every layer and cell uses.
- :mod:`~keras_rnnreg.rnn.cells`: :class:`NoisySimpleRNNCell`,
  :class:`FastDropoutSimpleRNNCell` (one step each, for ``keras.layers.RNN``).
- :mod:`~keras_rnnreg.rnn.gated`: :class:`NoisyLSTMCell`, :class:`NoisyGRUCell` (Keras's
  gated cells with the same weight noise; the library's initializers per gate block).
- :mod:`~keras_rnnreg.rnn.noisy_gated`: :class:`NoisyLSTM`, :class:`NoisyGRU`, their layers.
- :mod:`~keras_rnnreg.rnn.noisy_simple_rnn`, :mod:`~keras_rnnreg.rnn.fast_dropout`:
  the sequence layers, ``keras.layers.RNN`` subclasses with a fused fast path.
- :mod:`~keras_rnnreg.rnn.fast_dropout_gated`: :class:`FastDropoutLSTMCell`,
  :class:`FastDropoutGRUCell` and their layers :class:`FastDropoutLSTM`, :class:`FastDropoutGRU`
  (fast dropout through the gates).
- :mod:`~keras_rnnreg.rnn.noisy_dense`: :class:`NoisyDense` (RNN-FF's ``W_ho``).
- :mod:`~keras_rnnreg.rnn.recurrence`: the hand-written loops with custom gradients.
- :mod:`~keras_rnnreg.rnn.gated_recurrence`: the LSTM and GRU loops with custom gradients.
- :mod:`~keras_rnnreg.rnn.initializers`: :class:`SparseGaussian`, :class:`SpectralRadius`, :class:`SparsifyColumns`.

Everything here is also importable from :mod:`keras_rnnreg` itself.
"""
