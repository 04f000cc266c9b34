# syntax=docker/dockerfile:1
# Hate-speech detection API. Two stages:
#   trainer: PyTorch (CPU) + transformers; trains a model unless the build context has models/current.
#   runtime: ONNX Runtime + FastAPI only (no PyTorch), non-root, with a HEALTHCHECK on /health.
#
#   docker build -t hate-speech-detection-api .
#   docker run -d -p 8000:8000 hate-speech-detection-api:latest
#
# Settings are HATESPEECH_* environment variables (see README), e.g. -e HATESPEECH_API_KEYS=...

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

FROM ${PYTHON_IMAGE} AS trainer
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# The CPU build of torch comes from PyTorch's own index (PyPI's is the multi-GB CUDA build).
RUN pip install --no-cache-dir torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu
COPY requirements.txt pyproject.toml README.md ./
COPY src ./src
RUN pip install --no-cache-dir -r requirements.txt
# models/ and data/ come from the build context when present (see .dockerignore); otherwise the model is
# trained here and the dataset downloaded from its upstream repository (pinned commit).
COPY . .
RUN if [ ! -f models/current/manifest.json ]; then hatespeech train --out models/current; fi \
    && cp -rL models/current /model

# The serving environment: ONNX Runtime + FastAPI + the package + the model; no PyTorch.
FROM ${PYTHON_IMAGE} AS serve-base
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    VIRTUAL_ENV=/opt/venv PATH=/opt/venv/bin:$PATH
RUN python -m venv /opt/venv
COPY requirements-serve.txt /tmp/requirements-serve.txt
RUN pip install --no-cache-dir -r /tmp/requirements-serve.txt
COPY pyproject.toml README.md /tmp/package/
COPY src /tmp/package/src
RUN pip install --no-cache-dir --no-deps /tmp/package && rm -rf /tmp/package /tmp/requirements-serve.txt \
    && useradd --system --uid 10001 --no-create-home --shell /usr/sbin/nologin app
COPY --from=trainer /model /app/model
ENV HATESPEECH_MODEL_DIR=/app/model HATESPEECH_HOST=0.0.0.0 HATESPEECH_PORT=8000

# For Ray Serve / KubeRay (deploy/k8s/rayservice.yaml): docker build --target ray -t hate-speech-detection-api:ray .
FROM serve-base AS ray
COPY requirements.txt /tmp/requirements.txt
RUN grep -v '^-e' /tmp/requirements.txt > /tmp/constraints.txt \
    && pip install --no-cache-dir -c /tmp/constraints.txt 'ray[serve,data]==2.60.0' \
    && rm /tmp/requirements.txt /tmp/constraints.txt
USER 10001
EXPOSE 8000

# The default image (last stage): the single-process server.
FROM serve-base AS runtime
USER 10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('HATESPEECH_PORT', '8000') + '/health', timeout=4)"]
CMD ["hatespeech", "serve"]
