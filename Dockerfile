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
# container: `docker compose --profile migrate run --rm migrator [run|show|revert|wait|version]`.
FROM gcr.io/distroless/cc-debian12:nonroot AS migrator
COPY --from=builder /src/dist/migrator /migrator
USER nonroot
ENTRYPOINT ["/migrator"]
CMD ["run"]
