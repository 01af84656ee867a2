"""Read a TensorFlow checkpoint (tensor bundle) without TensorFlow: `read_checkpoint(prefix) -> {name: array}`.

A bundle is `<prefix>.index`, an SSTable (LevelDB table format: prefix-compressed key blocks, an index
block, a 48-byte footer) mapping each tensor name to a `BundleEntryProto` (dtype, shape, shard, offset,
size), and `<prefix>.data-NNNNN-of-MMMMM` shards holding the raw little-endian tensor bytes.
Only uncompressed tables and plain (unsliced) numeric tensors are supported, which is what
`tf.train.Saver` writes; other entries (e.g. strings) are skipped.
"""
from __future__ import annotations

import struct
from pathlib import Path

import numpy as np

MAGIC = 0xDB4775248B80FB57
#: TensorFlow DataType enum -> numpy dtype (little-endian)
DTYPES = {1: "<f4", 2: "<f8", 3: "<i4", 4: "u1", 5: "<i2", 6: "i1", 9: "<i8", 10: "?", 19: "<f2"}


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        b = buf[pos]
        pos += 1
        value |= (b & 0x7F) << shift
        if b < 0x80:
            return value, pos
        shift += 7


def _fields(buf: bytes):
    """(field number, value) of a protobuf message: ints for varints, bytes otherwise."""
    pos = 0
    while pos < len(buf):
        tag, pos = _varint(buf, pos)
        kind = tag & 7
        if kind == 0:
            value, pos = _varint(buf, pos)
        elif kind == 2:
            n, pos = _varint(buf, pos)
            value, pos = buf[pos:pos + n], pos + n
        elif kind in (1, 5):
            n = 8 if kind == 1 else 4
            value, pos = buf[pos:pos + n], pos + n
        else:
            raise ValueError(f"unsupported protobuf wire type {kind}")
        yield tag >> 3, value


def _block(data: bytes, handle: bytes):
    """(key, value) pairs of the SSTable block that `handle` (offset, size varints) points to."""
    offset, pos = _varint(handle, 0)
    size, _ = _varint(handle, pos)
    if data[offset + size] != 0:
        raise ValueError("compressed checkpoint index blocks are not supported")
    block = data[offset:offset + size]
    n_restarts = struct.unpack_from("<I", block, size - 4)[0]
    end, pos, key = size - 4 - 4 * n_restarts, 0, b""
    while pos < end:
        shared, pos = _varint(block, pos)
        unshared, pos = _varint(block, pos)
        n, pos = _varint(block, pos)
        key = key[:shared] + block[pos:pos + unshared]
        pos += unshared
        yield key, block[pos:pos + n]
        pos += n


def _table(index: bytes):
    """(key, value) pairs of a whole SSTable (the bytes of a `.index` file)."""
    if len(index) < 48 or struct.unpack_from("<Q", index, len(index) - 8)[0] != MAGIC:
        raise ValueError("not a TensorFlow checkpoint index (bad magic)")
    footer = index[-48:]
    _, pos = _varint(footer, 0)  # metaindex handle (offset, size), then the index block's handle
    _, pos = _varint(footer, pos)
    for _, handle in _block(index, footer[pos:]):
        yield from _block(index, handle)


def read_index(index: bytes) -> tuple[int, dict[str, dict]]:
    """(number of data shards, tensor name -> {dtype, shape, shard, offset, size, sliced})."""
    shards, entries = 1, {}
    for key, value in _table(index):
        if not key:  # the header entry: num_shards, endianness, version
            shards = next((v for k, v in _fields(value) if k == 1), 1)
            continue
        e = {"dtype": 0, "shape": [], "shard": 0, "offset": 0, "size": 0, "sliced": False}
        for num, v in _fields(value):
            if num == 1:
                e["dtype"] = v
            elif num == 2:
                e["shape"] = [next((s for k, s in _fields(d) if k == 1), 0) for k, d in _fields(v) if k == 2]
            elif num in (3, 4, 5):
                e[{3: "shard", 4: "offset", 5: "size"}[num]] = v
            elif num == 7:
                e["sliced"] = True
        entries[key.decode("utf-8")] = e
    return shards, entries


def read_checkpoint(prefix: str | Path) -> dict[str, np.ndarray]:
    """All plain numeric tensors of the checkpoint `prefix` (the path without `.index`)."""
    prefix = str(prefix)
    index = Path(prefix + ".index").read_bytes()
    n, entries = read_index(index)
    shards: dict[int, bytes] = {}
    out = {}
    for name, e in entries.items():
        if e["dtype"] not in DTYPES or e["sliced"]:
            continue
        if e["shard"] not in shards:
            shards[e["shard"]] = Path(f"{prefix}.data-{e['shard']:05d}-of-{n:05d}").read_bytes()
        raw = shards[e["shard"]][e["offset"]:e["offset"] + e["size"]]
        dtype = np.dtype(DTYPES[e["dtype"]])
        if len(raw) != e["size"] or e["size"] != dtype.itemsize * int(np.prod(e["shape"], dtype=np.int64)):
            raise ValueError(f"checkpoint tensor {name}: {len(raw)} bytes do not match shape {e['shape']}")
        out[name] = np.frombuffer(raw, dtype=dtype).reshape(e["shape"]).copy()
    return out
