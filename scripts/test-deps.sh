#!/usr/bin/env bash
# System packages the tests use: git (projects) and PostgreSQL (the data layer runs on both
# SQLite and PostgreSQL; the tests start their own server on a private port and socket).
# bubblewrap and slirp4netns confine workspace processes (a sandbox and a network of its own);
# their tests must run, never skip, so CI installs them. iproute2: the tests make a network
# namespace that stands in for a host on the internet.
# Node.js and npm: nodes install the real coding agents (claude, codex, gemini) from npm, and the
# tests drive them through whole turns.
set -euo pipefail
missing=()
command -v git >/dev/null || missing+=(git)
command -v bwrap >/dev/null || missing+=(bubblewrap)
command -v slirp4netns >/dev/null || missing+=(slirp4netns)
command -v ip >/dev/null || missing+=(iproute2)
# The system's Python: a node run as a normal user (tests/support/uservenv.py), and the hostile
# agent inside a sandbox, which shows no virtualenv.
[ -x /usr/bin/python3 ] || missing+=(python3)
ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || missing+=(postgresql)
command -v node >/dev/null || missing+=(nodejs)
command -v npm >/dev/null || missing+=(npm)
# Chromium: the web app's tests drive it through Playwright (never `playwright install`).
[ -x /usr/bin/chromium ] || missing+=(chromium)
# Docker: the tests start a dockerd of their own (tests/support/docker.py) in a network namespace
# they make, so its iptables rules stay there, and never use the system's. No image registry is
# reachable, so debootstrap builds the base image from the Debian mirror and zstd packs it for
# the cache (tests/support/images.py). `docker run --init` needs docker-init, which Debian's
# docker.io ships as a link to tini-static (it depends on tini), so nothing is added for it.
# These live in sbin, outside a normal user's PATH.
have() { command -v "$1" >/dev/null || [ -x "/usr/sbin/$1" ] || [ -x "/sbin/$1" ]; }
{ have dockerd && have docker; } || missing+=(docker.io)
have containerd || missing+=(containerd)
have runc || missing+=(runc)
have iptables || missing+=(iptables)
have debootstrap || missing+=(debootstrap)
have zstd || missing+=(zstd)
# OpenSSH's server: the SSH provider's tests install nodes over SSH into a private sshd of their
# own on a port of 127.0.0.1 (tests/support/sshd.py), never the system's.
have sshd || missing+=(openssh-server)
# cloud-init: `cloud-init schema` checks the user data cloud providers give new nodes, offline.
[ -x /usr/bin/cloud-init ] || missing+=(cloud-init)
if ((${#missing[@]})); then
  if [ "$(id -u)" != 0 ]; then
    echo "The tests need these packages: ${missing[*]} (run as root to install them)." >&2
    exit 1
  fi
  # Installing a package must not start its service (the system's sshd on port 22, say):
  # policy-rc.d answering 101 tells Debian's maintainer scripts so, where no init would.
  if [ ! -e /usr/sbin/policy-rc.d ]; then
    trap 'rm -f /usr/sbin/policy-rc.d' EXIT
    printf '#!/bin/sh\nexit 101\n' >/usr/sbin/policy-rc.d
    chmod 0755 /usr/sbin/policy-rc.d
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
# A node that is not root needs /dev/net/tun to give its workspaces a network of their own;
# udev opens it to everyone (0666) on a standard Debian, but machines without udev (containers,
# some VMs) leave it 0600. The tests run a node as a normal user too.
if [ -c /dev/net/tun ] && [ "$(id -u)" = 0 ]; then chmod 0666 /dev/net/tun; fi
