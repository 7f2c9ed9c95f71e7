"""Language model providers for AI planning; the interface is in :mod:`.base`."""
