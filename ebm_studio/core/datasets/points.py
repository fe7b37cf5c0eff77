"""Point sets without a density: points from a CSV file, or drawn with the mouse.

``load_csv_points`` reads and validates a file of two numeric columns; every refusal is one
sentence naming the file and the 1-based line.
"""

from __future__ import annotations

import itertools
import math
import os
import re
import warnings

import numpy as np
import torch

from .base import DataError, Dataset, check_sample_args

# Largest accepted coordinate in user point files: beyond this the data is in other units.
_MAX_ABS = 1e6


class PointsDataset(Dataset):
    """An empirical point set (CSV or drawn); ``sample`` draws points with replacement.

    There is no density (``has_density`` is false). When points fall outside
    ``[-box, box]^2`` the box grows to 1.1 * max |coordinate|, so grids and plots show them all.
    """

    def __init__(self, points: np.ndarray | None, box: float = 4.5, name: str = "drawn") -> None:
        pts = np.asarray(points, dtype=np.float64) if points is not None else np.empty((0, 2))
        if pts.ndim != 2 or pts.shape[1] != 2:
            raise DataError(f"{name} points: expected an (n, 2) array, got shape {pts.shape}")
        if len(pts) == 0:
            raise DataError(f"{name} points: there are no points")
        if not np.isfinite(pts).all():
            raise DataError(f"{name} points: some coordinates are not finite numbers")
        reach = float(np.abs(pts).max())
        super().__init__(name, box if reach <= box else 1.1 * reach, has_density=False)
        self.points = torch.from_numpy(pts.copy())

    def sample(self, n: int, gen: torch.Generator) -> torch.Tensor:
        check_sample_args(n, gen)
        idx = torch.randint(len(self.points), (n,), generator=gen)
        return self.points[idx].float()

    def density_picture(self, res: int) -> np.ndarray:
        p = self.points.numpy()
        edges = np.linspace(-self.box, self.box, res + 1)
        h, _, _ = np.histogram2d(p[:, 1], p[:, 0], bins=(edges, edges))  # rows follow y
        return h


# Python float() grammar minus underscores and exotic digits, so that the fast path (numpy)
# and the careful per-line scan accept the same numbers.
_NUMBER = re.compile(
    r"[+-]?(?:(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?|inf(?:inity)?|nan)", re.IGNORECASE | re.ASCII
)


def load_csv_points(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an (n, 2) float64 array from a file of two numeric columns.

    Columns are separated by commas, semicolons or whitespace; an optional first line of two
    column names is a header; blank lines are skipped. Anything else, non-finite values and
    coordinates beyond 1e6 in magnitude raise a DataError naming the file and the 1-based line.
    """
    name = os.fspath(path)
    try:
        with open(name, encoding="utf-8-sig", errors="surrogateescape", newline=None) as f:
            first = f.readline()
            second = f.readline() if first else ""
    except OSError as e:
        raise DataError(f"{name}: cannot read the file ({e.strerror or e})") from e
    header = _is_header(first)
    fast = _load_fast(name, skip=int(header), delimiter=_delimiter(second if header else first))
    if fast is not None:
        return fast
    return scan_csv(name)  # accepts what numpy did not, or names the bad line


def _delimiter(line: str) -> str | None:
    if "," in line:
        return ","
    if ";" in line:
        return ";"
    return None  # whitespace


def _fields(line: str) -> list[str]:
    d = _delimiter(line)
    return [s.strip() for s in line.split(d)] if d else line.split()


def _is_header(line: str) -> bool:
    """Line 1 is a header when it has two non-empty fields and neither is a number."""
    fields = _fields(line.strip())
    return len(fields) == 2 and all(f and not _NUMBER.fullmatch(f) for f in fields)


def _load_fast(source: str | list[str], skip: int, delimiter: str | None) -> np.ndarray | None:
    """numpy's C parser on a file or a list of lines; None when it fails or finds a bad value.

    None is never an answer to the user: it sends the lines to the careful per-line parser.
    """
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "input contained no data": the caller decides
            arr = np.loadtxt(
                source,
                delimiter=delimiter,
                skiprows=skip,
                comments=None,
                ndmin=2,
                dtype=np.float64,
                encoding="utf-8-sig",
            )
    except (ValueError, TypeError, OverflowError, OSError):
        return None
    if arr.ndim != 2 or arr.shape[1] != 2 or len(arr) == 0:
        return None
    with np.errstate(invalid="ignore"):
        if not (np.abs(arr) <= _MAX_ABS).all():  # also catches NaN and inf
            return None
    return arr


# Lines per chunk of the careful pass: chunks numpy parses cleanly skip the Python loop, so an
# error on the last of 10^7 lines is still found in seconds.
_CHUNK_LINES = 1 << 16


def scan_csv(name: str, fast: bool = True) -> np.ndarray:
    """The careful reader behind ``load_csv_points``: chunk by chunk, a chunk numpy rejects
    parsed line by line to name the bad line. ``fast=False`` parses every line in Python (the
    reference the numpy path is checked against)."""
    parts: list[np.ndarray] = []
    try:
        with open(name, encoding="utf-8-sig", errors="surrogateescape", newline=None) as f:
            read = 0  # lines read so far
            while chunk := list(itertools.islice(f, _CHUNK_LINES)):
                first = read + 1  # line number of chunk[0]
                read += len(chunk)
                if first == 1 and _is_header(chunk[0]):
                    chunk, first = chunk[1:], 2
                filled = [line for line in chunk if not line.isspace()]
                if not filled:
                    continue
                arr = _load_fast(filled, 0, _delimiter(filled[0])) if fast else None
                if arr is None:
                    rows = [
                        _parse_line(name, lineno, raw.strip())
                        for lineno, raw in enumerate(chunk, start=first)
                        if raw.strip()
                    ]
                    arr = np.array(rows, dtype=np.float64).reshape(-1, 2)
                parts.append(arr)
    except OSError as e:
        raise DataError(f"{name}: cannot read the file ({e.strerror or e})") from e
    points = np.concatenate(parts) if parts else np.empty((0, 2))
    if len(points) == 0:
        raise DataError(f"{name}: no points")
    return points


def _parse_line(name: str, lineno: int, line: str) -> tuple[float, float]:
    where = f"{name} line {lineno}"
    shown = repr(line if len(line) <= 60 else line[:57] + "...")
    if any("\udc80" <= ch <= "\udcff" for ch in line):  # undecodable bytes
        raise DataError(f"{where}: not UTF-8 text, got {shown}")
    fields = _fields(line)
    if len(fields) != 2 or not all(_NUMBER.fullmatch(f) for f in fields):
        raise DataError(f"{where}: expected two numbers, got {shown}")
    a, b = float(fields[0]), float(fields[1])
    for v, text in ((a, fields[0]), (b, fields[1])):
        if not math.isfinite(v):
            raise DataError(f"{where}: {text!r} is not a finite number")
        if abs(v) > _MAX_ABS:
            raise DataError(f"{where}: {text} exceeds 1e6 in magnitude; rescale the points")
    return a, b


__all__ = ["PointsDataset", "load_csv_points", "scan_csv"]
