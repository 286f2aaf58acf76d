# One image for every contactsync process (worker, beat, sandbox, flower); the command picks the role.
FROM python:3.11-slim
ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 CONTACTSYNC_DATA_DIR=/var/lib/contactsync
WORKDIR /app
COPY pyproject.toml README.md requirements.lock ./
COPY src ./src
RUN pip install --no-cache-dir -c requirements.lock ".[ops]" && useradd --system --home /var/lib/contactsync contactsync \
    && mkdir -p /var/lib/contactsync && chown contactsync /var/lib/contactsync
USER contactsync
ENTRYPOINT ["contactsync"]
CMD ["--help"]
