# The gridmap API image (used by docker-compose.yml).
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
ENV GRIDMAP_DATA_DIR=/app/data
RUN pip install --no-cache-dir . && (gridmap assets install || true)
# compile the numba kernels of the installed package into its cache now, not on the first request
RUN cd /tmp && python -m gis.jit_warmup
EXPOSE 8000
CMD ["gridmap", "serve", "--host", "0.0.0.0", "--port", "8000"]
