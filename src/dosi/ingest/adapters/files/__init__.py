"""The files adapter: ``dosi import FILE --dataset D [--mapping M]`` (``reader``)."""
