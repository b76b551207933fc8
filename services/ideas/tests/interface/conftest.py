from ideas_support import app, board, running, store, tenant  # noqa: F401  (fixtures)
