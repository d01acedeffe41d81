"""JPEG's 8x8 block DCT over whole planes: a plane's blocks to coefficients and coefficients back to pixels, as one
64 x 64 matrix product per group of blocks. Shared by the quantisation constraints and the step reader of a JPEG's
copy."""

from __future__ import annotations

import numpy as np

BLOCK = 8
CHUNK = 64  # blocks per product


def _dct_matrix() -> np.ndarray:
    """The orthonormal 8-point DCT-II: JPEG's forward transform along one axis."""
    k = np.arange(BLOCK)
    d = np.cos((2 * k[None, :] + 1) * k[:, None] * np.pi / (2 * BLOCK)) * np.sqrt(2 / BLOCK)
    d[0] /= np.sqrt(2)
    return d


# The 2-D DCT of a block flattened row by row, as one 64 x 64 matrix: all blocks of a plane in one product.
_DCT2 = np.kron(_dct_matrix(), _dct_matrix()).astype(np.float32)
_DCT2_T = np.ascontiguousarray(_DCT2.T)


def _flatten_blocks(plane: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """The first ``rows`` x ``cols`` whole blocks of a plane, one flattened block per row."""
    cut = plane[:rows * BLOCK, :cols * BLOCK]
    return cut.reshape(rows, BLOCK, cols, BLOCK).swapaxes(1, 2).reshape(rows * cols, BLOCK * BLOCK)


def _transform(blocks: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """``blocks @ matrix`` in products of 64 blocks: BLAS runs those on the calling thread, where one large product
    wakes its own threads, which fight ONNX Runtime's for the cores (a 20x slowdown at times, measured)."""
    out = np.empty((blocks.shape[0], matrix.shape[1]), dtype=np.float32)
    for start in range(0, blocks.shape[0], CHUNK):
        np.matmul(blocks[start:start + CHUNK], matrix, out=out[start:start + CHUNK])
    return out


def block_coefficients(plane: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """DCT coefficients of the whole blocks of a plane in 0..255 levels (level-shifted by 128, as JPEG does)."""
    coefficients = _transform(_flatten_blocks(plane, rows, cols), _DCT2_T)
    coefficients[:, 0] -= np.float32(128 * BLOCK)  # the shift only moves the DC term: 128 x 8
    return coefficients


def block_pixels(coefficients: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """The inverse of :func:`block_coefficients` without the shift: a change of coefficients as a change of pixels."""
    blocks = _transform(coefficients, _DCT2)
    return blocks.reshape(rows, cols, BLOCK, BLOCK).swapaxes(1, 2).reshape(rows * BLOCK, cols * BLOCK)

