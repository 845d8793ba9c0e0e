# syntax=docker/dockerfile:1
#
# webhook-health-exporter: multi-stage build -> small Debian runtime, non-root.
#   docker build -t webhook-health-exporter:local .
#   docker run --rm -e WHE_DATABASE_URL=postgres://... -p 9877:9877 webhook-health-exporter:local
# The same image runs `serve` (default), `migrate` and `simulate` (see docker-compose.yml).

# Must be >= the crate's rust-version and the newest MSRV in Cargo.lock.
ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS builder
# The source revision for webhook_exporter_build_info (.git is not in the build context):
#   docker build --build-arg WHE_REVISION=$(git rev-parse --short=12 HEAD) .
ARG WHE_REVISION=unknown
WORKDIR /src
# sqlx's compile-time checked queries (if any) use the committed .sqlx/ data, never a live DB.
ENV SQLX_OFFLINE=true \
    CARGO_TERM_COLOR=never
COPY . .
# BuildKit cache mounts keep the registry and target dir between builds; the binary is copied out
# of the cached target dir because cache mounts are not part of the image.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/usr/local/cargo/git \
    --mount=type=cache,target=/src/target \
    cargo build --profile dist --locked --bin webhook-health-exporter \
 && install -D -m 0755 target/dist/webhook-health-exporter /out/webhook-health-exporter

FROM debian:${DEBIAN_RELEASE}-slim AS runtime
# ca-certificates: TLS to a hosted log store (e.g. Supabase) and to probed endpoints.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates tzdata \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 whe \
 && useradd --system --uid 10001 --gid whe --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin whe
COPY --from=builder /out/webhook-health-exporter /usr/local/bin/webhook-health-exporter
USER 10001:10001
EXPOSE 9877
ENTRYPOINT ["/usr/local/bin/webhook-health-exporter"]
CMD ["serve", "--web.listen-address", "0.0.0.0:9877"]
