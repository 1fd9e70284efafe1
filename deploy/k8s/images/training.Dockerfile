# Image of the batch Jobs in deploy/k8s (Feast apply/materialize, training, the log
# drain): the training package with its [train] extra and the Feast declarations.
# Build from the repository root:
#   docker build -f deploy/k8s/images/training.Dockerfile -t personalization-training .
# The server image (../../../Dockerfile) holds neither training code nor its libraries.
FROM python:3.11-slim AS builder

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN python -m venv /opt/venv
ENV PATH=/opt/venv/bin:$PATH

WORKDIR /src
COPY pyproject.toml README.md ./
COPY modelio ./modelio
COPY personalization ./personalization
COPY training ./training
# The project's own package with its extra; the versions are pinned in pyproject.toml.
# hadolint ignore=DL3013
RUN pip install --no-cache-dir ".[train]"

FROM python:3.11-slim AS runtime

RUN useradd --no-log-init --system --uid 10001 --user-group --create-home app

COPY --from=builder /opt/venv /opt/venv
# Declarations only, not a local data/ folder: the Jobs copy them into the shared
# feature-repo volume before each run.
COPY --chown=app:app feature_repo/*.py feature_repo/feature_store.yaml /opt/feature_repo/
COPY --chown=app:app feature_repo/stores /opt/feature_repo/stores

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    FEAST_USAGE=False

WORKDIR /app
USER 10001:10001
ENTRYPOINT ["python", "-m", "training"]
