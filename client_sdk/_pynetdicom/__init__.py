"""The one seam to pynetdicom's internals (filled in below)."""
