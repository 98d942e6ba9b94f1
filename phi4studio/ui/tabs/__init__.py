"""One sub-package per tab, mirroring phi4studio.core/<feature>."""
