"""h5py's global lock and thread pools.

h5py serializes every call into HDF5 with one reentrant lock, and holds it for as long as a
caller iterates an open group (``for name, obj in f.items()``). A thread that holds it and
then waits for a pool must not give that pool anything that takes the lock: reading a file,
or merely a garbage collection in a pool thread that frees an h5py object (seen: a
compression at completion that never finished). Code that hands work to threads asks
:func:`h5py_lock_held` first and does the work itself when it is.
"""

from __future__ import annotations


def h5py_lock_held() -> bool:
    """True when the calling thread holds h5py's global lock (``_is_owned`` is the lock's own
    check; an h5py without it gives False)."""
    from h5py._objects import phil

    is_owned = getattr(phil, "_is_owned", None)
    return bool(is_owned is not None and is_owned())
