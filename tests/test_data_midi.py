"""MIDI in and out: round trips, quantization, user folders."""

import warnings

import numpy as np
import pytest

from keras_rnnreg import data_pipelines as dp
from keras_rnnreg.data_pipelines import midi

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    import mido
    import pretty_midi


def _roll(length, seed, density=0.1):
    rng = np.random.default_rng(seed)
    roll = (rng.random((length, 88)) < density).astype(np.float32)
    roll[:, 40] = 1  # a long sustained note
    roll[: length // 5, 60] = 1
    return roll


@pytest.mark.parametrize("fpb, tempo", [(1, 120.0), (2, 90.0), (4, 120.0), (3, 97.3), (7, 60.0), (12, 200.0)])
def test_round_trip_is_exact(tmp_path, fpb, tempo):
    roll = _roll(64, seed=fpb)
    roll[:3] = 0  # leading silence
    roll[-5:] = 0  # trailing silence survives through the end marker
    path = tmp_path / "r.mid"
    midi.piano_roll_to_midi(roll, path, frames_per_beat=fpb, tempo=tempo)
    back = midi.midi_to_piano_roll(path, frames_per_beat=fpb)
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back, roll)


def test_round_trip_real_chorales(tmp_path, data_dir):
    splits = dp.load_dataset("jsb_chorales", data_dir)
    for i, seq in enumerate(splits["test"][:10]):
        path = tmp_path / f"c{i}.mid"
        midi.piano_roll_to_midi(seq, path, frames_per_beat=1)
        np.testing.assert_array_equal(midi.midi_to_piano_roll(path, frames_per_beat=1), seq)


def test_written_notes_are_runs_of_frames(tmp_path):
    roll = np.zeros((8, 88), np.float32)
    roll[1:4, 39] = 1  # middle C, frames 1-3
    roll[6, 39] = 1
    pm = midi.piano_roll_to_midi(roll, tmp_path / "n.mid", frames_per_beat=2, tempo=60.0)
    notes = [(n.pitch, n.start, n.end) for n in pm.instruments[0].notes]
    assert notes == [(60, 0.5, 2.0), (60, 3.0, 3.5)]  # 2 frames per 1-second beat
    reread = pretty_midi.PrettyMIDI(str(tmp_path / "n.mid"))
    assert [(n.pitch, round(n.start, 6), round(n.end, 6)) for n in reread.instruments[0].notes] == notes


def test_quantization_follows_beats_through_tempo_changes(tmp_path):
    mid = mido.MidiFile(ticks_per_beat=480)
    track = mido.MidiTrack()
    mid.tracks.append(track)
    track.append(mido.MetaMessage("set_tempo", tempo=500000, time=0))  # 120 bpm
    track.append(mido.Message("note_on", note=60, velocity=90, time=0))
    track.append(mido.Message("note_off", note=60, velocity=0, time=480))  # one beat
    track.append(mido.MetaMessage("set_tempo", tempo=1000000, time=0))  # 60 bpm
    track.append(mido.Message("note_on", note=62, velocity=90, time=0))
    track.append(mido.Message("note_off", note=62, velocity=0, time=470))  # ~one beat
    track.append(mido.Message("note_on", note=64, velocity=90, time=0))
    track.append(mido.Message("note_off", note=64, velocity=0, time=20))  # very short
    track.append(mido.Message("note_on", note=10, velocity=90, time=0))  # below A0
    track.append(mido.Message("note_off", note=10, velocity=0, time=480))
    path = tmp_path / "tempo.mid"
    mid.save(str(path))
    roll = midi.midi_to_piano_roll(path, frames_per_beat=2)
    assert roll.shape == (6, 88)  # ends at tick 1450 -> 6.04 frames -> 6
    on = {k: list(np.flatnonzero(roll[:, k - 21])) for k in (60, 62, 64)}
    assert on == {60: [0, 1], 62: [2, 3], 64: [4]}  # short notes still get a frame
    assert roll.sum() == 5  # note 10 dropped
    with pytest.raises(dp.DataError) as info:
        midi.midi_to_piano_roll(path, frames_per_beat=2, out_of_range="error")
    assert info.value.value == 10


def test_drums_are_skipped_by_default(tmp_path):
    pm = pretty_midi.PrettyMIDI(initial_tempo=120)
    piano = pretty_midi.Instrument(0)
    piano.notes.append(pretty_midi.Note(100, 60, 0.0, 0.5))
    drums = pretty_midi.Instrument(0, is_drum=True)
    drums.notes.append(pretty_midi.Note(100, 38, 0.0, 0.5))
    pm.instruments += [piano, drums]
    pm.write(str(tmp_path / "d.mid"))
    assert midi.midi_to_piano_roll(tmp_path / "d.mid", 4).sum(axis=0)[38 - 21] == 0
    assert midi.midi_to_piano_roll(tmp_path / "d.mid", 4, include_drums=True).sum(axis=0)[38 - 21] == 4


def test_bad_midi_files(tmp_path):
    (tmp_path / "junk.mid").write_bytes(b"MThd this is not midi")
    with pytest.raises(dp.DataError, match="not a readable MIDI"):
        midi.midi_to_piano_roll(tmp_path / "junk.mid")
    pretty_midi.PrettyMIDI().write(str(tmp_path / "empty.mid"))
    with pytest.raises(dp.DataError, match="no notes"):
        midi.midi_to_piano_roll(tmp_path / "empty.mid")
    with pytest.raises(ValueError, match="frames_per_beat"):
        midi.midi_to_piano_roll(tmp_path / "empty.mid", frames_per_beat=0)
    with pytest.raises(dp.DataError, match="width"):
        midi.piano_roll_to_midi(np.zeros((4, 87)), tmp_path / "w.mid")


def test_load_midi_folder(tmp_path):
    folder = tmp_path / "songs"
    (folder / "sub").mkdir(parents=True)
    rolls = {}
    for i in range(10):
        name = f"sub/s{i:02d}.MID" if i % 3 == 0 else f"s{i:02d}.mid"
        rolls[name] = _roll(20 + 3 * i, seed=100 + i)
        midi.piano_roll_to_midi(rolls[name], folder / name, frames_per_beat=4, tempo=100)
    (folder / "notes.txt").write_text("not midi, ignored")
    seqs, paths = midi.load_midi_folder(folder, frames_per_beat=4, return_paths=True)
    assert [p.relative_to(folder).as_posix() for p in paths] == sorted(rolls, key=lambda n: folder / n)
    for seq, path in zip(seqs, paths):
        np.testing.assert_array_equal(seq, rolls[path.relative_to(folder).as_posix()])
    assert len(midi.load_midi_folder(folder, 4, recursive=False)) == 6

    splits = midi.load_midi_folder(folder, 4, split=(0.6, 0.2, 0.2), seed=1)
    assert [len(splits[s]) for s in dp.SPLITS] == [6, 2, 2]
    again = midi.load_midi_folder(folder, 4, split=(0.6, 0.2, 0.2), seed=1)
    other = midi.load_midi_folder(folder, 4, split=(0.6, 0.2, 0.2), seed=2)
    key = lambda d: [len(s) for split in dp.SPLITS for s in d[split]]  # noqa: E731
    assert key(splits) == key(again) and key(splits) != key(other)
    assert sorted(key(splits)) == sorted(len(s) for s in seqs)
    # usable by the pipelines and the .mat writer
    x, y, w = next(iter(dp.make_window_dataset(splits["train"], window=16, batch_size=4)))
    assert x.shape == (4, 16, 88)
    back = dp.load_mat(dp.save_mat(splits, tmp_path / "mine.mat"))
    assert [len(back[s]) for s in dp.SPLITS] == [6, 2, 2]


def test_load_midi_folder_errors(tmp_path):
    with pytest.raises(dp.DataError, match="no .mid"):
        midi.load_midi_folder(tmp_path)
    with pytest.raises(dp.DataError, match="does not exist"):
        midi.load_midi_folder(tmp_path / "missing")
    midi.piano_roll_to_midi(_roll(12, 0), tmp_path / "good.mid", 4)
    (tmp_path / "bad.mid").write_bytes(b"garbage")
    with pytest.raises(dp.DataError) as info:
        midi.load_midi_folder(tmp_path, 4)
    assert info.value.file.endswith("bad.mid")
    with pytest.warns(UserWarning, match="bad.mid"):
        seqs = midi.load_midi_folder(tmp_path, 4, on_error="skip")
    assert len(seqs) == 1
