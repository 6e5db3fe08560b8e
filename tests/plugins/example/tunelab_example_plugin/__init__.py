"""A tiny tunelab plugin: a model builder and a data loader, registered by entry points."""
