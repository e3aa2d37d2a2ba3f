# One image for both AIOS processes:
#   web:    aios serve --host 0.0.0.0          (the default command)
#   worker: aios worker                        (override the command)
# Build: docker build -t aios .   Config comes from the environment (see README), never the image.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    AIOS_DATA_DIR=/var/lib/aios

# git: agents clone, commit and push in per-job workspaces. bubblewrap: every command an
# agent runs is confined by it (the worker needs user namespaces; see docker-compose.yml),
# and where it cannot be, AIOS refuses the command (fail closed) unless the operator sets
# AIOS_SANDBOX=unisolated. util-linux: `prlimit` sets each command's limits and `setpriv`
# drops root when AIOS runs as root (Debian always has it; named so nothing slims it away).
# python3-minimal: the egress relay inside the sandbox runs the system's /usr/bin/python3
# (bot/agents/egress.py), a Debian interpreter that does not depend on this image's own
# Python in /usr/local.
RUN apt-get update \
    && apt-get install -y --no-install-recommends git bubblewrap util-linux python3-minimal \
    && rm -rf /var/lib/apt/lists/*

RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin aios \
    && install -d -o aios -g aios /var/lib/aios

WORKDIR /app
# bot/github-app-manifest.yml links to ../github-app-manifest.yml: copy both, the wheel
# build follows the link.
COPY pyproject.toml README.md github-app-manifest.yml ./
COPY bot/ bot/
RUN pip install --no-cache-dir . \
    && rm -rf build ./*.egg-info

USER aios
EXPOSE 8080

# slim has no curl; the worker overrides or disables this check (it serves no HTTP).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8080'), timeout=4)"]

CMD ["aios", "serve", "--host", "0.0.0.0"]
