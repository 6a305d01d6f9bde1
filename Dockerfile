# Aerogram: one image for every service; AEROGRAM_SERVICES picks which run
# (smtp-in, imap, pop3, admin, or all). TypeScript runs through tsx, as in
# development, so the image is the source tree plus production-ready modules.
#   docker build -t aerogram .
#   docker run -p 8080:8080 -p 2525:2525 -p 1143:1143 -p 1110:1110 aerogram
FROM node:20-slim

ENV NODE_ENV=production \
    BIND_ADDRESS=0.0.0.0 \
    DATA_DIR=/app/data \
    npm_config_update_notifier=false

WORKDIR /app

# Dependencies first (cached while only sources change). The workspaces'
# package.json files are needed for npm ci to link them.
COPY package.json package-lock.json ./
COPY libs ./libs
COPY services ./services
COPY test/package.json ./test/package.json
# tsx is a devDependency but runs the services, so install everything;
# --ignore-scripts: nothing here needs an install step.
RUN npm ci --include=dev --no-audit --no-fund --ignore-scripts \
    && npm cache clean --force

COPY tsconfig.json tsconfig.base.json ./

# A non-root user owning only the data directory (embedded database and blobs
# for single-node use; a volume in production).
RUN groupadd --system --gid 10001 aerogram \
    && useradd --system --uid 10001 --gid aerogram --home-dir /app --no-create-home aerogram \
    && mkdir -p /app/data \
    && chown aerogram:aerogram /app/data
USER 10001:10001

# SMTP, IMAP, POP3 and HTTP (/healthz /readyz /metrics, admin API). Unprivileged
# ports; the Kubernetes Service maps 25/143/110 (and 465/993/995) onto them.
EXPOSE 2525 1143 1110 8080
VOLUME ["/app/data"]

# = npm start, without npm in between (signals reach node directly, so SIGTERM drains).
CMD ["node", "--import", "tsx", "services/aerogram/src/main.ts"]
