"""The sweep pipeline, free of IPython, widgets, plotting and storage.

Planning (:mod:`.parameters`, :mod:`.plan`, :mod:`.seeding`), the worker side
(:mod:`.worker`, :mod:`.collect`, :mod:`.columns`), the parent side
(:mod:`.dispatch`, :mod:`.gather`) and the result (:mod:`.result`), all
speaking the vocabulary of :mod:`.records`. Backends and the store plug in
through :class:`~.backend.Backend` and :class:`~.gather.RunSink`.
"""
