"""TensorFlow Datasets builder: ``tfds.load("polyphonic_music/jsb_chorales")``.

Importing this module registers the builder ``polyphonic_music`` with four
configs, one per benchmark (``jsb_chorales``, ``nottingham``, ``piano_midi``,
``musedata``). Each example is one piece::

    {"piano_roll": uint8 (T, 88), "num_steps": int32 T, "index": int32}

with splits ``train``, ``validation`` and ``test`` (TFDS naming; the
``valid`` split of the loaders). TFDS stores examples in a hashed order;
``index`` is the position of the piece in the original split.

The ``.mat`` file is taken from the manual directory when it is there
(``download_config=tfds.download.DownloadConfig(manual_dir=...)``, e.g. the
folder of ``$KERAS_RNNREG_DATA_DIR``), else from the copy shipped in the
package, else downloaded from its public origin (overridable with
``$KERAS_RNNREG_DATA_ORIGIN``); each is checked against the pinned sha256.

Example::

    import keras_rnnreg.data_pipelines.tfds_builder  # registers the builder
    ds = tfds.load("polyphonic_music/jsb_chorales", split="train")
"""

from __future__ import annotations

import os
import pathlib

import numpy as np
import tensorflow_datasets as tfds

from .errors import DataError
from .mat_io import load_mat
from .registry import DATASETS, NUM_KEYS, get_info
from .sources import origin_url, packaged_file, sha256_of, verify_file

#: TFDS split name for each loader split.
TFDS_SPLITS = {"train": "train", "valid": "validation", "test": "test"}


class PolyphonicMusicConfig(tfds.core.BuilderConfig):
    """Config naming one of the four benchmarks."""

    def __init__(self, *, dataset: str, **kwargs):
        super().__init__(name=dataset, **kwargs)
        self.dataset = dataset


class PolyphonicMusic(tfds.core.GeneratorBasedBuilder):
    """The polyphonic music benchmarks of Boulanger-Lewandowski et al. (2012)."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Piano rolls from the public .mat files."}
    BUILDER_CONFIGS = [
        PolyphonicMusicConfig(
            dataset=name,
            description=f"{get_info(name).title}: binary piano rolls over 88 keys.",
        )
        for name in DATASETS
    ]
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Optional. Place the .mat file of the dataset (JSB_Chorales.mat, Nottingham.mat, "
        "Piano_midi.mat or MuseData.mat) in the manual directory; otherwise the copy "
        "shipped in the package is used, else it is downloaded from its public origin; "
        "each is checked against the pinned sha256."
    )

    @classmethod
    def _get_pkg_dir_path(cls):
        """This folder (TFDS would derive a wrong one from the package-dir mapping)."""
        from etils import epath

        return epath.Path(__file__).parent

    def _info(self) -> tfds.core.DatasetInfo:
        """Features: the piano roll, its length and its index in the split."""
        return tfds.core.DatasetInfo(
            builder=self,
            description=self.builder_config.description,
            features=tfds.features.FeaturesDict(
                {
                    "piano_roll": tfds.features.Tensor(
                        shape=(None, NUM_KEYS), dtype=np.uint8, encoding="zlib"
                    ),
                    "num_steps": np.int32,
                    "index": np.int32,
                }
            ),
            supervised_keys=None,
            homepage="http://www-etud.iro.umontreal.ca/~boulanni/icml2012",
            citation=(
                "@inproceedings{boulanger2012modeling, title={Modeling Temporal Dependencies "
                "in High-Dimensional Sequences: Application to Polyphonic Music Generation "
                "and Transcription}, author={Boulanger-Lewandowski, Nicolas and Bengio, Yoshua "
                "and Vincent, Pascal}, booktitle={ICML}, year={2012}}"
            ),
        )

    def _mat_path(self, dl_manager) -> pathlib.Path:
        """The .mat file: a verified copy in the manual directory, else the packaged one, else a download."""
        remote = get_info(self.builder_config.dataset).mat
        try:
            manual = pathlib.Path(dl_manager.manual_dir)
        except Exception:  # noqa: BLE001 - TFDS raises when no manual dir is set
            manual = None
        if manual is not None and (manual / remote.filename).is_file():
            return verify_file(manual / remote.filename, remote)
        packaged = packaged_file(remote)
        if packaged is not None:
            return packaged
        url = origin_url(remote)
        try:
            path = pathlib.Path(os.fspath(dl_manager.download(url)))
        except Exception as exc:  # noqa: BLE001
            raise DataError(f"download from {url} failed: {exc}", file=remote.filename, value=url) from None
        if sha256_of(path) != remote.sha256:
            try:
                path.unlink()
            except OSError:
                pass
            raise DataError(
                f"checksum mismatch for download from {url}; expected sha256 {remote.sha256}",
                file=remote.filename,
                value=url,
            )
        return path

    def _split_generators(self, dl_manager):
        """One generator per split of the .mat file."""
        splits = load_mat(self._mat_path(dl_manager))
        return {
            TFDS_SPLITS[split]: self._generate_examples(seqs) for split, seqs in splits.items()
        }

    def _generate_examples(self, sequences):
        """Yield ``(key, example)`` for every piece of a split."""
        for i, seq in enumerate(sequences):
            yield i, {
                "piano_roll": seq.astype(np.uint8),
                "num_steps": np.int32(len(seq)),
                "index": np.int32(i),
            }


def load_tfds(name: str, split=None, *, data_dir=None, manual_dir=None, **kwargs):
    """``tfds.load(f"polyphonic_music/{name}", ...)`` with an optional manual directory.

    Args:
        name: one of ``DATASETS``.
        split: TFDS split spec (``"train"``, ``"validation"``, ``"test"``...).
        data_dir: TFDS data directory.
        manual_dir: folder holding the ``.mat`` files (used before the packaged
            copies and the download).
        **kwargs: passed to ``tfds.load``.
    """
    get_info(name)
    if manual_dir is not None:
        prepare = dict(kwargs.pop("download_and_prepare_kwargs", {}) or {})
        prepare["download_config"] = tfds.download.DownloadConfig(manual_dir=os.fspath(manual_dir))
        kwargs["download_and_prepare_kwargs"] = prepare
    return tfds.load(f"polyphonic_music/{name}", split=split, data_dir=data_dir, **kwargs)
