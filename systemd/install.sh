#!/usr/bin/env bash
# Install mrig as a systemd service on Raspberry Pi OS Bookworm (64-bit), from a checkout.
#
#   sudo systemd/install.sh                 install, or update after a `git pull` (safe to re-run)
#   sudo systemd/install.sh --uninstall     remove the service and program; keep config and photos
#   sudo systemd/install.sh --uninstall --purge   ...and the config, photos and the mrig user
#   systemd/install.sh --dry-run            print every action, change nothing
#   systemd/install.sh --root DIR           write the files under DIR (a scratch root) and print
#                                           the commands (apt, useradd, systemctl) instead of running them
# Options: --port N (default 8000), --tuning vc4|pisp (default: pisp on a Pi 5, else vc4),
#          --hostname NAME (the name written to the config; default: this Pi's hostname),
#          --new-certificate (replace the HTTPS certificate even if it is still good).
set -euo pipefail

SRC=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PREFIX=/opt/mrig
VENV=$PREFIX/venv
APP_SRC=$PREFIX/src
CONSTRAINTS=$PREFIX/constraints.txt
CONF_DIR=/etc/mrig
CONF=$CONF_DIR/config.toml
DATA_DIR=/var/lib/mrig
UNIT=/etc/systemd/system/mrig.service
AVAHI=/etc/avahi/services/mrig.service
SERVICE_USER=mrig
TLS_DIR=$CONF_DIR/tls
CERT=$TLS_DIR/mrig.crt
KEY=$TLS_DIR/mrig.key
# Apple's platforms refuse server certificates valid longer than 825 days (support.apple.com/HT210176);
# a certificate within 30 days of its end is renewed by the next install (firmware/tls.py).
CERT_DAYS=825
RENEW_DAYS=30
# The hotspot's own address (NetworkManager's "shared" mode: systemd/hotspot.sh).
HOTSPOT_ADDRESS=10.42.0.1
# picamera2 and libcamera come from Raspberry Pi OS, not PyPI: they must match the kernel and
# the libcamera IPA modules. numpy and scipy come from apt too, because picamera2's compiled
# friends (simplejpeg, pidng, av) are built against Debian's numpy. gcc and libc6-dev build the
# photo pipeline's C stages when pip installs mrig (isp/kernels.c; without them JPEGs take
# about 1.3 times as long, and `mrig selftest` says so).
APT_PACKAGES=(python3-picamera2 python3-numpy python3-scipy python3-gpiozero python3-lgpio
    python3-smbus2 python3-venv python3-pip gcc libc6-dev avahi-daemon openssl)

MODE=install
PURGE=0
DRY=0
ROOT=
PORT=8000
TUNING=
HOST_NAME=
TMP=
NEW_CERT=0

# The arguments as one line a shell would read back the same (quoted only where needed).
shell_words() {
    local word line=
    for word in "$@"; do
        if [[ $word =~ ^[A-Za-z0-9_./:=,@%+-]+$ ]]; then line+="$word "; else line+="$(printf '%q' "$word") "; fi
    done
    printf '%s' "${line% }"
}

die() { printf 'install.sh: %s\n' "$*" >&2; exit 2; }
say() { printf '%s\n' "$*"; }

while [[ $# -gt 0 ]]; do
    case $1 in
        --uninstall) MODE=uninstall ;;
        --purge) PURGE=1 ;;
        --dry-run|-n) DRY=1 ;;
        --root) [[ $# -ge 2 ]] || die "--root needs a directory"; ROOT=$2; shift ;;
        --port) [[ $# -ge 2 ]] || die "--port needs a number"; PORT=$2; shift ;;
        --tuning) [[ $# -ge 2 ]] || die "--tuning needs vc4 or pisp"; TUNING=$2; shift ;;
        --hostname) [[ $# -ge 2 ]] || die "--hostname needs a name"; HOST_NAME=$2; shift ;;
        --new-certificate) NEW_CERT=1 ;;
        -h|--help) sed -n '2,14s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) die "unknown option: $1 (see --help)" ;;
    esac
    shift
done

[[ $PORT =~ ^[0-9]+$ && $PORT -ge 1 && $PORT -le 65535 ]] || die "--port must be 1-65535"
[[ -z $TUNING || $TUNING == vc4 || $TUNING == pisp ]] || die "--tuning must be vc4 or pisp"
[[ -z $HOST_NAME || $HOST_NAME =~ ^[A-Za-z0-9-]{1,63}$ ]] || die "--hostname: letters, digits and -"
[[ $PURGE -eq 0 || $MODE == uninstall ]] || die "--purge goes with --uninstall"
if [[ -n $ROOT ]]; then
    mkdir -p "$ROOT"
    ROOT=$(cd "$ROOT" && pwd)
    [[ $ROOT != / ]] || die "--root / is the real system: run without --root"
fi
if [[ $DRY -eq 0 && -z $ROOT && $EUID -ne 0 ]]; then
    die "run as root (sudo $0), or try --dry-run"
fi

# Paths on the target: the real system, or the same paths under the scratch root.
target() { printf '%s%s' "$ROOT" "$1"; }

# Commands that change the system outside the file tree (packages, users, services) run only
# for real; with --dry-run or --root they are printed.
run() {
    local shown
    shown=$(shell_words "$@")
    if [[ $DRY -eq 1 || -n $ROOT ]]; then
        say "would run: $shown"
    else
        say "+ $shown"
        "$@"
    fi
}

# put MODE SOURCE DEST: install one file, replacing what is there.
put() {
    if [[ $DRY -eq 1 ]]; then
        say "would write $3 (mode $1)"
    else
        install -D -m "$1" "$2" "$(target "$3")"
        say "wrote $3"
    fi
}

# folder MODE PATH
folder() {
    if [[ $DRY -eq 1 ]]; then
        say "would create $2/ (mode $1)"
    else
        install -d -m "$1" "$(target "$2")"
    fi
}

remove() {
    case $1 in /opt/mrig|/etc/mrig|/var/lib/mrig|"$UNIT"|"$AVAHI") ;; *) die "refusing to remove $1" ;; esac
    if [[ ! -e $(target "$1") ]]; then
        return 0
    elif [[ $DRY -eq 1 ]]; then
        say "would remove $1"
    else
        rm -rf -- "$(target "$1")"
        say "removed $1"
    fi
}

has_user() { grep -q "^$1:" "$(target /etc/passwd)" 2>/dev/null; }
has_group() { grep -q "^$1:" "$(target /etc/group)" 2>/dev/null; }

# The tuning the Pi needs: the Pi 5 family has the PiSP image signal processor.
detect_tuning() {
    local model=
    if [[ -r $(target /proc/device-tree/model) ]]; then
        model=$(tr -d '\0' < "$(target /proc/device-tree/model)")
    fi
    if [[ $model =~ Raspberry\ Pi\ (5|500)|Compute\ Module\ 5 ]]; then echo pisp; else echo vc4; fi
}

detect_hostname() {
    local name=
    if [[ -r $(target /etc/hostname) ]]; then name=$(head -n1 "$(target /etc/hostname)"); fi
    if [[ -z $name && -z $ROOT ]]; then name=$(hostname); fi
    name=${name%%.*}
    echo "${name:-mrig}"
}

# unit_state enable|disable: systemctl can do this offline in a scratch root (it only makes or
# removes the multi-user.target.wants symlink), so --root really does it.
unit_state() {
    if [[ $DRY -eq 1 ]]; then
        say "would run: systemctl $1 mrig.service"
    elif [[ -n $ROOT ]]; then
        systemctl --quiet --root="$ROOT" "$1" mrig.service
        say "${1}d mrig.service under $ROOT"
    else
        run systemctl "$1" mrig.service
    fi
}

render() { # render TEMPLATE: the template with the @KEYS@ filled in, on stdout
    sed -e "s/@PORT@/$PORT/g" -e "s/@TUNING@/$TUNING/g" -e "s/@HOSTNAME@/$HOST_NAME/g" "$1"
}

copy_source() {
    local dest
    dest=$(target "$APP_SRC")
    if [[ $DRY -eq 1 ]]; then
        say "would copy $SRC to $APP_SRC"
        return
    fi
    rm -rf -- "$dest"
    install -d -m 0755 "$dest"
    tar -C "$SRC" --exclude=./.git --exclude=./.venv --exclude=./data --exclude=./tests \
        --exclude=./build --exclude='*.egg-info' --exclude=__pycache__ --exclude=.pytest_cache \
        --exclude=.ruff_cache --exclude=.hypothesis --exclude=node_modules --exclude='*.so' -cf - . \
        | tar -C "$dest" --no-same-owner -xf -
    say "copied $SRC to $APP_SRC"
}

# pip must keep Debian's numpy and scipy (picamera2's compiled dependencies need them), so
# their installed versions become constraints.
write_constraints() {
    local tmp
    if [[ $DRY -eq 1 || -n $ROOT ]]; then
        say "would write $CONSTRAINTS pinning the system numpy and scipy"
        return
    fi
    tmp=$(mktemp)
    python3 - > "$tmp" <<'PY'
import importlib.metadata as md
for name in ("numpy", "scipy"):
    try:
        print(f"{name}=={md.version(name)}")
    except md.PackageNotFoundError:
        pass
PY
    put 0644 "$tmp" "$CONSTRAINTS"
    rm -f "$tmp"
}

# What the certificate is good for (subjectAltName): the mDNS name, the hotspot's address,
# this machine itself and, on a real install, the addresses the Pi has now (hostname -I leaves
# out loopback and IPv6 link-local). A phone that opens another address gets the browser's
# name-mismatch warning; re-run with --new-certificate after the network changes.
certificate_names() {
    local names="DNS:$HOST_NAME.local,DNS:localhost,IP:$HOTSPOT_ADDRESS,IP:127.0.0.1,IP:::1" addr
    if [[ -z $ROOT && $DRY -eq 0 ]]; then
        for addr in $(hostname -I 2>/dev/null || true); do
            if [[ $addr =~ ^[0-9A-Fa-f:.]+$ && ,$names, != *",IP:$addr,"* ]]; then
                names+=",IP:$addr"
            fi
        done
    fi
    printf '%s' "$names"
}

# A certificate worth keeping: readable with its key, not ending within RENEW_DAYS, and naming
# this Pi's mDNS name.
certificate_current() {
    local cert key
    cert=$(target "$CERT")
    key=$(target "$KEY")
    [[ -r $cert && -r $key ]] || return 1
    openssl x509 -in "$cert" -noout -checkend $((RENEW_DAYS * 86400)) >/dev/null 2>&1 || return 1
    # The key that belongs to it (an install cut short between the two files leaves a pair
    # the server would refuse).
    [[ $(openssl x509 -in "$cert" -noout -pubkey 2>/dev/null) == \
       "$(openssl pkey -in "$key" -pubout 2>/dev/null)" ]] || return 1
    openssl x509 -in "$cert" -noout -ext subjectAltName 2>/dev/null | grep -qF "DNS:$HOST_NAME.local"
}

# The device's own HTTPS certificate, self-signed, ECDSA P-256. HTTPS stays off until
# config.toml says `https = true`; the certificate is made anyway so that turning it on is a
# one-line change. The key is made in the private temp folder and installed root:mrig 0640.
make_certificate() {
    if [[ $NEW_CERT -eq 0 ]] && certificate_current; then
        say "keeping the HTTPS certificate $CERT"
        return
    fi
    if [[ $DRY -eq 1 ]]; then
        say "would make an HTTPS certificate $CERT for $(certificate_names) ($CERT_DAYS days)"
        return
    fi
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days "$CERT_DAYS" \
        -subj "/CN=$HOST_NAME.local" -addext "subjectAltName=$(certificate_names)" \
        -addext "basicConstraints=critical,CA:FALSE" -addext "keyUsage=critical,digitalSignature" \
        -addext "extendedKeyUsage=serverAuth" \
        -keyout "$TMP/mrig.key" -out "$TMP/mrig.crt" 2>/dev/null \
        || die "openssl could not make the certificate"
    folder 0750 "$TLS_DIR"
    run chown root:"$SERVICE_USER" "$TLS_DIR"
    put 0640 "$TMP/mrig.key" "$KEY"
    run chown root:"$SERVICE_USER" "$KEY"
    put 0644 "$TMP/mrig.crt" "$CERT"
    say "made an HTTPS certificate for $(certificate_names): its fingerprint is new (below)"
}

# Whether config.toml turns HTTPS on: `https = true` in its [server] section.
https_on() {
    [[ -r $(target "$CONF") ]] || return 1
    awk '/^[[:space:]]*\[/ { section = $0 }
         section ~ /^[[:space:]]*\[server\]/ && /^[[:space:]]*https[[:space:]]*=[[:space:]]*true/ { on = 1 }
         END { exit !on }' "$(target "$CONF")"
}

# Whether config.toml has the https key at all (a config kept from before HTTPS has not).
https_known() {
    [[ -r $(target "$CONF") ]] && grep -q '^[[:space:]]*https[[:space:]]*=' "$(target "$CONF")"
}

# "SHA-256 AB:CD:...", as browsers show it, or nothing before the certificate exists.
certificate_fingerprint() {
    [[ -r $(target "$CERT") ]] || return 0
    openssl x509 -in "$(target "$CERT")" -noout -fingerprint -sha256 | sed 's/^.*=/SHA-256 /'
}

install_all() {
    [[ -n $TUNING ]] || TUNING=$(detect_tuning)
    [[ -n $HOST_NAME ]] || HOST_NAME=$(detect_hostname)
    TMP=$(mktemp -d)
    trap 'rm -rf "$TMP"' EXIT

    say "== packages from Raspberry Pi OS"
    run apt-get update
    run apt-get install -y --no-install-recommends "${APT_PACKAGES[@]}"

    say "== user and folders"
    has_group gpio || run groupadd --system gpio
    has_group i2c || run groupadd --system i2c
    # video and gpio also outside the unit (which adds them itself), so that
    # `sudo -u mrig mrig selftest` reaches the camera and the pins.
    if has_user "$SERVICE_USER"; then
        run usermod --append --groups video,gpio,i2c "$SERVICE_USER"
    else
        run useradd --system --user-group --groups video,gpio,i2c --home-dir "$DATA_DIR" \
            --no-create-home --shell /usr/sbin/nologin --comment "mrig camera service" "$SERVICE_USER"
    fi
    folder 0755 "$PREFIX"
    folder 0755 "$CONF_DIR"
    folder 0750 "$DATA_DIR"
    run chown root:"$SERVICE_USER" "$CONF_DIR"
    run chown "$SERVICE_USER:$SERVICE_USER" "$DATA_DIR"

    say "== program"
    copy_source
    if [[ -x $(target "$VENV/bin/python") ]]; then
        say "keeping the virtual environment $VENV"
    else
        # --system-site-packages: the venv sees picamera2 and libcamera from apt.
        run python3 -m venv --system-site-packages "$VENV"
    fi
    write_constraints
    run env PIP_DISABLE_PIP_VERSION_CHECK=1 "$VENV/bin/pip" install --quiet \
        --upgrade-strategy only-if-needed --constraint "$CONSTRAINTS" "$APP_SRC"
    # The version number may not change between commits: reinstall mrig itself every time.
    run env PIP_DISABLE_PIP_VERSION_CHECK=1 "$VENV/bin/pip" install --quiet --no-deps \
        --force-reinstall "$APP_SRC"

    say "== configuration"
    if [[ -e $(target "$CONF") ]]; then
        say "keeping $CONF (your settings)"
    else
        render "$SRC/systemd/config.toml.in" > "$TMP/config.toml"
        put 0640 "$TMP/config.toml" "$CONF"
        run chown root:"$SERVICE_USER" "$CONF"
    fi

    make_certificate

    say "== service"
    put 0644 "$SRC/systemd/mrig.service" "$UNIT"
    local service_type=_http._tcp
    if https_on; then service_type=_https._tcp; fi  # DNS-SD browsers open what it says
    sed -e "s#<port>[0-9]*</port>#<port>$PORT</port>#" \
        -e "s#<type>_http._tcp</type>#<type>$service_type</type>#" \
        "$SRC/systemd/avahi/mrig.service" > "$TMP/avahi.service"
    put 0644 "$TMP/avahi.service" "$AVAHI"
    run systemctl daemon-reload
    unit_state enable
    run systemctl restart mrig.service

    local port=$PORT scheme=http fingerprint
    if [[ -r $(target "$CONF") ]]; then  # a kept config may name another port, or HTTPS
        port=$(sed -n 's/^port *= *\([0-9]*\).*/\1/p' "$(target "$CONF")" | head -n1)
    fi
    if https_on; then scheme=https; fi
    fingerprint=$(certificate_fingerprint)
    say ""
    say "mrig is installed. Next:"
    say "  1. Set the web UI password:"
    say "       sudo -u $SERVICE_USER $VENV/bin/mrig set-password --data-dir $DATA_DIR"
    say "  2. On a phone on the same network (or the hotspot: sudo $APP_SRC/systemd/hotspot.sh on), open"
    say "       $scheme://$HOST_NAME.local:${port:-$PORT}/"
    if [[ -n $fingerprint ]]; then
        if [[ $scheme == https ]]; then
            say "  HTTPS is on. The browser warns once: accept only if its certificate shows"
        else
            say "  HTTPS is off (https = true in the [server] section of $CONF turns it on);"
            say "  its certificate's fingerprint:"
        fi
        say "       $fingerprint"
        if ! https_known; then
            say "  Your $CONF is from before HTTPS: to turn it on, add under [server]:"
            say "       https = true"
            say "       tls_certfile = \"$CERT\""
            say "       tls_keyfile = \"$KEY\""
        fi
    fi
    say "  Logs: journalctl -u mrig -f    Settings: $CONF (then: sudo systemctl restart mrig)"
}

uninstall_all() {
    say "== service"
    if [[ -e $(target "$UNIT") ]]; then
        run systemctl stop mrig.service
        unit_state disable
    fi
    remove "$UNIT"
    remove "$AVAHI"
    run systemctl daemon-reload
    say "== program"
    remove "$PREFIX"
    if [[ $PURGE -eq 1 ]]; then
        say "== settings, photos and user (--purge)"
        remove "$CONF_DIR"
        remove "$DATA_DIR"
        if has_user "$SERVICE_USER"; then run userdel "$SERVICE_USER"; fi
    else
        say "kept $CONF_DIR and $DATA_DIR (photos); --uninstall --purge removes them too"
    fi
    say "apt packages (picamera2, avahi-daemon, ...) are left installed: other software may use them."
}

if [[ $MODE == install ]]; then install_all; else uninstall_all; fi
