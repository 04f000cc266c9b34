# Hate-speech detection API: ONNX Runtime and OpenVINO + FastAPI, no PyTorch, non-root, HEALTHCHECK on /health.
#
#   docker build -t hate-speech-detection-api .                # the model from models/current, baked in
#   docker run -d -p 8000:8000 hate-speech-detection-api:latest
#
# Build args (all optional):
#   BASE_IMAGE      a Debian-based image with python3 (default python:3.11-slim); `make docker` makes a local one
#                   when no registry is reachable.
#   MODEL_DIR       a trained, exported model dir inside the build context (default models/current).
#   MODEL_GRAPHS    served (default: the ONNX graph onnx serves + OpenVINO's int8 graph) or all (every graph).
#   EXTRA_CA_CERTS  PEM text of a TLS-intercepting proxy's CA, for pip in the build stage only; it never
#                   reaches the image you run.
# Targets: the default image has the model; `--target server` has none (mount one at /app/model).
# Training in Docker and the Ray image: deploy/docker/{train,ray}.Dockerfile (see docs/deployment.md).
# Every stage before the target is needed by it: the classic builder (no BuildKit) builds them all.

ARG BASE_IMAGE=python:3.11-slim

# The serving virtualenv, built with a pip that stays in this stage.
FROM ${BASE_IMAGE} AS venv
ARG EXTRA_CA_CERTS=""
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PIP_ROOT_USER_ACTION=ignore
COPY deploy/docker/trust-build-ca.sh /usr/local/bin/
RUN trust-build-ca.sh && python3 -m venv /opt/pip && python3 -m venv --without-pip /opt/venv
COPY requirements-serve.txt /tmp/requirements-serve.txt
# OpenVINO runs on the CPU from ONNX graphs and its own IR only: its GPU and NPU plugins and the frontends of other
# frameworks (~70 MB) never load here.
RUN /opt/pip/bin/pip --python /opt/venv/bin/python install --no-deps -r /tmp/requirements-serve.txt \
    && cd /opt/venv/lib/python3*/site-packages/openvino/libs \
    && rm -f libopenvino_intel_gpu_plugin.so libopenvino_intel_npu_plugin.so \
        libopenvino_tensorflow_frontend.so* libopenvino_tensorflow_lite_frontend.so* libopenvino_paddle_frontend.so* \
        libopenvino_py*_frontend.so* libopenvino_jax_frontend.so* libopenvino_gguf_frontend.so*
COPY pyproject.toml README.md /tmp/package/
COPY src /tmp/package/src
RUN /opt/pip/bin/pip --python /opt/venv/bin/python install --no-deps /tmp/package \
    && rm -rf /tmp/package /tmp/requirements-serve.txt

# The server without a model: docker run -v "$PWD/models/current:/app/model:ro" ...
FROM ${BASE_IMAGE} AS server
ENV PYTHONUNBUFFERED=1 VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH \
    HATESPEECH_MODEL_DIR=/app/model HATESPEECH_HOST=0.0.0.0 HATESPEECH_PORT=8000 \
    HATESPEECH_MANAGEMENT_PORT=8081
RUN useradd --no-log-init --uid 10001 --no-create-home --shell /usr/sbin/nologin app
COPY --from=venv /opt/venv /opt/venv
USER 10001
# 8081: /health, /ready and /metrics on their own socket (probes answer while 8000 is flooded); publish it only to
# the cluster or the host, never to the public.
EXPOSE 8000 8081
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('HATESPEECH_MANAGEMENT_PORT', '8081') + '/health', timeout=4)"]
CMD ["hatespeech", "serve"]

# The model's serving copy: ONNX graph(s), tokenizer, config and metrics; no PyTorch weights.
FROM venv AS model
ARG MODEL_DIR=models/current
ARG MODEL_GRAPHS=served
COPY ${MODEL_DIR} /tmp/model
RUN /opt/venv/bin/hatespeech pack /opt/model --model /tmp/model --graphs "$MODEL_GRAPHS"

# The default image: the server with the model baked in.
FROM server AS runtime
COPY --from=model /opt/model /app/model
