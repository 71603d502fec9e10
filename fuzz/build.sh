#!/bin/sh
# Builds the libFuzzer codec fuzzer with clang (not part of the CMake build): the protocol sources
# it needs are compiled straight in, with ASan and UBSan. Usage: fuzz/build.sh [output]
set -eu
root=$(cd "$(dirname "$0")/.." && pwd)
out=${1:-"$root/build-fuzz/codec_fuzzer"}
cxx=${CXX:-$(command -v clang++ || command -v clang++-14)}
mkdir -p "$(dirname "$out")"
"$cxx" -std=c++20 -g -O1 -Wall -Wextra -Werror \
  -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer \
  -I "$root/include" \
  "$root/fuzz/codec_fuzzer.cpp" \
  "$root"/src/protocol/*.cpp "$root/src/util/secure.cpp" \
  -lcrypto -o "$out"
echo "built $out"
