# driftwatch: one image, the collector by default, the agent with the host's root at /host.
# See README: "Run in a container". Build: docker build -t driftwatch .

# 1. Build: compile, pack the package as `npm publish` would, and install that tarball the way a
#    user installs it (globally, production dependencies only, native addons built here).
FROM node:20-bookworm-slim AS build
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 make g++ \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY package.json package-lock.json .npmrc tsconfig.json tsconfig.build.json binding.gyp ./
COPY bin ./bin
COPY src ./src
COPY config ./config
# npm ci builds the native addon (install) and the TypeScript (prepare).
RUN npm ci --no-audit --no-fund
RUN mkdir /pkg && npm pack --ignore-scripts --pack-destination /pkg \
 && npm install --global --prefix /opt/driftwatch --omit=dev --no-audit --no-fund /pkg/driftwatch-*.tgz

# 2. Run: the installed package only, as an unprivileged user.
FROM node:20-bookworm-slim
COPY --from=build /opt/driftwatch /opt/driftwatch
ENV PATH=/opt/driftwatch/bin:$PATH NODE_ENV=production
RUN useradd --system --uid 10001 --home-dir /var/lib/driftwatch --create-home --shell /usr/sbin/nologin driftwatch \
 && install -d -m 0755 /etc/driftwatch \
 && cp /opt/driftwatch/lib/node_modules/driftwatch/config/*.yaml /etc/driftwatch/ \
 && sed -i 's/^listen: 127.0.0.1:8080$/listen: 0.0.0.0:8080/' /etc/driftwatch/collector.yaml
USER driftwatch
WORKDIR /var/lib/driftwatch
VOLUME /var/lib/driftwatch
EXPOSE 8080
# The collector's liveness; the agent has no port (run it with --no-healthcheck).
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:8080/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
ENTRYPOINT ["driftwatch"]
CMD ["collector", "--config", "/etc/driftwatch/collector.yaml"]
