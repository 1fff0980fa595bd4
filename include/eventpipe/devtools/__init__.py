"""Local stand-ins and tools: the generator, the receivers, the emulator. Production never imports it."""
