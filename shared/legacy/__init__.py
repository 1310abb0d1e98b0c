"""Backups made by the old shell scripts, registered so that ``dr-restore`` restores them.

``dr import`` reads a legacy backup where it lies, checks it end to end
(decryption, decompression, every document), and commits a manifest marked
``imported`` in the product's catalog, so the same restore requests find it.
The original files are never changed. :mod:`.layers` peels what the scripts
wrapped around a dump (``openssl enc``, gzip), :mod:`.mongoarchive` and
:mod:`.mongodir` read the two mongodump layouts, :mod:`.tarstream` turns
either into the product's own archive layout, which the MongoDB restore then
reads as it reads its own backups.
"""
