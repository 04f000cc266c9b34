#!/usr/bin/env bash
# Build the serving image (default hate-speech-detection-api:latest) from a trained, exported model dir.
# What `make docker` runs. On a Debian-like machine it also gets the pieces a plain `docker build` lacks:
#   - Docker: installs Debian's docker.io when it is missing and you are root, starts dockerd when it is down;
#   - a base image: when BASE_IMAGE cannot be pulled (no registry reachable), makes a local Debian one with
#     debootstrap, once per machine (LOCAL_BASE, kept by Docker);
#   - a TLS-intercepting proxy: the CA certificates added to this machine's trust store
#     (/usr/local/share/ca-certificates) go to pip in the build stage only (EXTRA_CA_FILE=none: don't).
# Usage: deploy/docker/build.sh [MODEL_DIR]        (MODEL_DIR under models/, default models/current)
# Environment: IMAGE, TARGET (runtime | server | venv), BASE_IMAGE, LOCAL_BASE, MODEL_GRAPHS (served | all),
#              EXTRA_CA_FILE (a PEM file, or none), DEBIAN_MIRROR,
#              DOCKERFILE (deploy/docker/train.Dockerfile or ray.Dockerfile for the other images).
set -euo pipefail
cd "$(dirname "$0")/../.."

DOCKERFILE=${DOCKERFILE:-Dockerfile}
IMAGE=${IMAGE:-hate-speech-detection-api:latest}
TARGET=${TARGET:-}
DEFAULT_BASE=python:3.11-slim
BASE_IMAGE=${BASE_IMAGE:-$DEFAULT_BASE}
LOCAL_BASE=${LOCAL_BASE:-hatespeech-base:bookworm}
MODEL_DIR=${1:-${MODEL_DIR:-models/current}}
MODEL_REL=$(realpath -m --relative-to=. "$MODEL_DIR")  # its path in the build context
MODEL_GRAPHS=${MODEL_GRAPHS:-served}
DOCKERD_LOG=${DOCKERD_LOG:-/var/log/dockerd.log}

say() { echo "docker: $*" >&2; }
die() { echo "error: $*" >&2; exit 1; }
is_root() { [ "$(id -u)" = 0 ]; }
apt_install() {
    say "installing Debian's $* with apt-get"
    apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@" >/dev/null
}

ensure_docker() {
    docker info >/dev/null 2>&1 && return
    if ! command -v dockerd >/dev/null; then
        # A client alone (e.g. a static docker binary) may be here; it needs a daemon to talk to.
        is_root && command -v apt-get >/dev/null \
            || die "no Docker engine here: install it (Debian: sudo apt-get install docker.io), then run this again"
        apt_install docker.io
    fi
    docker info >/dev/null 2>&1 && return
    is_root || die "the Docker daemon is not running or not yours: start it (sudo systemctl start docker) or join the docker group"
    if [ -d /run/systemd/system ]; then
        say "starting the Docker daemon (systemctl start docker)"
        systemctl start docker
    else
        say "starting the Docker daemon: dockerd in the background, log in $DOCKERD_LOG"
        nohup dockerd >>"$DOCKERD_LOG" 2>&1 &
    fi
    for _ in $(seq 60); do docker info >/dev/null 2>&1 && return; sleep 1; done
    die "dockerd did not come up in 60 s: $(tail -n 1 "$DOCKERD_LOG" 2>/dev/null || echo 'see its log')"
}

debian_mirror() {
    # The mirror apt already uses (deb822 or one-line sources), else Debian's CDN.
    local url
    url=$({ grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}'
            grep -hE '^deb ' /etc/apt/sources.list 2>/dev/null | sed -E 's/\[[^]]*\]//' | awk '{print $2}'
          } | grep -E '/debian/?$' | head -n 1 || true)
    echo "${DEBIAN_MIRROR:-${url:-http://deb.debian.org/debian}}"
}

make_local_base() {
    is_root || die "no registry reachable for $BASE_IMAGE, and making a local base image needs root (debootstrap)"
    command -v debootstrap >/dev/null || apt_install debootstrap
    local rootfs mirror
    rootfs=$(mktemp -d /var/tmp/hatespeech-base.XXXXXX)
    mirror=$(debian_mirror)
    say "making $LOCAL_BASE (Debian bookworm minbase + python3) with debootstrap from $mirror; a minute or two, once per machine"
    debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates bookworm "$rootfs" "$mirror" \
        >/var/tmp/hatespeech-debootstrap.log 2>&1 \
        || { rm -rf "$rootfs"; die "debootstrap failed: see /var/tmp/hatespeech-debootstrap.log"; }
    rm -rf "$rootfs"/var/lib/apt/lists/* "$rootfs"/var/cache/apt/* "$rootfs"/usr/share/doc/* \
        "$rootfs"/usr/share/man/* "$rootfs"/usr/share/locale/* "$rootfs"/usr/share/info/*
    tar -C "$rootfs" -c . | docker import -c 'ENV LANG=C.UTF-8' -c 'CMD ["python3"]' - "$LOCAL_BASE" >/dev/null
    rm -rf "$rootfs"
}

choose_base() {
    # Prints the base image to build on: BASE_IMAGE if present or pullable, else the local one.
    if docker image inspect "$BASE_IMAGE" >/dev/null 2>&1; then echo "$BASE_IMAGE"; return; fi
    if timeout 120 docker pull -q "$BASE_IMAGE" >/dev/null 2>&1; then echo "$BASE_IMAGE"; return; fi
    [ "$BASE_IMAGE" = "$DEFAULT_BASE" ] || die "cannot pull BASE_IMAGE=$BASE_IMAGE (no registry reachable?)"
    if docker image inspect "$LOCAL_BASE" >/dev/null 2>&1; then
        say "cannot pull $BASE_IMAGE (no registry reachable): using the local base image $LOCAL_BASE, made earlier"
    else
        say "cannot pull $BASE_IMAGE (no registry reachable)"
        make_local_base
    fi
    echo "$LOCAL_BASE"
}

extra_ca() {
    # Prints the PEM text to trust in the build stage, or nothing.
    if [ "${EXTRA_CA_FILE:-}" = none ]; then return; fi
    if [ -n "${EXTRA_CA_FILE:-}" ]; then
        [ -r "$EXTRA_CA_FILE" ] || die "EXTRA_CA_FILE=$EXTRA_CA_FILE is not a readable file"
        say "trusting $EXTRA_CA_FILE in the build stage (pip only; not in the image)"
        cat "$EXTRA_CA_FILE"
        return
    fi
    local added=(/usr/local/share/ca-certificates/*.crt)
    [ -e "${added[0]}" ] || return 0
    say "trusting this machine's ${#added[@]} added CA certificate(s) from /usr/local/share/ca-certificates in the build stage (pip only; not in the image; EXTRA_CA_FILE=none to skip)"
    cat "${added[@]}"
}

check_model() {
    [ "$DOCKERFILE" = Dockerfile ] && [ "${TARGET:-runtime}" = runtime ] || return 0
    [ -f "$MODEL_DIR/manifest.json" ] || die "no model in $MODEL_DIR: train one first (make train), or give a model dir"
    [ -f "$MODEL_DIR/model.onnx" ] || [ -f "$MODEL_DIR/model.int8.onnx" ] \
        || die "$MODEL_DIR has no ONNX graph: run hatespeech export --model $MODEL_DIR"
    case "$MODEL_REL" in
        models/*) ;;
        *) die "MODEL_DIR must be under models/ (the only model folder the build context holds): $MODEL_DIR" ;;
    esac
}

check_model
ensure_docker
base=$(choose_base)
ca=$(extra_ca)
args=(-f "$DOCKERFILE" -t "$IMAGE" --build-arg "BASE_IMAGE=$base")
[ -z "$TARGET" ] || args+=(--target "$TARGET")
[ -z "$ca" ] || args+=(--build-arg "EXTRA_CA_CERTS=$ca")
case "$DOCKERFILE" in
    Dockerfile)
        args+=(--build-arg "MODEL_DIR=$MODEL_REL" --build-arg "MODEL_GRAPHS=$MODEL_GRAPHS") ;;
    *train.Dockerfile)
        if compgen -G "deploy/docker/wheels/torch-*.whl" >/dev/null; then
            say "using the torch wheel in deploy/docker/wheels (not PyTorch's index)"
            args+=(--build-arg "TORCH_INDEX_URL=")
        fi ;;
esac
if docker buildx version >/dev/null 2>&1; then
    builder=BuildKit
else
    builder="the classic builder (no buildx)"
    export DOCKER_BUILDKIT=0
fi
say "building $IMAGE from $DOCKERFILE${TARGET:+ (target $TARGET)} on $base with $builder"
started=$(date +%s)
docker build "${args[@]}" . >&2
size=$(docker image inspect -f '{{.Size}}' "$IMAGE")
say "built $IMAGE in $(( $(date +%s) - started )) s: $(( size / 1000000 )) MB"
