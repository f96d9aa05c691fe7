#!/usr/bin/env bash
# Backs up a simulated Seafile primary end to end, on this machine only:
#   1. generates a small primary (5 libraries with history, a virtual and an encrypted library),
#   2. serves Seafile's sync protocol over it on a loopback port,
#   3. backs every library up with full history into DIR/backup (a seafile-data tree),
#   4. checks the backup, makes three new commits on the primary and backs up the change.
# Usage: tests/demo.sh [DIR]     (default DIR: ./demo-data, replaced on each run)
set -euo pipefail
cd "$(dirname "$0")/.."
DIR=${1:-demo-data}
TOKEN=demo-sync-token-0123456789abcdef01234567

cargo build --locked --release --bins -q
BIN=target/release
rm -rf "$DIR"
mkdir -p "$DIR"

echo "== generating a simulated primary in $DIR/primary"
$BIN/seaf-primary-sim generate --out "$DIR/primary"

"$BIN/seaf-primary-sim" serve --data "$DIR/primary" --listen 127.0.0.1:0 --sync-token "$TOKEN" \
    > "$DIR/primary.out" 2> "$DIR/primary.log" &
SIM=$!
trap 'kill $SIM 2>/dev/null || true' EXIT
for _ in $(seq 100); do
    grep -q "listening on" "$DIR/primary.out" 2>/dev/null && break
    sleep 0.1
done
URL="http://$(awk '/listening on/ {print $NF}' "$DIR/primary.out")"
echo "== primary serving the sync protocol at $URL"

echo "== backing up every library into $DIR/backup"
$BIN/seaf-backup-fetcher once --primary "$URL" --sync-token "$TOKEN" --store "$DIR/backup"

echo "== checking the backup (every commit, fs object and block of the history)"
$BIN/seaf-backup-fetcher verify --store "$DIR/backup"

echo "== three new commits on the primary, then an incremental backup"
$BIN/seaf-primary-sim commit --data "$DIR/primary" --count 3 > /dev/null 2>> "$DIR/primary.log"
$BIN/seaf-backup-fetcher once --primary "$URL" --sync-token "$TOKEN" --store "$DIR/backup"

echo "== done: the backup is a seafile-data tree in $DIR/backup (storage/commits, storage/fs, storage/blocks)"
