import sys

print("agora-shared: use `python -m agora.auth`, `python -m agora.relay` or `python -m agora.projections`",
      file=sys.stderr)
sys.exit(2)
