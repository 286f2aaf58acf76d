# syntax=docker/dockerfile:1
# One image for every contactsync process (serve, worker, beat, flower, migrations); the command picks the role.
#
# build:   a virtualenv with contactsync and its runtime dependencies, compiled where a wheel is missing.
# runtime: that virtualenv on a slim base, no compilers, no development packages (the embedded servers, test
#          tools), a non-root user with a numeric id (Kubernetes' runAsNonRoot checks it).

ARG PYTHON=python:3.11-slim-bookworm

FROM ${PYTHON} AS build
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
RUN apt-get update \
    && apt-get install -y --no-install-recommends build-essential libpq-dev \
    && rm -rf /var/lib/apt/lists/*
RUN python -m venv /opt/contactsync
ENV PATH=/opt/contactsync/bin:$PATH
WORKDIR /src
COPY pyproject.toml README.md LICENSE requirements*.lock ./
COPY src ./src
# Pinned through the lock file when there is one (every transitive version fixed), else the declared ranges.
RUN set -e; constraints=""; \
    if [ -f requirements.lock ]; then constraints="-c requirements.lock"; fi; \
    pip install $constraints .

FROM ${PYTHON} AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 \
    PATH=/opt/contactsync/bin:$PATH \
    CONTACTSYNC_DATA_DIR=/var/lib/contactsync \
    CONTACTSYNC_LOG_FORMAT=json
RUN groupadd --system --gid 10001 contactsync \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/contactsync --no-create-home contactsync \
    && mkdir -p /var/lib/contactsync && chown 10001:10001 /var/lib/contactsync
COPY --from=build /opt/contactsync /opt/contactsync
WORKDIR /var/lib/contactsync
USER 10001:10001
EXPOSE 8080 5555 9100
ENTRYPOINT ["contactsync"]
CMD ["--help"]
