#!/usr/bin/env bash
# Runs deploy/nginx.conf and deploy/Caddyfile for real in front of `circle-archive serve`, on
# loopback ports with throwaway certificates, and checks what README promises about them:
# a signed delivery goes through TLS and is stored; /healthz and /metrics are not public;
# a body over 1 MiB is refused (by nginx itself with 413; behind Caddy the archiver refuses it, and
# Caddy answers 413 or, when the archiver closed the connection mid-upload, 502). Installs nginx and Caddy (Debian packages) if missing.
# Not part of CI (it needs the package mirrors); run it after changing either file.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v nginx >/dev/null || need+=(nginx-light)
command -v caddy >/dev/null || need+=(caddy)
command -v openssl >/dev/null || need+=(openssl)
command -v curl >/dev/null || need+=(curl)
if ((${#need[@]})); then
    apt-get update -q && apt-get install -y -q "${need[@]}"
fi

swift build --product circle-archive >&2
binary=.build/debug/circle-archive
work=$(mktemp -d)
pids=()
cleanup() { for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

archive_port=18680 nginx_port=18443 caddy_port=18444
secret=check-proxy-secret
CIRCLE_ARCHIVE_SECRETS=$secret "$binary" serve --db "$work/archive.sqlite" --port $archive_port 2>"$work/serve.log" &
pids+=($!)

# nginx: the file as shipped, with loopback ports and a self-signed certificate.
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost -addext subjectAltName=DNS:localhost \
    -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
sed -e "s|listen 443 ssl;|listen 127.0.0.1:$nginx_port ssl;|" -e '/listen \[::\]:443/d' \
    -e "s|server 127.0.0.1:8080;|server 127.0.0.1:$archive_port;|" \
    -e "s|/etc/letsencrypt/live/archive.example.com/fullchain.pem|$work/cert.pem|" \
    -e "s|/etc/letsencrypt/live/archive.example.com/privkey.pem|$work/key.pem|" \
    deploy/nginx.conf >"$work/site.conf"
cat >"$work/nginx.conf" <<CONF
daemon off;
pid $work/nginx.pid;
error_log $work/nginx-error.log;
events {}
http {
    access_log off;
    client_body_temp_path $work/body;
    proxy_temp_path $work/proxy;
    include $work/site.conf;
}
CONF
nginx -c "$work/nginx.conf" &
pids+=($!)

# Caddy: the file as shipped, on a loopback port, with its internal CA instead of Let's Encrypt.
sed -e "s|^archive.example.com {|https://localhost:$caddy_port {\n\ttls internal|" \
    -e "s|reverse_proxy 127.0.0.1:8080|reverse_proxy 127.0.0.1:$archive_port|" deploy/Caddyfile >"$work/Caddyfile"
printf '{\n\tadmin off\n\tskip_install_trust\n\tstorage file_system %s\n}\n' "$work/caddy" | cat - "$work/Caddyfile" >"$work/Caddyfile.full"
XDG_DATA_HOME=$work HOME=$work caddy run --config "$work/Caddyfile.full" --adapter caddyfile 2>"$work/caddy.log" &
pids+=($!)

for port in $archive_port $nginx_port $caddy_port; do
    for _ in $(seq 100); do (echo >/dev/tcp/127.0.0.1/$port) 2>/dev/null && break; sleep 0.1; done
done
sleep 0.5

failures=0
check() { # name expected actual
    if [[ "$2" == "$3" ]]; then echo "ok   $1" >&2; else echo "FAIL $1: expected $2, got $3" >&2; failures=$((failures + 1)); fi
}
status() { curl -sk -o /dev/null -w '%{http_code}' "$@"; }

for proxy in nginx caddy; do
    port=$([[ $proxy == nginx ]] && echo $nginx_port || echo $caddy_port)
    base=https://localhost:$port
    id=$(cat /proc/sys/kernel/random/uuid)
    body="{\"type\":\"ping\",\"id\":\"$id\",\"happened_at\":\"2024-03-05T10:15:02.123Z\",\"webhook\":{\"id\":\"w\",\"name\":\"archive\"}}"
    signature=$(printf '%s' "$body" | openssl dgst -sha256 -hmac "$secret" -r | cut -d' ' -f1)
    answer=$(curl -sk -X POST "$base/webhooks/circleci" -H "circleci-signature: v1=$signature" \
        -H 'circleci-event-type: ping' -H 'content-type: application/json' --data-binary "$body")
    check "$proxy: a signed delivery through TLS is stored" "{\"status\":\"stored\",\"id\":\"$id\"}" "$answer"
    check "$proxy: a forged delivery is 401" 401 "$(status -X POST "$base/webhooks/circleci" -H 'circleci-signature: v1=00' --data-binary "$body")"
    check "$proxy: /metrics is not public" 404 "$(status "$base/metrics")"
    check "$proxy: /healthz is not public" 404 "$(status "$base/healthz")"
    head -c $((1024 * 1024 + 1)) /dev/zero | tr '\0' ' ' >"$work/large"
    refused=$(status -X POST "$base/webhooks/circleci" --data-binary @"$work/large")
    # Caddy answers 502 instead when the archiver's 413 closes the connection mid-upload.
    [[ $proxy == caddy && $refused == 502 ]] && refused=413
    check "$proxy: a body over 1 MiB is refused" 413 "$refused"
    if [[ $proxy == nginx ]]; then
        check "nginx: it refused the large body itself" 0 "$(grep -c 'delivery too large' "$work/serve.log" || true)"
    fi
    stored=$("$binary" query --db "$work/archive.sqlite" --format csv "SELECT count(*) FROM events WHERE id = '$id'" | tail -1 | tr -d '\r')
    check "$proxy: the event is in the archive" 1 "$stored"
done
warnings=$(grep -c 'peer=127.0.0.1:[0-9]* .*delivery unauthorized' "$work/serve.log" || true)
check "archiver: both forgeries were logged with the proxy as peer" 2 "$warnings"

if ((failures)); then
    echo "$failures check(s) failed; logs in $work kept" >&2
    trap - EXIT
    for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
    exit 1
fi
echo "all proxy checks passed" >&2
