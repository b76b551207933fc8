#!/bin/sh
# Entrypoint of every Agora image (copied to /usr/local/bin/agora-entrypoint).
# Every branch ends in `exec`, so the Python process replaces this shell, runs as PID 1 and
# receives SIGTERM from the kubelet directly (a clean shutdown takes < 10 s).
#
#   agora-entrypoint [serve]                  nameko run --config /app/config.yaml $AGORA_SERVICE_PKG.service
#   agora-entrypoint relay                    python -m agora.relay   (the transactional-outbox relay)
#   agora-entrypoint projections ARGS...      python -m agora.projections ARGS...  (e.g. rebuild ideas board)
#   agora-entrypoint CMD ARGS...              any other command
set -eu

cmd="${1:-serve}"
if [ "$#" -gt 0 ]; then
    shift
fi

case "$cmd" in
    serve)
        exec nameko run --config "${AGORA_NAMEKO_CONFIG:-/app/config.yaml}" \
            "${AGORA_SERVICE_PKG:?AGORA_SERVICE_PKG is not set in the image}.service" "$@"
        ;;
    relay)
        exec python -m agora.relay "$@"
        ;;
    projections)
        exec python -m agora.projections "$@"
        ;;
    *)
        exec "$cmd" "$@"
        ;;
esac
