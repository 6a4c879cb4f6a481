"""A minimal chat backend guarded by Tollgate, shaped like the seed's ``send_message``."""
