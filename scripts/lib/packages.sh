# shellcheck shell=bash
# Debian packages tether needs to build, test and demo, and how to install the missing ones.
# Sourced by scripts/test and scripts/demo (bash, set -euo pipefail), never run on its own:
#   source scripts/lib/packages.sh
#   install_packages scripts/test [EXTRA_PACKAGE]...

readonly TETHER_PACKAGES=(
  build-essential cmake pkg-config libssh2-1-dev libssl-dev libcli11-dev libspdlog-dev libgtest-dev
  libgmock-dev libcrypt-dev openssh-server openssh-client groff-base man-db tmux
  zsh dpkg-dev curl
)

# Prints, one per line, those of the given packages that dpkg does not list as installed.
missing_packages() {
  local pkg
  for pkg in "$@"; do
    if [[ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)" != "install ok installed" ]]; then
      echo "$pkg"
    fi
  done
}

# Installs whichever of TETHER_PACKAGES and the extra packages are missing, through sudo when
# not root. $1 names the caller in messages; exits 1 when it cannot install.
install_packages() {
  local caller="$1"
  shift
  if ! command -v dpkg-query >/dev/null; then
    echo "$caller: not a Debian system; install the build dependencies yourself" >&2
    return 0
  fi
  local missing
  mapfile -t missing < <(missing_packages "${TETHER_PACKAGES[@]}" "$@")
  if (( ${#missing[@]} == 0 )); then
    return 0
  fi
  local sudo=()
  if (( EUID != 0 )); then
    if ! command -v sudo >/dev/null; then
      echo "$caller: missing packages (${missing[*]}); run as root or install them" >&2
      exit 1
    fi
    sudo=(sudo)
  fi
  echo "$caller: installing ${missing[*]}"
  "${sudo[@]}" apt-get update
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y --no-install-recommends "${missing[@]}"
}
