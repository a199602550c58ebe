"""Summary statistics of a benchmark (``python -m keras_rnnreg data stats``)."""

from __future__ import annotations

import os
from typing import Any, Mapping, Sequence

import numpy as np

from .loaders import load_dataset
from .registry import NUM_KEYS, SPLITS, get_info


def split_stats(sequences: Sequence[np.ndarray]) -> dict[str, Any]:
    """Counts of one split.

    Returns:
        ``{"sequences", "frames", "notes", "mean_note_density",
        "mean_notes_per_frame", "min_length", "max_length"}``; the note
        density is the fraction of the ``frames x 88`` cells that are on.
    """
    lengths = [len(s) for s in sequences]
    frames = int(sum(lengths))
    notes = int(sum(float(np.sum(s)) for s in sequences))
    return {
        "sequences": len(sequences),
        "frames": frames,
        "notes": notes,
        "mean_note_density": notes / (frames * NUM_KEYS) if frames else 0.0,
        "mean_notes_per_frame": notes / frames if frames else 0.0,
        "min_length": min(lengths) if lengths else 0,
        "max_length": max(lengths) if lengths else 0,
    }


def dataset_stats(
    name: str, data_dir: str | os.PathLike | None = None, source: str = "mat"
) -> dict[str, Any]:
    """Statistics of every split of a benchmark.

    Returns:
        ``{"dataset": name, "title": ..., "splits": {split: split_stats},
        "total": split_stats over all splits}``.
    """
    info = get_info(name)
    splits = load_dataset(name, data_dir, source=source)
    per_split = {split: split_stats(splits[split]) for split in SPLITS}
    total = split_stats([s for split in SPLITS for s in splits[split]])
    return {"dataset": name, "title": info.title, "splits": per_split, "total": total}


def format_stats(stats: Mapping[str, Any]) -> str:
    """Render :func:`dataset_stats` output as a small text table."""
    header = f"{'split':<6} {'sequences':>9} {'frames':>9} {'notes/frame':>11} {'note density':>12}"
    lines = [f"{stats['title']} ({stats['dataset']})", header, "-" * len(header)]
    rows = [(split, stats["splits"][split]) for split in SPLITS] + [("total", stats["total"])]
    for label, row in rows:
        lines.append(
            f"{label:<6} {row['sequences']:>9,d} {row['frames']:>9,d} "
            f"{row['mean_notes_per_frame']:>11.3f} {row['mean_note_density']:>12.4f}"
        )
    return "\n".join(lines)
