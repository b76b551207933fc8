#!/usr/bin/env bash
# Build the Agora service images (called by `make images`).
#
#   deploy/k8s/build-images.sh [--push] [SERVICE_FOLDER...]
#
# Environment:
#   AGORA_REGISTRY   image repository prefix      (default ghcr.io/agora-civic, as in base/kustomization.yaml)
#   AGORA_IMAGE_TAG  tag                          (default: short git commit, or "dev")
#   DOCKER           docker CLI to use            (default: docker)
#
# Exits 0 with a message when no Docker engine is reachable (`docker info` fails), so `make images`
# is harmless on machines without one. The relay has no image of its own: it runs from the ideas image.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
# the one list of services (deploy/services.json): "name package" per line
SERVICE_TABLE="$(python3 -c 'import json,sys; [print(s["name"], s["package"]) for s in json.load(open(sys.argv[1]))["services"]]' "$ROOT/deploy/services.json")"
ALL_SERVICES=($(cut -d" " -f1 <<<"$SERVICE_TABLE"))
package_of() { awk -v n="$1" '$1 == n {print $2}' <<<"$SERVICE_TABLE"; }
REGISTRY="${AGORA_REGISTRY:-ghcr.io/agora-civic}"
DOCKER="${DOCKER:-docker}"
PUSH=0

usage() { sed -n '2,12p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; }

services=()
for arg in "$@"; do
    case "$arg" in
        -h|--help) usage; exit 0 ;;
        --push) PUSH=1 ;;
        -*) echo "build-images: unknown option $arg" >&2; exit 2 ;;
        *)
            if [[ -z "$(package_of "$arg")" ]]; then
                echo "build-images: no service '$arg' in deploy/services.json" >&2
                exit 2
            fi
            services+=("$arg") ;;
    esac
done
if [[ ${#services[@]} -eq 0 ]]; then
    services=("${ALL_SERVICES[@]}")
fi

if ! command -v "$DOCKER" >/dev/null 2>&1 || ! "$DOCKER" info >/dev/null 2>&1; then
    echo "build-images: no Docker engine available ('$DOCKER info' failed); skipping image builds." >&2
    exit 0
fi

TAG="${AGORA_IMAGE_TAG:-$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo dev)}"
export DOCKER_BUILDKIT=1   # named build contexts (--build-context) need BuildKit

for folder in "${services[@]}"; do
    image="$REGISTRY/$folder:$TAG"
    echo "build-images: building $image" >&2
    "$DOCKER" build \
        --file "$ROOT/deploy/k8s/images/Dockerfile" \
        --build-arg "SERVICE=$folder" --build-arg "SERVICE_PKG=$(package_of "$folder")" \
        --build-context "shared=$ROOT/shared" \
        --build-context "support=$ROOT/deploy/k8s/images" \
        --tag "$image" \
        "$ROOT/services/$folder"
    if [[ "$PUSH" == 1 ]]; then
        "$DOCKER" push "$image"
    fi
done
echo "build-images: built ${#services[@]} image(s) tagged $TAG" >&2
