# router-ext server image: docker build -t router-ext . && docker run -p 4000:4000 -p 4317:4317 \
#   -v router-ext:/var/lib/router-ext -e ROUTER_EXT_TOKEN=change-me router-ext
# Settings are environment variables (docs/configuration.md); docs/operations.md has more.
FROM python:3.11-slim AS build
WORKDIR /src
COPY pyproject.toml README.md ./
COPY router_ext ./router_ext
COPY router_ext_client ./router_ext_client
COPY harness ./harness
COPY hooks ./hooks
# A wheel carries the dashboard inside the package (router_ext/web/static/dashboard).
COPY dashboard ./router_ext/web/static/dashboard
RUN pip wheel --no-cache-dir --wheel-dir /wheels ".[postgres]"

FROM python:3.11-slim
RUN useradd --system --uid 10001 --user-group --home-dir /var/lib/router-ext --create-home \
        router-ext
COPY --from=build /wheels /wheels
RUN pip install --no-cache-dir /wheels/*.whl && rm -rf /wheels
USER router-ext
WORKDIR /var/lib/router-ext
# Inside a container the server listens on every interface; set ROUTER_EXT_TOKEN.
ENV DATABASE_URL=sqlite:////var/lib/router-ext/router-ext.db \
    ROUTER_EXT_HOST=0.0.0.0 \
    ROUTER_EXT_LOG_FORMAT=json \
    PYTHONUNBUFFERED=1
VOLUME ["/var/lib/router-ext"]
EXPOSE 4000 4317
# SIGTERM drains the writer and ends streams, then the process exits 0.
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:4000/health', timeout=4)"]
ENTRYPOINT ["router-ext"]
CMD ["serve"]
