# syntax=docker/dockerfile:1
# Images for backupctl. Build with `docker compose build`; see README, "Production migrator".

ARG BUN_VERSION=1.4.4

# Dependencies, exactly as locked. Install scripts are skipped: the embedded PostgreSQL binaries
# are for development and tests, never for an image.
FROM oven/bun:${BUN_VERSION}-debian AS deps
WORKDIR /src
COPY package.json bun.lock ./
RUN bun install --frozen-lockfile --ignore-scripts

# Compiles the self-contained binaries (entity and migrations inside); the build fails when the
# result does not run.
FROM deps AS builder
ARG GIT_REVISION=unknown
COPY tsconfig.json bunfig.toml ./
COPY scripts ./scripts
COPY src ./src
COPY migrations ./migrations
RUN BUILD_REVISION="${GIT_REVISION}" bun run build

# The migrator: the binary and nothing else on a glibc base, as a non-root user. A short-lived
# container: `docker compose --profile migrate run --rm migrator [run|show|revert|resolve|wait|version]`.
FROM gcr.io/distroless/cc-debian12:nonroot AS migrator
COPY --from=builder /src/dist/migrator /migrator
USER nonroot
ENTRYPOINT ["/migrator"]
CMD ["run"]

# The backupctl app. Not distroless: backups are shell commands (`sh -c`) running the users'
# tools, so it carries a shell, pg_dump 16 from PostgreSQL's own Debian repository (the audit
# database's and the field's major version) plus gzip, tar and curl (for hooks that notify). No Bun, node, npm or npx: the
# app is the compiled binary.
FROM debian:bookworm-slim AS runtime
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates curl gnupg gzip tar \
 && install -d /usr/share/postgresql-common/pgdg \
 && curl -fsSL -o /usr/share/postgresql-common/pgdg/apt.postgresql.org.asc https://www.postgresql.org/media/keys/ACCC4CF8.asc \
 && echo "deb [signed-by=/usr/share/postgresql-common/pgdg/apt.postgresql.org.asc] https://apt.postgresql.org/pub/repos/apt bookworm-pgdg main" > /etc/apt/sources.list.d/pgdg.list \
 && apt-get update \
 && apt-get install -y --no-install-recommends postgresql-client-16 \
 && apt-get purge -y --auto-remove gnupg \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --create-home --home-dir /app backupctl \
 && install -d -o backupctl -g backupctl /app/data /app/backups
COPY --from=builder /src/dist/backupctl /usr/local/bin/backupctl
WORKDIR /app
USER backupctl
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/backupctl"]
CMD ["serve", "--port", "8080"]
