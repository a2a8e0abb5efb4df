# The gridmap API image (used by docker-compose.yml). Everything it needs is in the repository: the code, the
# real input data (data/) and, fetched at build time, the maps' JS/CSS (so the pages answer with no internet).
# tests/scripts/test_compose.py checks that every command here and in docker-compose.yml exists with its options.
FROM python:3.11-slim
RUN apt-get update && apt-get install -y --no-install-recommends npm && rm -rf /var/lib/apt/lists/*
WORKDIR /app
COPY pyproject.toml README.md ./
COPY gis gis
COPY api api
COPY layers layers
COPY maps maps
COPY usecases usecases
COPY scripts scripts
COPY data data
ENV GRIDMAP_DATA_DIR=/app/data \
    GRIDMAP_MAP_VENDOR_DIR=/app/var/vendor
RUN pip install --no-cache-dir .
# the maps' pinned JS/CSS from the npm registry into /app/var/vendor; a failure stops the build (no 503 maps)
RUN gridmap assets install
# compile the numba kernels of the installed package into its cache now, not on the first request
RUN cd /tmp && python -m gis.jit_warmup
EXPOSE 8000
CMD ["gridmap", "serve", "--host", "0.0.0.0", "--port", "8000", "--workers", "2", "--timeout-keep-alive", "75"]
