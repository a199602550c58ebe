"""keras_rnnreg: regularized simple recurrent networks for polyphonic music."""
