#!/usr/bin/env bash
# Names what a make target needs and is missing here, with the line that installs it; exit 1
# if anything is. Usage: tools/prereq.sh NEED… (rust, python, node, curl, openssl, wrk, registry, etcd)
missing=0
need() { # need WHAT INSTALL-LINE
  echo "missing: $1 — install it with: $2" >&2
  missing=1
}
for what in "$@"; do
  case "$what" in
    rust)
      command -v cargo >/dev/null && command -v rustup >/dev/null \
        || need "Rust (cargo and rustup)" "curl --proto '=https' -sSf https://sh.rustup.rs | sh" ;;
    python)
      if ! command -v python3 >/dev/null; then need "python3" "sudo apt-get install python3 python3-venv"
      elif ! python3 -c 'import venv, ensurepip' 2>/dev/null; then need "python3's venv module" "sudo apt-get install python3-venv"; fi ;;
    node)
      command -v npm >/dev/null && command -v node >/dev/null || need "Node.js and npm" "sudo apt-get install nodejs npm" ;;
    curl) command -v curl >/dev/null || need "curl" "sudo apt-get install curl" ;;
    openssl) command -v openssl >/dev/null || need "openssl" "sudo apt-get install openssl" ;;
    wrk) command -v wrk >/dev/null || need "wrk" "sudo apt-get install wrk" ;;
    registry)
      command -v docker-registry >/dev/null && command -v htpasswd >/dev/null \
        || need "docker-registry and htpasswd (the OCI push tests)" "sudo apt-get install docker-registry apache2-utils" ;;
    etcd)
      command -v etcd >/dev/null && command -v etcdctl >/dev/null \
        || need "etcd and etcdctl (the fleet-store tests)" "sudo apt-get install etcd-server etcd-client" ;;
    *) echo "tools/prereq.sh: unknown need $what" >&2; exit 2 ;;
  esac
done
exit $missing
