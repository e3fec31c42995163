# syntax=docker/dockerfile:1.7
# Atelier's images: one Dockerfile, one target per service.
#
#   REGISTRY=registry.example.com     # yours; `localhost` for a local cluster (kind load)
#   docker build --target orchestrator   -t $REGISTRY/atelier/orchestrator:0.1.0 .
#   docker build --target research-agent -t $REGISTRY/atelier/research-agent:0.1.0 .
#   docker build --target writer-agent   -t $REGISTRY/atelier/writer-agent:0.1.0 .
#   docker build --target llm-simulator  -t $REGISTRY/atelier/llm-simulator:0.1.0 .
#
# These are the names the Helm chart runs: <image.registry>/<image.repository>/<service>:
# <appVersion>. image.registry has no default (the chart refuses to fall back to Docker
# Hub, where docker.io/atelier is not the Atelier project's namespace).
# Every runtime image runs `node dist/apps/<app>/src/main.js` as the numeric non-root
# user 10001 and writes nothing outside /tmp, so the chart mounts the root filesystem
# read-only with an emptyDir at /tmp. The orchestrator image is also the operations
# image: `prisma migrate deploy` (the chart's migration Job) and the `atelier` CLI.
# Built for linux/amd64 (the Prisma schema engine target below is x86-64).

ARG NODE_IMAGE=node:22-bookworm-slim

# ---------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS build
WORKDIR /src

# Dependencies first, so a source change does not reinstall them. `prisma generate`
# needs the schema and its config; the tools run it and the build.
COPY package.json package-lock.json prisma.config.ts ./
COPY prisma/ prisma/
COPY tools/ tools/

# `npm ci`: exactly the committed lock, which lists every platform's optional native
# builds. --ignore-scripts: dependency install scripts are not needed (node-gyp would
# need a compiler); the one script we need, `prisma generate` (the root postinstall),
# runs explicitly.
RUN npm ci --ignore-scripts --no-audit --no-fund \
 && node tools/prisma-generate.mjs

# The build is the Nx `build` target (project.json at the root: tools/build.mjs, one swc
# pass over every app and lib), run as in CI: no daemon, no Nx Cloud, no local cache
# (Docker's layer cache does that job).
COPY nx.json project.json tsconfig.base.json .swcrc.json ./
COPY libs/ libs/
COPY apps/ apps/
COPY deploy/src/ deploy/src/
ENV NX_DAEMON=false \
    NX_NO_CLOUD=true
RUN npx nx run-many -t build --skip-nx-cache --outputStyle=static \
 && npm prune --omit=dev --ignore-scripts --no-audit --no-fund \
 && rm -rf node_modules/.cache .nx

# ---------------------------------------------------------------------------------------
# `prisma migrate deploy` needs Prisma's native schema engine, which @prisma/engines
# downloads in an install script (skipped above). Fetch it here for the runtime's
# platform (Debian, OpenSSL 3) and prove it runs.
FROM build AS schema-engine
ARG PRISMA_ENGINE_TARGET=debian-openssl-3.0.x
RUN apt-get update \
 && apt-get install -y --no-install-recommends openssl ca-certificates \
 && rm -rf /var/lib/apt/lists/*
RUN PRISMA_CLI_BINARY_TARGETS=${PRISMA_ENGINE_TARGET} node node_modules/@prisma/engines/scripts/postinstall.js \
 && mkdir -p /out \
 && cp node_modules/@prisma/engines/schema-engine-${PRISMA_ENGINE_TARGET} /out/schema-engine \
 && chmod 0555 /out/schema-engine \
 && /out/schema-engine --version

# ---------------------------------------------------------------------------------------
FROM ${NODE_IMAGE} AS runtime
# A numeric USER lets the kubelet verify runAsNonRoot; it matches the chart's runAsUser.
RUN groupadd --system --gid 10001 atelier \
 && useradd --system --uid 10001 --gid 10001 --home-dir /tmp --no-create-home --shell /usr/sbin/nologin atelier
WORKDIR /app
# HOME and every cache point at /tmp, the only writable path.
ENV NODE_ENV=production \
    HOME=/tmp \
    TMPDIR=/tmp \
    NPM_CONFIG_CACHE=/tmp/.npm \
    NPM_CONFIG_UPDATE_NOTIFIER=false
# Code and dependencies stay owned by root: the service cannot modify them.
COPY --from=build /src/package.json ./
COPY --from=build /src/node_modules/ node_modules/
COPY --from=build /src/dist/libs/ dist/libs/
USER 10001:10001

# ---------------------------------------------------------------------------------------
FROM runtime AS research-agent
COPY --from=build /src/dist/apps/research-agent/ dist/apps/research-agent/
ENV PORT=8081
EXPOSE 8081
CMD ["node", "dist/apps/research-agent/src/main.js"]

# ---------------------------------------------------------------------------------------
FROM runtime AS writer-agent
COPY --from=build /src/dist/apps/writer-agent/ dist/apps/writer-agent/
ENV PORT=8082
EXPOSE 8082
CMD ["node", "dist/apps/writer-agent/src/main.js"]

# ---------------------------------------------------------------------------------------
# Demo clusters only (the chart's simulator.enabled): replies are simulated.
FROM runtime AS llm-simulator
COPY --from=build /src/dist/apps/llm-simulator/ dist/apps/llm-simulator/
ENV PORT=8090 \
    HOST=0.0.0.0
EXPOSE 8090
CMD ["node", "dist/apps/llm-simulator/src/main.js"]

# ---------------------------------------------------------------------------------------
# Last, so a plain `docker build .` builds the orchestrator.
FROM runtime AS orchestrator
USER root
# libssl for Prisma's schema engine (migrations).
RUN apt-get update \
 && apt-get install -y --no-install-recommends openssl ca-certificates \
 && rm -rf /var/lib/apt/lists/*
COPY --from=build /src/dist/apps/orchestrator/ dist/apps/orchestrator/
# Operations: migrations (`prisma migrate deploy`, or the offline runner
# dist/libs/persistence/src/migrate-cli.js) and the `atelier` CLI.
COPY --from=build /src/prisma/ prisma/
COPY --from=build /src/prisma.config.ts ./
COPY --from=schema-engine /out/schema-engine /opt/prisma/schema-engine
COPY --from=build /src/dist/apps/cli/ dist/apps/cli/
COPY --chmod=0755 <<'EOF' /usr/local/bin/atelier
#!/bin/sh
exec node /app/dist/apps/cli/src/main.js "$@"
EOF
# The engine is in the image (no download at run time); Prisma's update check and
# jiti's transpile cache (prisma.config.ts) stay off a read-only filesystem.
ENV PATH=/app/node_modules/.bin:$PATH \
    PRISMA_SCHEMA_ENGINE_BINARY=/opt/prisma/schema-engine \
    CHECKPOINT_DISABLE=1 \
    PRISMA_HIDE_UPDATE_MESSAGE=1 \
    JITI_FS_CACHE=false \
    PORT=8080
USER 10001:10001
EXPOSE 8080
CMD ["node", "dist/apps/orchestrator/src/main.js"]
