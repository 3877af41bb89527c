"""vsrzoo.upscaling: the file-level front end of inference, ``vsrzoo.upscale`` and ``vsrzoo upscale``.

Why a package of its own: it loads a method by name (:mod:`vsrzoo.factory`) and reads and writes
files (:mod:`vsrzoo.data.io`), so it sits above the factory, while the engine it drives
(:mod:`vsrzoo.inference`: streaming over time, tiling over space) sits below the methods, which
stream through it (README.md, "Development").

- :mod:`vsrzoo.upscaling.api`: one input (video file, frame folder or iterable of frames) to one output.
- :mod:`vsrzoo.upscaling.batch`: every video of a folder or list into one output folder, resumable
  and sharded over processes.
"""
