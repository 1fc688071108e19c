"""Reading a case's ``.npz`` within bounds (no pickles; sizes checked before anything is decompressed)."""

from __future__ import annotations

import zipfile
from typing import Any

import numpy as np

from conformance.spec._errors import InvalidArgument
from conformance.spec._files import MAX_CASE_BYTES, size_text

#: The most members a case ``.npz`` may have (:meth:`Case.save_npz` writes 10 per cell of the network).
MAX_CASE_MEMBERS = 256


def read_npz(fh: Any, name: str) -> dict[str, np.ndarray]:
    """The arrays of an ``.npz`` (what ``np.load`` gives, without pickles), read within :data:`MAX_CASE_BYTES`."""
    limit = f"the limit of {size_text(MAX_CASE_BYTES)} (MAX_CASE_BYTES)"
    with zipfile.ZipFile(fh) as zf:
        infos = zf.infolist()
        if len(infos) > MAX_CASE_MEMBERS:
            raise InvalidArgument(f"{name}: {len(infos)} members, over the limit of {MAX_CASE_MEMBERS}")
        total = sum(info.file_size for info in infos)
        if total > MAX_CASE_BYTES:
            raise InvalidArgument(f"{name}: refusing to decompress {total} bytes, over {limit}")
        files = {}
        for info in infos:
            with zf.open(info) as member:
                version = np.lib.format.read_magic(member)
                if version == (1, 0):
                    shape, _, dtype = np.lib.format.read_array_header_1_0(member)
                elif version == (2, 0):
                    shape, _, dtype = np.lib.format.read_array_header_2_0(member)
                else:
                    raise ValueError(f"{info.filename}: unsupported .npy format version {version}")
                # The data follows the header inside the member: a header claiming more is a lie, and
                # numpy would allocate what it claims before finding out.
                claimed = int(np.prod(shape, dtype=object)) * dtype.itemsize
                if claimed > info.file_size:
                    raise InvalidArgument(f"{name}: {info.filename} claims {claimed} bytes but holds "
                                          f"{info.file_size} (limit {size_text(MAX_CASE_BYTES)})")
            with zf.open(info) as member:
                key = info.filename[:-4] if info.filename.endswith(".npy") else info.filename
                files[key] = np.lib.format.read_array(member, allow_pickle=False)
    return files
