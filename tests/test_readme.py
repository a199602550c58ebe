"""README's layer example runs as written and gives the shapes it says."""

import pathlib
import re

import keras
import pytest

README = pathlib.Path(__file__).resolve().parent.parent / "README.md"


def _block_after(heading):
    text = README.read_text()
    section = text[text.index(heading):]
    return re.search(r"```python\n(.*?)```", section, re.S).group(1)


@pytest.mark.skipif(keras.backend.backend() == "jax",
                    reason="per-step noise in a generic keras.layers.RNN is not supported on JAX (README says so)")
def test_layer_example_runs():
    namespace = {}
    exec(compile(_block_after("## The layers"), str(README), "exec"), namespace)
    assert tuple(namespace["h"].shape) == (4, 30, 32)
    assert tuple(namespace["both"].shape) == (4, 30, 64)
    assert tuple(namespace["moments"].shape) == (4, 30, 64)
    assert tuple(namespace["probs"].shape) == (4, 30, 88)
