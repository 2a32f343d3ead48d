"""Evidence: the desktop recorder's archive, its conversion into a demonstration, and the checks
that hold a demonstration's claims against its screen recording (docs/recorder-archive.md)."""
