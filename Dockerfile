# syntax=docker/dockerfile:1
# The broker's image: three stages on Node 24 LTS (supported until April 2028; Node 22 ends in
# April 2027, Node 20 ended in April 2026). The code stays compatible with Node >= 20.19
# (package.json "engines"), which CI still runs.
#   build                    compiles src/ to dist/ with the dev dependencies (typescript)
#   production-dependencies  node_modules from package-lock.json without any devDependency
#   (final)                  dist/ + those node_modules + package.json, nothing else, as uid 10001
# The build context is what .dockerignore lets in: package*.json, tsconfig*.json and src/ only.

FROM node:24-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json ./
# No install scripts: compiling with tsc needs none (pkcs11js's native addon is built below).
RUN npm ci --ignore-scripts --no-audit --no-fund
COPY tsconfig.json tsconfig.build.json ./
COPY src ./src
# The CLI runs as `broker …` (a symlink on PATH below): its shebang needs the executable bit.
RUN npx tsc -p tsconfig.build.json && chmod 0755 dist/cli/broker.js

FROM node:24-bookworm-slim AS production-dependencies
WORKDIR /app
COPY package.json package-lock.json ./
# No install scripts, but one named: pkcs11js (graphene-pk11's binding, BROKER_SIGNING_KEYS=pkcs11)
# is a native addon, built here with a toolchain only this stage has; none other may run unseen.
RUN apt-get update && apt-get install -y --no-install-recommends python3 make g++ && rm -rf /var/lib/apt/lists/*
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund
RUN npm rebuild pkcs11js

FROM node:24-bookworm-slim
ARG VERSION=0.1.0
ARG REVISION=unknown
ARG CREATED=unknown
LABEL org.opencontainers.image.title="credential-broker" \
      org.opencontainers.image.description="Short-lived credential broker: OAuth 2.0 token exchange (RFC 8693) for workloads" \
      org.opencontainers.image.licenses="Apache-2.0" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.created="${CREATED}" \
      org.opencontainers.image.base.name="docker.io/library/node:24-bookworm-slim"
ENV NODE_ENV=production \
    BROKER_HOST=0.0.0.0 \
    BROKER_PORT=8080 \
    BROKER_POLICY_DIR=/app/policies \
    BROKER_KEYS_DIR=/app/keys
WORKDIR /app
# Package managers are not needed to run the broker: one less thing in the image to patch.
RUN rm -rf /usr/local/lib/node_modules/npm /usr/local/lib/node_modules/corepack \
      /usr/local/bin/npm /usr/local/bin/npx /usr/local/bin/corepack /opt/yarn-* /usr/local/bin/yarn /usr/local/bin/yarnpkg \
 && ln -s /app/dist/cli/broker.js /usr/local/bin/broker \
 && mkdir -p /app/policies /app/keys \
 && chown 10001:10001 /app/keys \
 && chmod 0700 /app/keys
# Owned by root and read-only to the broker's user: the process cannot change its own code.
COPY package.json ./
COPY --from=production-dependencies /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
# A numeric user, so Kubernetes' runAsNonRoot can verify it; 10001 overlaps no host account.
# /app/keys (0700, this user's) is what a fresh named volume mounted there copies: the compose
# init service writes the keys into it without any chown by hand.
USER 10001:10001
EXPOSE 8080
# Liveness (/healthz: the process answers), not readiness: a Redis outage makes every replica not
# ready at once, and replacing them all would not bring Redis back. The load balancer checks /readyz.
HEALTHCHECK --interval=15s --timeout=3s --start-period=10s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:' + (process.env.BROKER_PORT || 8080) + '/healthz').then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# A young generation of 2 x 8 MB instead of V8's 2 x 16 MB: ~15 MB less RSS under load for ~2 %
# CPU. No Maglev (V8's mid-tier compiler, on by default since Node 22, absent from Node 20): on
# Node 24 it kept ~20 MB more RSS (a 60 s soak at 160 MB); without it 0-1.5 % more CPU, paired
# (bench/README.md). No allocation-site pretenuring: V8 otherwise starts allocating objects of a
# per-request literal directly in the old generation once they survive a few scavenges under load,
# and each of them, dead, keeps the young objects it pointed to (finished requests) alive until the
# next mark-compact: on Node 24 a process entered that state at random, 8-13 % more CPU and a
# mark-compact a second for its life; without it never, at the same CPU (bench/README.md, tenth
# round). Set here because V8 cannot change these once running; package.json's start:prod and the
# bench use the same flags (test/deploy/dockerfile.test.ts).
CMD ["node", "--max-semi-space-size=8", "--no-maglev", "--no-allocation-site-pretenuring", "dist/main.js"]
