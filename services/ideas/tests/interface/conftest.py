from ideas_support import app, board, running, store  # noqa: F401  (fixtures)
