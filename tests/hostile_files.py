"""Hostile checkpoints that are small on disk and huge in memory, made without the memory."""

from __future__ import annotations

import io
import struct
import zipfile
import zlib
from pathlib import Path

import torch

from lab.checkpoint import CHECKPOINT_KIND, FORMAT_VERSION
from lab.presets import preset_config

# 16 MiB of zeros as raw deflate, flushed so that copies of it follow each other in one stream.
_ZEROS = 16 << 20


def lab_payload(classes: list[str], model: dict, **config) -> dict:
    """A checkpoint as the lab writes one, with the given classes, weights and model config."""
    settings = preset_config("cpu-fast", "x").to_dict()
    settings["model"].update(config)
    return {
        "format_version": FORMAT_VERSION,
        "kind": CHECKPOINT_KIND,
        "config": settings,
        "classes": classes,
        "mean": [0.5, 0.5, 0.5],
        "std": [0.25, 0.25, 0.25],
        "model": model,
    }


def _entry(name: bytes, method: int, crc: int, packed: int, size: int) -> bytes:
    """The fields a zip's local header and its central directory entry share."""
    return struct.pack("<HHHHHIIIHH", 20, 0, method, 0, 0x21, crc, packed, size, len(name), 0)


def deflate_bomb(path: Path, inflated: int) -> Path:
    """A real lab checkpoint whose one tensor record is ``inflated`` bytes of zeros, stored
    deflated: 2 GiB fit in about 2 MB. The zip is written by hand from one deflated block of
    16 MiB repeated (zipfile would deflate all 2 GiB); ``inflated`` is a multiple of 16 MiB
    below 4 GiB."""
    buffer = io.BytesIO()
    torch.save(lab_payload(["a", "b"], {"w": torch.zeros(4)}), buffer)
    source = zipfile.ZipFile(buffer)
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    block = compressor.compress(bytes(_ZEROS)) + compressor.flush(zlib.Z_FULL_FLUSH)
    ending = zlib.compressobj(9, zlib.DEFLATED, -15).flush(zlib.Z_FINISH)
    copies, crc = inflated // _ZEROS, 0
    for _ in range(copies):
        crc = zlib.crc32(bytes(_ZEROS), crc)
    central = []
    with path.open("wb") as out:
        for info in source.infolist():
            name, offset = info.filename.encode(), out.tell()
            if info.filename.endswith("/data/0"):
                fields = _entry(name, 8, crc, len(block) * copies + len(ending), inflated)
                out.write(struct.pack("<I", 0x04034B50) + fields + name)
                for _ in range(copies):
                    out.write(block)
                out.write(ending)
            else:
                data = source.read(info)
                fields = _entry(name, 0, zlib.crc32(data), len(data), len(data))
                out.write(struct.pack("<I", 0x04034B50) + fields + name + data)
            tail = struct.pack("<HHHII", 0, 0, 0, 0, offset)
            central.append(struct.pack("<IH", 0x02014B50, 20) + fields + tail + name)
        start = out.tell()
        out.write(b"".join(central))
        end = (0x06054B50, 0, 0, len(central), len(central), out.tell() - start, start, 0)
        out.write(struct.pack("<IHHHHIIH", *end))
    return path


def many_classes(path: Path, classes: int, width: float = 4.0) -> Path:
    """A lab checkpoint of alexnet_cifar at ``width`` claiming ``classes`` classes: 300,000
    references to one name pickle into 600 KB, and would build a 6 GB classifier."""
    torch.save(lab_payload(["x"] * classes, {"w": torch.zeros(4)}, width=width), path)
    return path
