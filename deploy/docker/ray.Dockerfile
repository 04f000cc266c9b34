# The serving image plus Ray Serve / Ray Data, for deploy/k8s/rayservice.yaml (KubeRay).
#
#   make docker            # the serving image first
#   DOCKERFILE=deploy/docker/ray.Dockerfile IMAGE=hate-speech-detection-api:ray deploy/docker/build.sh
#
# Build args: BASE_IMAGE, EXTRA_CA_CERTS (as in the main Dockerfile), APP_IMAGE (the serving image to extend).

ARG BASE_IMAGE=python:3.11-slim
ARG APP_IMAGE=hate-speech-detection-api:latest

FROM ${APP_IMAGE} AS app

FROM ${BASE_IMAGE} AS venv
ARG EXTRA_CA_CERTS=""
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore
COPY deploy/docker/trust-build-ca.sh /usr/local/bin/
RUN trust-build-ca.sh && python3 -m venv /opt/pip
COPY --from=app /opt/venv /opt/venv
COPY requirements.txt /tmp/requirements.txt
RUN grep -v '^-e' /tmp/requirements.txt > /tmp/constraints.txt \
    && /opt/pip/bin/pip --python /opt/venv/bin/python install -c /tmp/constraints.txt 'ray[serve,data]==2.60.0'

# Ray writes its session files and caches under $HOME; the image's user has no home directory.
FROM ${APP_IMAGE}
ENV HOME=/tmp
COPY --from=venv /opt/venv /opt/venv
