#!/usr/bin/env bash
# Install a pinned Claude Code CLI inside the sandbox, with Node.js when it is missing.
#
#   bash install_claude_code.sh <claude-code version> <prefix> [node version]
#
# Needs the code interpreter's PUBLIC network mode (npm registry, nodejs.org).
# Idempotent and cached per session: a marker file <prefix>/.installed-<version> makes
# later calls return at once. On failure the last line is "BCX_ERROR=<kind>: <message>"
# and the exit code tells the kind: 10 no network, 11 Node.js, 12 npm install, 13 verify.
set -uo pipefail

VERSION="${1:?usage: install_claude_code.sh <version> <prefix> [node version]}"
PREFIX="${2:?usage: install_claude_code.sh <version> <prefix> [node version]}"
NODE_VERSION="${3:-22.12.0}"
NODE_MAJOR_MIN=22
MARKER="$PREFIX/.installed-$VERSION"

fail() { echo "BCX_ERROR=$2: $3"; exit "$1"; }

mkdir -p "$PREFIX" || fail 12 install "cannot create $PREFIX"
PREFIX="$(cd "$PREFIX" && pwd)"
MARKER="$PREFIX/.installed-$VERSION"
if [ -f "$MARKER" ]; then
  echo "claude-code $VERSION already installed in $PREFIX"
  exit 0
fi

# --- network: fail fast and clearly when the sandbox has none ----------------------------
probe() {
  if command -v curl >/dev/null 2>&1; then
    curl -fsS --max-time 15 -o /dev/null "$1"
  else
    python3 -c "import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=15)" "$1"
  fi
}
probe "https://registry.npmjs.org/@anthropic-ai%2fclaude-code" >/dev/null 2>&1 \
  || fail 10 no_network "cannot reach registry.npmjs.org: the code interpreter needs PUBLIC network mode to install Claude Code"

# --- Node.js >= 22 -------------------------------------------------------------------------
node_ok() {
  command -v node >/dev/null 2>&1 || return 1
  local major
  major="$(node -p 'process.versions.node.split(".")[0]' 2>/dev/null)" || return 1
  [ "${major:-0}" -ge "$NODE_MAJOR_MIN" ]
}
export PATH="$PREFIX/bin:$PREFIX/node/bin:$PATH"
if ! node_ok; then
  case "$(uname -m)" in
    x86_64 | amd64) ARCH=x64 ;;
    aarch64 | arm64) ARCH=arm64 ;;
    *) fail 11 node "unsupported CPU architecture $(uname -m)" ;;
  esac
  URL="https://nodejs.org/dist/v$NODE_VERSION/node-v$NODE_VERSION-linux-$ARCH.tar.gz"
  echo "installing Node.js $NODE_VERSION from $URL"
  mkdir -p "$PREFIX/node" && rm -rf "${PREFIX:?}/node/"*
  if command -v curl >/dev/null 2>&1; then
    curl -fsSL --max-time 300 "$URL" | tar -xz -C "$PREFIX/node" --strip-components=1
  else
    python3 -c "import sys, urllib.request, shutil; shutil.copyfileobj(urllib.request.urlopen(sys.argv[1], timeout=300), sys.stdout.buffer)" "$URL" \
      | tar -xz -C "$PREFIX/node" --strip-components=1
  fi
  node_ok || fail 11 node "Node.js $NODE_VERSION did not install from $URL"
fi
echo "node $(node --version)"

# --- Claude Code ---------------------------------------------------------------------------
npm install --global --prefix "$PREFIX" --no-audit --no-fund --loglevel=error \
  "@anthropic-ai/claude-code@$VERSION" \
  || fail 12 npm "npm install @anthropic-ai/claude-code@$VERSION failed"
INSTALLED="$("$PREFIX/bin/claude" --version 2>&1)" \
  || fail 13 verify "claude --version failed: $INSTALLED"
case "$INSTALLED" in
  *"$VERSION"*) ;;
  *) fail 13 verify "expected claude-code $VERSION, got: $INSTALLED" ;;
esac
touch "$MARKER"
echo "installed claude-code $VERSION in $PREFIX"
