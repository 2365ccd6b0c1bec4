# paperfeed: slim, non-root, migrates then runs the daemon (scheduler + web) on port 8000.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 \
    PAPERFEED_VAR_DIR=/var/lib/paperfeed

RUN useradd --system --create-home --home-dir /home/paperfeed paperfeed \
 && mkdir -p /var/lib/paperfeed && chown paperfeed:paperfeed /var/lib/paperfeed

WORKDIR /app
COPY pyproject.toml README.md ./
COPY paperfeed ./paperfeed
RUN pip install .

USER paperfeed
VOLUME ["/var/lib/paperfeed"]
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD python -c "import urllib.request,sys; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4).status != 200)"
CMD ["sh", "-c", "paperfeed db upgrade && exec paperfeed run --host 0.0.0.0 --port 8000"]
