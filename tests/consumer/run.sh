#!/usr/bin/env bash
# Installs the lmul build BUILD_DIR into a temporary prefix and builds tests/consumer against
# it twice: with CMake's find_package(lmul) and with pkg-config (lmul.pc); runs both programs.
# The source tree is not on any include path of the consumer: only the installed tree is.
#
#   tests/consumer/run.sh BUILD_DIR        (ctest: lmul_install_consumer)
set -euo pipefail
BUILD="$(cd "${1:?usage: tests/consumer/run.sh BUILD_DIR}" && pwd)"
SRC="$(cd "$(dirname "$0")" && pwd)"
TMP="$(mktemp -d "${TMPDIR:-/tmp}/lmul_consumer.XXXXXX")"
trap 'rm -rf "$TMP"' EXIT
cmake --install "$BUILD" --prefix "$TMP/prefix" >/dev/null
for f in lib/cmake/lmul/lmulConfig.cmake lib/cmake/lmul/lmulConfigVersion.cmake \
         lib/pkgconfig/lmul.pc include/lmul/numeric/arith.h include/lmul/engine/model/policy.h \
         include/lmul/base/result.h bin/lmul; do
  [ -e "$TMP/prefix/$f" ] || { echo "consumer: $f not installed" >&2; exit 1; }
done
if find "$TMP/prefix/include" -name '*_test.cc' -o -name '*.cc' | grep -q .; then
  echo "consumer: sources installed under include/" >&2
  exit 1
fi
# Copy the consumer out of the tree, so nothing can find lmul's sources relative to it.
cp "$SRC/CMakeLists.txt" "$SRC/main.cc" "$TMP/"

echo "== find_package(lmul)"
cmake -S "$TMP" -B "$TMP/build" -G Ninja -DCMAKE_PREFIX_PATH="$TMP/prefix" >/dev/null
cmake --build "$TMP/build"
"$TMP/build/lmul_consumer"

echo "== pkg-config lmul"
export PKG_CONFIG_PATH="$TMP/prefix/lib/pkgconfig"
echo "pkg-config: $(pkg-config --modversion lmul): $(pkg-config --cflags --libs lmul)"
${CXX:-c++} -std=c++20 "$TMP/main.cc" -o "$TMP/consumer_pc" $(pkg-config --cflags --libs lmul)
"$TMP/consumer_pc"

echo "== lmul --version (installed and build tree)"
want="$(pkg-config --modversion lmul)"
for bin in "$TMP/prefix/bin/lmul" "$BUILD/lmul"; do
  v="$("$bin" --version)"
  echo "$v"
  [[ "$v" =~ ^lmul\ ${want//./\\.}(\ \(git\ [^\)]+\))?$ ]] ||
    { echo "consumer: '$bin --version' printed '$v', expected 'lmul $want [(git ...)]'" >&2; exit 1; }
done
