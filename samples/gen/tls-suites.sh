#!/usr/bin/env bash
# Records one small TLS session per cipher suite on loopback, with its key log, for the
# decryption tests (tests/it/tls_keys.rs): openssl s_server -www answers curl (or s_client)
# over TLS 1.2 and 1.3, tcpdump captures, the peers write SSLKEYLOGFILE / -keylogfile.
#
#   sudo samples/gen/tls-suites.sh            # writes samples/tls-suites/<name>.pcap + .keys
#
# Needs root (tcpdump on lo), openssl, curl, tcpdump, editcap (for the pcapng with an
# injected Decryption Secrets Block). The certificate is a throwaway self-signed one made
# here; the key logs hold only these test sessions' secrets.
set -euo pipefail
cd "$(dirname "$0")/../tls-suites"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj /CN=localhost \
    -keyout "$work/key.pem" -out "$work/cert.pem" 2>/dev/null
port=18443

# name | server flags | client: "curl <flags>" or "s_client <flags>"
cases=(
    "tls13-aes128gcm|-tls1_3 -ciphersuites TLS_AES_128_GCM_SHA256|curl --tlsv1.3"
    "tls13-aes256gcm|-tls1_3 -ciphersuites TLS_AES_256_GCM_SHA384|curl --tlsv1.3"
    "tls13-chacha20|-tls1_3 -ciphersuites TLS_CHACHA20_POLY1305_SHA256|curl --tlsv1.3"
    "tls13-keyupdate|-tls1_3 -ciphersuites TLS_AES_128_GCM_SHA256|s_client -tls1_3"
    "tls12-ecdhe-aes128gcm|-tls1_2 -cipher ECDHE-RSA-AES128-GCM-SHA256|curl --tlsv1.2 --tls-max 1.2"
    "tls12-ecdhe-aes256gcm|-tls1_2 -cipher ECDHE-RSA-AES256-GCM-SHA384|curl --tlsv1.2 --tls-max 1.2"
    "tls12-ecdhe-chacha20|-tls1_2 -cipher ECDHE-RSA-CHACHA20-POLY1305|curl --tlsv1.2 --tls-max 1.2"
    "tls12-rsa-aes128gcm|-tls1_2 -cipher AES128-GCM-SHA256|curl --tlsv1.2 --tls-max 1.2"
    "tls12-ecdhe-aes128cbc-sha-etm|-tls1_2 -cipher ECDHE-RSA-AES128-SHA|curl --tlsv1.2 --tls-max 1.2"
    "tls12-ecdhe-aes128cbc-sha-noetm|-tls1_2 -no_etm -cipher ECDHE-RSA-AES128-SHA|curl --tlsv1.2 --tls-max 1.2"
    "tls12-rsa-aes256cbc-sha256-noetm|-tls1_2 -no_etm -cipher AES256-SHA256|curl --tlsv1.2 --tls-max 1.2"
    "tls12-ecdhe-aes256cbc-sha384-etm|-tls1_2 -cipher ECDHE-RSA-AES256-SHA384|curl --tlsv1.2 --tls-max 1.2"
)
for case in "${cases[@]}"; do
    IFS='|' read -r name server client <<<"$case"
    port=$((port + 1))
    rm -f "$name.pcap" "$name.keys"
    tcpdump -i lo -U -Z root -w "$work/$name.pcap" "tcp port $port" 2>"$work/tcpdump.err" &
    dump=$!
    # Start the peers only once tcpdump is listening.
    for _ in $(seq 50); do grep -q listening "$work/tcpdump.err" && break; sleep 0.1; done
    # shellcheck disable=SC2086
    openssl s_server -quiet -accept "$port" -cert "$work/cert.pem" -key "$work/key.pem" \
        -www -naccept 1 -no_ticket -keylogfile "$work/server.keys" $server >/dev/null 2>&1 &
    srv=$!
    sleep 0.5
    case "$client" in
        curl*)
            # shellcheck disable=SC2086
            SSLKEYLOGFILE="$work/$name.keys" curl -sk --http1.1 ${client#curl } \
                "https://127.0.0.1:$port/" -o /dev/null
            ;;
        s_client*)
            # 'K': a KeyUpdate that also asks the server to update (RFC 8446 §4.6.3).
            # shellcheck disable=SC2086
            { sleep 0.3; echo K; sleep 0.3; printf 'GET / HTTP/1.0\r\n\r\n'; sleep 1; } |
                openssl s_client -connect "127.0.0.1:$port" -keylogfile "$work/$name.keys" \
                    ${client#s_client } >/dev/null 2>&1 || true
            ;;
    esac
    wait "$srv" || true
    sleep 0.5
    kill "$dump"
    wait "$dump" || true
    cp "$work/$name.pcap" "$name.pcap"
    cp "$work/$name.keys" "$name.keys"
    echo "$name: $(stat -c %s "$name.pcap") bytes, $(wc -l <"$name.keys") key lines"
done
# One file that carries its own keys (a pcapng Decryption Secrets Block).
editcap --inject-secrets "tls,tls13-aes128gcm.keys" tls13-aes128gcm.pcap tls13-aes128gcm-dsb.pcapng
echo "tls13-aes128gcm-dsb.pcapng: $(stat -c %s tls13-aes128gcm-dsb.pcapng) bytes"
