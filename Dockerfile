# The seaf-backup image: seaf-backup-coordinator, seaf-backup-gateway, seaf-backup-fetcher and the
# seaf-backup CLI in /usr/local/bin, running as the non-root user seaf-backup (UID/GID 10001).
# The Helm chart in helm/seaf-backup starts each component from it with --config FILE.
#
#   docker build -t seaf-backup:0.1.0 .

FROM rust:1-bookworm AS builder
# protoc: the gRPC wire types are generated from proto/ at build time.
RUN apt-get update \
    && apt-get install -y --no-install-recommends protobuf-compiler \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN cargo build --release --locked --bins \
        -p seaf-backup-coordinator -p seaf-backup-gateway -p seaf-backup-fetcher -p seaf-backup-cli \
    && mkdir /out \
    && cp target/release/seaf-backup-coordinator target/release/seaf-backup-gateway \
          target/release/seaf-backup-fetcher target/release/seaf-backup /out/

FROM debian:bookworm-slim
# ca-certificates: for an https primary.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 seaf-backup \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/seaf-backup --no-create-home \
        --shell /usr/sbin/nologin seaf-backup \
    && mkdir -p /etc/seaf-backup /var/lib/seaf-backup/seafile-data \
    && chown -R 10001:10001 /var/lib/seaf-backup
COPY --from=builder /out/ /usr/local/bin/
COPY seaf-backup.example.toml /etc/seaf-backup/seaf-backup.example.toml
USER 10001:10001
WORKDIR /var/lib/seaf-backup
# 7070: the coordinator's gRPC; 8083: the gateway's HTTP.
EXPOSE 7070 8083
CMD ["seaf-backup", "--help"]
