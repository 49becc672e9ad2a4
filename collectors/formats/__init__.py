"""Input formats. Each reader streams an input and yields :class:`~collectors.formats.base.RawChunk`."""
