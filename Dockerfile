# Personalization gRPC server.
#
#   docker build -t personalization .
#   docker run -p 50051:50051 \
#     -v "$PWD/models:/app/models:ro" -v "$PWD/feature_repo:/app/feature_repo" \
#     personalization
#
# Models and the Feast feature repository are NOT baked into the image: mount them
# at /app/models (read-only is fine) and /app/feature_repo (its feature_store.yaml
# says where the registry and online store live). Configure with PERSONALIZATION_*
# variables (see server/settings.py), e.g. -e PERSONALIZATION_ONLINE_STORE=redis.

# ---- builder: a virtualenv holding the package and its dependencies -------------
FROM python:3.11-slim AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
# Only the service's packages: training/, loadgen/ and bench/ stay out of the image
# (packages.find includes what exists; their extras, [train] and [bench], are not installed).
COPY pyproject.toml README.md ./
COPY modelio ./modelio
COPY personalization ./personalization
COPY server ./server
RUN pip install --no-cache-dir .

# ---- runtime: the venv only, no compilers or sources, non-root --------------------
FROM python:3.11-slim AS runtime

RUN useradd --no-log-init --system --uid 10001 --user-group --create-home app \
    && mkdir -p /app/models /app/feature_repo \
    && chown app:app /app/models /app/feature_repo

COPY --from=builder /opt/venv /opt/venv

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PERSONALIZATION_HOST="[::]" \
    PERSONALIZATION_PORT=50051 \
    PERSONALIZATION_MODELS_DIR=/app/models \
    PERSONALIZATION_FEATURE_REPO=/app/feature_repo

WORKDIR /app
# Mount points for the trained models and the Feast repo (see the top of this file).
VOLUME ["/app/models", "/app/feature_repo"]
USER 10001:10001
# gRPC, and Prometheus /metrics once PERSONALIZATION_METRICS_PORT=9464 (with
# PERSONALIZATION_METRICS_HOST=0.0.0.0) turns it on, as deploy/k8s does.
EXPOSE 50051 9464

# Healthy only once the gRPC health service says SERVING (models loaded, store up).
HEALTHCHECK --interval=10s --timeout=5s --start-period=60s --retries=3 \
    CMD ["python", "-m", "server.healthcheck"]

# SIGTERM (docker stop) drains in-flight RPCs for PERSONALIZATION_GRACE_PERIOD_S;
# keep docker's --stop-timeout above it.
ENTRYPOINT ["python", "-m", "server"]
