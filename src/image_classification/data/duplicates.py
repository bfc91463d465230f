"""Near-duplicate images by perceptual hash: resized, recompressed or re-encoded copies of one picture.

Exact copies (same bytes) and same-pixel copies (one picture saved as PNG and BMP) are skipped at ingest; copies that
differ in a few pixels are not the same file, but a model tested on a copy of a training image is tested on what it
has seen. :func:`near_duplicate_pairs` finds the pairs whose 64-bit pHashes (``images.perceptual_hash``) differ in at
most ``max_distance`` bits without comparing every pair: by the pigeonhole principle two such hashes agree on at least
one of ``max_distance + 1`` bands of bits, so only hashes sharing a band are compared.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Sequence

import numpy as np
from PIL import Image

#: Default ``ingest.checks.near_duplicate_distance``: copies resized or recompressed stay within it.
DEFAULT_NEAR_DUPLICATE_DISTANCE = 4
MAX_NEAR_DUPLICATE_DISTANCE = 16
_BITS = 64
#: In a band bucket larger than this, only its first members are compared with the others.
MAX_COMPARED = 256


_PHASH_SIZE = 32
_PHASH_BITS = 8
_PHASH_MIN_SIDE = 64
_FLAT_STD = 2.0  # grey-level standard deviation below which an image counts as flat


def _dct_matrix(n: int) -> np.ndarray:
    """The orthonormal DCT-II matrix: ``matrix @ x`` is the DCT of ``x``."""
    k, i = np.arange(n)[:, None], np.arange(n)[None, :]
    matrix = np.cos(np.pi * (2 * i + 1) * k / (2 * n)) * np.sqrt(2 / n)
    matrix[0] /= np.sqrt(2)
    return matrix


_DCT = _dct_matrix(_PHASH_SIZE)


def perceptual_hash(image: Image.Image) -> int | None:
    """A 64-bit DCT perceptual hash (pHash): the 8x8 lowest frequencies of the 32x32 grayscale image, each bit set
    when above their median. Copies resized, recompressed or saved in another format differ in a few bits at most.

    Returns:
        The hash, or None for an image smaller than 64 px or without structure (grey levels within a few steps),
        which unrelated images of the same kind would match.
    """
    if min(image.size) < _PHASH_MIN_SIDE:  # thumbnails (CIFAR, digits): too little detail, unrelated ones would match
        return None
    gray = np.asarray(image.convert("L").resize((_PHASH_SIZE, _PHASH_SIZE), Image.Resampling.LANCZOS), np.float64)
    if gray.std() < _FLAT_STD:
        return None
    low = (_DCT @ gray @ _DCT.T)[:_PHASH_BITS, :_PHASH_BITS].ravel()
    bits = low > np.median(low[1:])  # the DC term (overall brightness) left out of the median
    return int(sum(1 << index for index, bit in enumerate(bits) if bit))


def hamming(first: int, second: int) -> int:
    """The number of bits that differ between two hashes."""
    return (first ^ second).bit_count()


def pixel_sha256(image: Image.Image) -> str:
    """sha256 of an RGB image's size and pixels: one picture saved as PNG and as BMP has one."""
    digest = hashlib.sha256(f"{image.width}x{image.height}".encode())
    digest.update(image.tobytes())
    return digest.hexdigest()


def near_duplicate_pairs(hashes: Sequence[int], max_distance: int) -> list[tuple[int, int, int]]:
    """Every pair ``(i, j, distance)`` with ``i < j`` whose hashes differ in at most ``max_distance`` bits.

    Args:
        hashes: 64-bit perceptual hashes.
        max_distance: The largest Hamming distance that counts as a near duplicate (0 to 16).

    Returns:
        The pairs, sorted by ``i`` then ``j``.
    """
    if not 0 <= max_distance <= MAX_NEAR_DUPLICATE_DISTANCE:
        raise ValueError(f"max_distance must be from 0 to {MAX_NEAR_DUPLICATE_DISTANCE}, not {max_distance}.")
    bands = max_distance + 1
    edges = [round(band * _BITS / bands) for band in range(bands + 1)]
    buckets: dict[tuple[int, int], list[int]] = defaultdict(list)
    for index, value in enumerate(hashes):
        for band in range(bands):
            width = edges[band + 1] - edges[band]
            buckets[(band, (value >> edges[band]) & ((1 << width) - 1))].append(index)
    pairs: dict[tuple[int, int], int] = {}
    for members in buckets.values():
        # A band shared by thousands (flat, blank images) would take quadratic time: their first few stand for them.
        for position, first in enumerate(members[:MAX_COMPARED] if len(members) > MAX_COMPARED else members):
            for second in members[position + 1 :]:
                if (first, second) not in pairs:
                    distance = (hashes[first] ^ hashes[second]).bit_count()
                    if distance <= max_distance:
                        pairs[(first, second)] = distance
    return sorted((first, second, distance) for (first, second), distance in pairs.items())


def straddling_pairs(
    paths: Sequence[str], splits: Sequence[str], phashes: Sequence[str], max_distance: int = DEFAULT_NEAR_DUPLICATE_DISTANCE
) -> list[tuple[str, str, int]]:
    """Near-duplicate pairs of which one image is in ``test`` and the other in ``train`` or ``val``: the leakage a
    seeded split cannot see.

    Args:
        paths, splits, phashes: One per image: its file, its split and its pHash as 16 hex digits ("" if unknown).
        max_distance: As for :func:`near_duplicate_pairs`.

    Returns:
        ``(test file, train or val file, distance)`` per pair.
    """
    known = [index for index, value in enumerate(phashes) if isinstance(value, str) and len(value) == 16]
    hashes = [int(phashes[index], 16) for index in known]
    found = []
    for first, second, distance in near_duplicate_pairs(hashes, max_distance):
        a, b = known[first], known[second]
        if (splits[a] == "test") != (splits[b] == "test"):
            test, other = (a, b) if splits[a] == "test" else (b, a)
            found.append((str(paths[test]), str(paths[other]), distance))
    return found
