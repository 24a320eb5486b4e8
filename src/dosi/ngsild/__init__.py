"""The NGSI-LD standard itself: pure, I/O free."""
