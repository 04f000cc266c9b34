# Training in Docker: PyTorch (CPU build) + transformers + the package; trains into the /models volume.
#
#   make docker-train      # or: deploy/docker/build.sh with DOCKERFILE=deploy/docker/train.Dockerfile
#   docker run --rm --user "$(id -u):$(id -g)" -v "$PWD/models:/models" -v "$PWD/../shared/data/hate-speech-dataset:/data:ro" \
#       hate-speech-detection-train            # = hatespeech train --data /data --out /models/current
#
# Build args: BASE_IMAGE, EXTRA_CA_CERTS (as in the main Dockerfile), TORCH_INDEX_URL (PyTorch's CPU wheel
# index; PyPI's torch is the multi-GB CUDA build). Where that index is unreachable, put the CPU wheel
# (torch-2.13.0+cpu-cp311-...whl) in deploy/docker/wheels/ and build with TORCH_INDEX_URL= (empty).

ARG BASE_IMAGE=python:3.11-slim

FROM ${BASE_IMAGE} AS venv
ARG EXTRA_CA_CERTS=""
ARG TORCH_INDEX_URL=https://download.pytorch.org/whl/cpu
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore
COPY deploy/docker/trust-build-ca.sh /usr/local/bin/
RUN trust-build-ca.sh && python3 -m venv /opt/venv
COPY deploy/docker/wheels/ /tmp/wheels/
RUN /opt/venv/bin/pip install --find-links /tmp/wheels ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"} \
        torch==2.13.0+cpu && rm -rf /tmp/wheels
COPY requirements.txt pyproject.toml README.md /tmp/package/
COPY src /tmp/package/src
RUN grep -v '^-e' /tmp/package/requirements.txt > /tmp/constraints.txt \
    && /opt/venv/bin/pip install -c /tmp/constraints.txt '/tmp/package[train]' \
    && rm -rf /tmp/package /tmp/constraints.txt

# Run it as yourself (docker run --user "$(id -u):$(id -g)") so the model files in /models are yours.
FROM ${BASE_IMAGE}
ENV PYTHONUNBUFFERED=1 VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH HOME=/tmp \
    HATESPEECH_DATA_DIR=/data HATESPEECH_MODEL_DIR=/models/current
COPY --from=venv /opt/venv /opt/venv
VOLUME ["/models"]
CMD ["hatespeech", "train", "--out", "/models/current"]
