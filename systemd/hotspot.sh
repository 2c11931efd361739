#!/usr/bin/env bash
# A Wi-Fi hotspot on the Pi, so a phone reaches mrig in the field with no router (NetworkManager).
#
#   sudo systemd/hotspot.sh on [--ssid NAME] [--password-stdin | --password PASS] [--boot]
#   sudo systemd/hotspot.sh off          back to the normal Wi-Fi client
#   sudo systemd/hotspot.sh status       whether it is up, its name and password
#   sudo systemd/hotspot.sh remove       forget the hotspot connection
#
# `on` creates (or updates) a NetworkManager connection "mrig-hotspot" and starts it: the Pi
# becomes an access point at 10.42.0.1 and hands out addresses to phones (ipv4.method shared).
# Without a password a random one is made the first time and kept after. --password-stdin
# reads it from standard input (--password puts it on this script's command line, which
# other users of the Pi can see while it runs). --boot also starts the hotspot at boot
# whenever no known Wi-Fi network has a higher priority.
# The connection is written as a NetworkManager keyfile (0600, in its system-connections
# folder) and loaded with `nmcli connection load`: the password is never an argument of
# nmcli, where `ps` would show it.
# Options: --ifname IFACE (default wlan0), --band bg|a (default bg: 2.4 GHz, every phone),
#          --dry-run (print the nmcli commands instead of running them).
set -euo pipefail

CON=mrig-hotspot
IFACE=wlan0
BAND="bg"
SSID=
PASSWORD=
BOOT=0
DRY=0
ACTION=
NM_DIR=${MRIG_NM_DIR:-/etc/NetworkManager/system-connections}

# The arguments as one line a shell would read back the same (quoted only where needed).
shell_words() {
    local word line=
    for word in "$@"; do
        if [[ $word =~ ^[A-Za-z0-9_./:=,@%+-]+$ ]]; then line+="$word "; else line+="$(printf '%q' "$word") "; fi
    done
    printf '%s' "${line% }"
}

die() { printf 'hotspot.sh: %s\n' "$*" >&2; exit 2; }
say() { printf '%s\n' "$*"; }

while [[ $# -gt 0 ]]; do
    case $1 in
        on|off|status|remove) [[ -z $ACTION ]] || die "one action at a time"; ACTION=$1 ;;
        --ssid) [[ $# -ge 2 ]] || die "--ssid needs a name"; SSID=$2; shift ;;
        --password) [[ $# -ge 2 ]] || die "--password needs a value"; PASSWORD=$2; shift ;;
        --password-stdin) IFS= read -r PASSWORD || [[ -n $PASSWORD ]] || die "no password on standard input" ;;
        --ifname) [[ $# -ge 2 ]] || die "--ifname needs an interface"; IFACE=$2; shift ;;
        --band) [[ $# -ge 2 ]] || die "--band needs bg or a"; BAND=$2; shift ;;
        --boot) BOOT=1 ;;
        --dry-run|-n) DRY=1 ;;
        -h|--help) sed -n '2,15s/^# \{0,1\}//p' "${BASH_SOURCE[0]}"; exit 0 ;;
        *) die "unknown argument: $1 (see --help)" ;;
    esac
    shift
done
[[ -n $ACTION ]] || die "say on, off, status or remove (see --help)"
[[ $BAND == bg || $BAND == a ]] || die "--band must be bg (2.4 GHz) or a (5 GHz)"
if [[ -n $PASSWORD ]] && (( ${#PASSWORD} < 8 || ${#PASSWORD} > 63 )); then
    die "--password must be 8 to 63 characters (WPA2)"
fi
if [[ -n $PASSWORD && ! $PASSWORD =~ ^[[:print:]]+$ ]]; then
    die "--password must be printable ASCII (WPA2)"
fi
if [[ -n $SSID ]] && (( ${#SSID} > 32 )); then die "--ssid must be at most 32 bytes"; fi
if [[ -n $SSID && ! $SSID =~ ^[A-Za-z0-9._-]([A-Za-z0-9._\ -]*[A-Za-z0-9._-])?$ ]]; then
    die "--ssid may have letters, digits, spaces (not at the ends), '.', '_' and '-'"
fi

nm() {
    if [[ $DRY -eq 1 ]]; then
        local shown
        shown=$(shell_words nmcli "$@")
        say "would run: $shown"
    else
        nmcli "$@"
    fi
}

exists() { nmcli --terse connection show "$CON" >/dev/null 2>&1; }

mrig_port() {
    local port=
    if [[ -r /etc/mrig/config.toml ]]; then
        port=$(sed -n 's/^port *= *\([0-9]*\).*/\1/p' /etc/mrig/config.toml | head -n1)
    fi
    echo "${port:-8000}"
}

random_password() {  # 12 characters without look-alikes (0/O, 1/l/I)
    head -c 512 /dev/urandom | tr -dc 'A-HJ-NP-Za-km-z2-9' | cut -c1-12
}

# A value as GLib's key files read it back: backslashes doubled, a leading space as \s.
keyfile_value() {
    local v=${1//\\/\\\\}
    [[ $v != " "* ]] || v="\\s${v:1}"
    printf '%s' "$v"
}

hotspot_on() {
    local host uuid='' autoconnect priority file tmp
    host=$(hostname)
    host=${host%%.*}
    [[ -n $SSID ]] || SSID="mrig-$host"
    if exists; then
        uuid=$(nmcli --get-values connection.uuid connection show "$CON")
        # Kept when none is given: read back from NetworkManager (its output, not an argument).
        [[ -n $PASSWORD || $DRY -eq 1 ]] || PASSWORD=$(psk)
    fi
    [[ -n $uuid ]] || uuid=$(cat /proc/sys/kernel/random/uuid)
    [[ -n $PASSWORD ]] || PASSWORD=$(random_password)
    if [[ $BOOT -eq 1 ]]; then
        # Known networks (priority 0) win when in range; otherwise the hotspot starts.
        autoconnect=true priority=-100
    else
        autoconnect=false priority=0
    fi
    file="$NM_DIR/$CON.nmconnection"
    if [[ $DRY -eq 1 ]]; then
        say "would write $file (0600, the password in it)"
    else
        tmp=$(umask 077 && mktemp "$NM_DIR/.$CON.XXXXXX")
        # WPA2-PSK, AES only, protected management frames optional (pmf=2): phones that do
        # PMF use it, older ones still join (NetworkManager's nm-settings-keyfile format).
        cat >"$tmp" <<EOF
[connection]
id=$CON
uuid=$uuid
type=wifi
interface-name=$IFACE
autoconnect=$autoconnect
autoconnect-priority=$priority

[wifi]
mode=ap
band=$BAND
ssid=$(keyfile_value "$SSID")

[wifi-security]
key-mgmt=wpa-psk
proto=rsn;
pairwise=ccmp;
group=ccmp;
pmf=2
psk=$(keyfile_value "$PASSWORD")

[ipv4]
method=shared

[ipv6]
method=ignore
EOF
        chmod 600 "$tmp"
        mv -f "$tmp" "$file"
    fi
    nm connection load "$file"
    nm radio wifi on
    nm connection up "$CON"
    say ""
    [[ $DRY -eq 0 ]] || say "(dry run: nothing was changed)"
    say "Hotspot \"$SSID\" is up. On the phone, join it (password: $(psk)), then open"
    say "  http://$host.local:$(mrig_port)/   or   http://10.42.0.1:$(mrig_port)/"
    say "Back to the normal Wi-Fi: sudo $0 off"
}

psk() {
    if [[ -n $PASSWORD ]]; then
        echo "$PASSWORD"
    elif [[ $DRY -eq 0 ]]; then
        nmcli --show-secrets --get-values 802-11-wireless-security.psk connection show "$CON"
    else
        echo "unchanged"
    fi
}

hotspot_status() {
    if ! exists; then
        say "no hotspot configured (sudo $0 on)"
        return 0
    fi
    local state
    state=$(nmcli --get-values GENERAL.STATE connection show "$CON" 2>/dev/null || true)
    say "hotspot: ${state:-not active}"
    say "ssid: $(nmcli --get-values 802-11-wireless.ssid connection show "$CON")"
    say "password: $(psk)"
    say "starts at boot: $(nmcli --get-values connection.autoconnect connection show "$CON")"
}

case $ACTION in
    on) hotspot_on ;;
    off)
        if exists; then nm connection down "$CON" || true; fi
        say "hotspot off; NetworkManager reconnects to a known Wi-Fi network by itself."
        ;;
    remove)
        if exists; then nm connection delete "$CON"; else say "no hotspot configured"; fi
        ;;
    status) hotspot_status ;;
esac
