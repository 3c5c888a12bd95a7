"""What runs on an established association: the Session and its DIMSE operations, C-GET's
receiving side, bulk C-STORE, query keys, and the check of a file before it is sent."""
