"""Off-chain payload store and run tables."""

from bflray.store.blobs import BlobStore, RoundManifest
from bflray.store.tables import read_rows, write_arrow_atomic, write_columns_atomic, write_table_atomic

__all__ = ["BlobStore", "RoundManifest", "read_rows", "write_arrow_atomic", "write_columns_atomic", "write_table_atomic"]
