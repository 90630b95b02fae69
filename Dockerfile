# The gateway: `gateway serve` (gunicorn with gevent workers) on port 8080, its SQLite
# database on the volume /data.
#   docker build -t ai-gateway .
#   docker run -p 127.0.0.1:8080:8080 -v gateway-data:/data \
#     -e GATEWAY_MASTER_KEY=<a long random string> ai-gateway
# docker-compose.yml runs it beside n8n. Not built where it was written (no Docker
# there); tests/test_packaging.py checks it without Docker.

FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
	PYTHONUNBUFFERED=1 \
	PIP_NO_CACHE_DIR=1 \
	PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# The pinned dependencies first: a change to the service reuses this layer.
COPY requirements.txt ./
RUN pip install -r requirements.txt

COPY service/ ./service/
# The token counter's encodings are unpacked into the Python prefix at start unless
# they are there already; the unprivileged user cannot write there, so do it now.
RUN pip install --no-deps ./service \
	&& python -c "from gateway.accounting.tokens import default_cache_dir, install_encodings; install_encodings(default_cache_dir())" \
	&& useradd --system --user-group --uid 10001 --home-dir /data --no-create-home gateway \
	&& mkdir /data \
	&& chown gateway:gateway /data

# A named volume mounted on /data starts with the ownership it has here.
USER gateway
ENV GATEWAY_HOST=0.0.0.0 \
	PORT=8080 \
	GATEWAY_DATABASE=/data/gateway.db
VOLUME /data
EXPOSE 8080

HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
	CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('PORT', '8080'), timeout=2)"

CMD ["gateway", "serve"]
