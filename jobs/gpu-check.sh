#!/usr/bin/env bash
# The first-GPU-run check of disa (docs/hpc.md, "GPU check"): one script, under 8 minutes, for
# a machine with one or more NVIDIA GPUs, a Python with a CUDA PyTorch, nvcc, CMake and a C++
# compiler, and no internet. MPI, parallel HDF5 and the other libraries come from
# .gpu-prefix/ (tools/make-gpu-prefix.sh, run beforehand on a Debian 12 machine and carried
# along with the repository); without it the system's are used.
#
#   bash jobs/gpu-check.sh
#
# Steps (each prints PASS or FAIL with its numbers; a summary at the end):
#   host      glibc / libstdc++ against what the prefix needs; unpack and load the prefix
#   versions  nvidia-smi, torch (version, CUDA, GPUs), nvcc, cmake, compiler
#   build     disa and bench_model with -DDISA_WITH_CUDA=ON against the installed torch
#             (torch.utils.cmake_prefix_path; NCCL of the wheel's nvidia/nccl), tests off
#   env       `disa env` and `disa smoke` under mpirun (1 rank)
#   forward   `disa model score` of a random small qwen2 on cuda vs cpu, float32
#   anchor    `disa anchor` in bf16 on cuda (proposal = the model itself, so the file's
#             log_q is the sampler's own), re-scored with `disa model score --dtype bfloat16`:
#             |sampler log q - re-scored log q| per sequence and per token (bound 2e-2 nats
#             per token), and bf16 vs float32 per token
#   train     2 steps of `disa train --train.algorithm disa` on cuda through mpirun, world
#             size 1, and 2 when there are 2 or more GPUs
#   bench     bench_model on cuda, a random Qwen2-0.5B-shaped model, batch 64 and 256, bf16:
#             prefill / decode tokens/s and the fraction of the HBM roofline
# Everything printed also goes to $OUT/gpu-check.log when OUT is set. Exit status 0 when every
# step passed, 1 otherwise.
#
# Environment (all optional):
#   GPU_CHECK_BUDGET_S   wall-clock budget of the whole script (default 465 s); each step's
#                        `timeout` is cut to what is left
#   GPU_CHECK_PYTHON     the Python with torch (default: the first python3/python that imports it)
#   GPU_CHECK_WORK       scratch folder (default /tmp/disa-gpu-check)
#   GPU_CHECK_BUILD_DIR  build folder (default build-gpucheck in the repository)
#   GPU_CHECK_JOBS       build jobs (default nproc)
#   GPU_CHECK_PREFIX_ROOT  where .gpu-prefix/prefix.tar.xz is unpacked (default /tmp/disa-gpu-prefix);
#                        GPU_CHECK_PREFIX=none uses the system's libraries instead
#   GPU_CHECK_STEPS      the steps to run (default "host versions build env forward anchor train
#                        bench"); without build, the binaries already in the build folder are used
#   GPU_CHECK_DEVICE     cuda (default); cpu runs the same steps on the CPU (a dry run of the
#                        script itself on a machine without a GPU)
#   GPU_CHECK_BENCH_SIZE, GPU_CHECK_BENCH_BATCHES   bench_model's model and batches (0.5b; 64,256)
#   GPU_CHECK_HBM_GBS    the memory bandwidth of the roofline (default: by GPU name, else measured)
#   GPU_CHECK_CMAKE_ARGS extra configure arguments (word-split)
set -uo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root" || exit 1
T0=$(date +%s)
BUDGET="${GPU_CHECK_BUDGET_S:-465}"
W="${GPU_CHECK_WORK:-/tmp/disa-gpu-check}"
B="${GPU_CHECK_BUILD_DIR:-$root/build-gpucheck}"
JOBS="${GPU_CHECK_JOBS:-$(nproc)}"
STEPS=" ${GPU_CHECK_STEPS:-host versions build env forward anchor train bench} "
DEV="${GPU_CHECK_DEVICE:-cuda}"
BENCH_SIZE="${GPU_CHECK_BENCH_SIZE:-0.5b}"
BENCH_BATCHES="${GPU_CHECK_BENCH_BATCHES:-64,256}"
PREFIX_ROOT="${GPU_CHECK_PREFIX_ROOT:-/tmp/disa-gpu-prefix}"
TOKEN_BOUND=2e-2   # nats per token: bf16 sampler log q vs re-scored log q
FP32_TOKEN_TOL=1e-3  # nats per token: float32 cuda vs cpu
FP32_SEQ_TOL=1e-2    # nats per sequence: float32 cuda vs cpu

if [ -n "${OUT:-}" ]; then
  mkdir -p "$OUT"
  exec > >(tee -a "$OUT/gpu-check.log") 2>&1
  tee_pid=$!
  trap 'exec >&- 2>&-; wait "$tee_pid" 2>/dev/null' EXIT
fi
rm -rf "$W" && mkdir -p "$W"

# --- helpers ---------------------------------------------------------------------------------
SUMMARY=()
FAILS=0
elapsed() { echo $(( $(date +%s) - T0 )); }
left() { echo $(( T0 + BUDGET - $(date +%s) )); }
limit() {  # limit WANT -> WANT, or what is left of the budget (less 5 s for the summary)
  local l=$(( $(left) - 5 ))
  if [ "$l" -lt "$1" ]; then echo "$l"; else echo "$1"; fi
}
header() { echo; echo "=== [$(elapsed) s] $1 ==="; }
result() {  # result PASS|FAIL NAME DETAIL
  local line
  line=$(printf '%-4s %-9s %s' "$1" "$2" "$3")
  echo "$line"
  SUMMARY+=("$line")
  [ "$1" = PASS ] || FAILS=$((FAILS + 1))
}
wants() { [[ "$STEPS" == *" $1 "* ]]; }
# run_t SECONDS LOG CMD...: the command under timeout, output to LOG; its status (124: timed out)
run_t() {
  local t=$1 log=$2
  shift 2
  if [ "$t" -lt 5 ]; then echo "not run: out of time" > "$log"; return 124; fi
  timeout -k 10 "$t" "$@" > "$log" 2>&1
}
why() {  # why STATUS SECONDS -> a short reason
  if [ "$1" = 124 ] || [ "$1" = 137 ]; then echo "timed out after $2 s"; else echo "exit status $1"; fi
}
ver_ge() { [ "$(printf '%s\n%s\n' "$1" "$2" | sort -V | head -1)" = "$2" ]; }  # ver_ge A B: A >= B

echo "gpu-check: $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(hostname), repository $root, budget $BUDGET s," \
     "device $DEV, steps:$STEPS"

# --- the Python with torch ---------------------------------------------------------------------
PY="${GPU_CHECK_PYTHON:-}"
if [ -z "$PY" ]; then
  for c in python3 python; do
    if command -v "$c" >/dev/null && "$c" -c 'import torch' >/dev/null 2>&1; then PY=$(command -v "$c"); break; fi
  done
fi

# mpirun flags for a workstation/container (root allowed, oversubscription, no binding)
# shellcheck disable=SC1091
source "$root/jobs/mpirun-flags.sh"
read -r -a MPIRUN <<< "mpirun $DISA_MPIRUN_FLAGS"
# Open MPI refuses to start without ssh or rsh, even on one node; its "isolated" launcher
# needs neither (env.sh of the prefix does the same)
if ! command -v ssh >/dev/null && ! command -v rsh >/dev/null; then export OMPI_MCA_plm="${OMPI_MCA_plm:-isolated}"; fi

# --- step: host and prefix ---------------------------------------------------------------------
PREFIX_OK=0
if wants host; then
  header "host: system libraries and the carried prefix"
  glibc=$(getconf GNU_LIBC_VERSION 2>/dev/null | awk '{print $2}')
  # shellcheck disable=SC1091
  echo "host: $(. /etc/os-release 2>/dev/null; echo "${PRETTY_NAME:-unknown distribution}"), $(uname -m)," \
       "kernel $(uname -r), glibc ${glibc:-unknown}, $(nproc) cores"
  tar_ok=1
  if [ "${GPU_CHECK_PREFIX:-}" = none ]; then
    result PASS host "GPU_CHECK_PREFIX=none: the system's MPI / parallel HDF5 / libraries (glibc ${glibc:-?})"
  elif [ ! -f .gpu-prefix/prefix.tar.xz ]; then
    result FAIL host "no .gpu-prefix/prefix.tar.xz (run tools/make-gpu-prefix.sh where apt works and carry .gpu-prefix): trying the system's MPI and HDF5"
  else
    need_glibc=$(awk '/^glibc_max/ {sub("GLIBC_", "", $2); print $2}' .gpu-prefix/MANIFEST.txt)
    need_cxx=$(awk '/^glibcxx_max/ {print $2}' .gpu-prefix/MANIFEST.txt)
    libstdcxx=$( (ldconfig -p 2>/dev/null || /sbin/ldconfig -p 2>/dev/null) | awk '/libstdc\+\+\.so\.6 .*x86-64/ {print $NF; exit}')
    [ -z "$libstdcxx" ] && libstdcxx=$(g++ -print-file-name=libstdc++.so.6 2>/dev/null)
    have_cxx=$(grep -ao 'GLIBCXX_3\.4\.[0-9]*' "$libstdcxx" 2>/dev/null | sort -t. -k3,3n -u | tail -1)
    problems=""
    if [ -n "$glibc" ] && [ -n "$need_glibc" ] && ! ver_ge "$glibc" "$need_glibc"; then
      problems="glibc $glibc < $need_glibc that Debian 12's libraries need;"
    fi
    if [ -n "$need_cxx" ] && [ -n "$have_cxx" ] && ! ver_ge "${have_cxx#GLIBCXX_}" "${need_cxx#GLIBCXX_}"; then
      problems="$problems libstdc++ has $have_cxx < $need_cxx;"
    fi
    start=$(date +%s)
    stamp=$(awk '/sha256/ {print $NF}' .gpu-prefix/MANIFEST.txt)
    if [ ! -f "$PREFIX_ROOT/env.sh" ] || [ "$(cat "$PREFIX_ROOT/.stamp" 2>/dev/null)" != "$stamp" ]; then
      rm -rf "$PREFIX_ROOT" && mkdir -p "$PREFIX_ROOT"
      if command -v xz >/dev/null; then
        tar -C "$PREFIX_ROOT" -xJf .gpu-prefix/prefix.tar.xz || tar_ok=0
      else  # no xz program: Python's tarfile reads .tar.xz itself
        "${PY:-python3}" -c 'import sys, tarfile; tarfile.open(sys.argv[1]).extractall(sys.argv[2])' \
          .gpu-prefix/prefix.tar.xz "$PREFIX_ROOT" || tar_ok=0
      fi
      [ "$tar_ok" = 1 ] && echo "$stamp" > "$PREFIX_ROOT/.stamp"
    fi
    if [ "$tar_ok" = 1 ] && [ -f "$PREFIX_ROOT/env.sh" ]; then
      # shellcheck disable=SC1091
      source "$PREFIX_ROOT/env.sh"
      PREFIX_OK=1
      mpirun_v=$(timeout 20 mpirun --version 2>&1 | head -1)
      # the relocated mpirun starts 2 local processes
      # shellcheck disable=SC2016
      ranks=$(timeout 30 "${MPIRUN[@]}" -np 2 sh -c 'echo "$OMPI_COMM_WORLD_RANK"' 2>&1 | sort | tr '\n' ' ')
      echo "mpirun -np 2: ranks $ranks"
      [ "$ranks" = "0 1 " ] || problems="$problems mpirun -np 2 printed '$ranks';"
      detail="prefix in $PREFIX_ROOT ($(du -sm "$PREFIX_ROOT" | cut -f1) MiB, $(( $(date +%s) - start )) s);"
      detail="$detail $mpirun_v (2 ranks started); glibc ${glibc:-?} (needs $need_glibc), libstdc++ ${have_cxx:-?} (needs $need_cxx);"
      detail="$detail fallback libraries used:${DISA_PREFIX_FALLBACK_USED:- none}"
      if [ -n "$problems" ]; then result FAIL host "$problems $detail"
      elif [[ "$mpirun_v" != *"Open MPI"* ]]; then result FAIL host "the prefix's mpirun does not start: $detail"
      else result PASS host "$detail"; fi
    else
      result FAIL host "could not unpack .gpu-prefix/prefix.tar.xz into $PREFIX_ROOT"
    fi
  fi
fi

# --- step: versions ------------------------------------------------------------------------------
GPUS=0
GPU_NAME=""
if wants versions; then
  header "versions: driver, GPUs, torch, toolchain"
  smi_ok=0
  if command -v nvidia-smi >/dev/null && timeout 30 nvidia-smi; then
    smi_ok=1
    timeout 20 nvidia-smi --query-gpu=index,name,memory.total,driver_version,compute_cap --format=csv
    GPU_NAME=$(timeout 20 nvidia-smi --query-gpu=name --format=csv,noheader | head -1)
  fi
  torch_line="no Python with torch found (set GPU_CHECK_PYTHON)"
  torch_cuda=0
  if [ -n "$PY" ]; then
    torch_line=$(timeout 60 "$PY" - <<'PYEOF' 2>&1 | tail -1
import torch
n = torch.cuda.device_count() if torch.cuda.is_available() else 0
names = ", ".join(torch.cuda.get_device_name(i) for i in range(n))
cc = ", ".join("%d.%d" % torch.cuda.get_device_capability(i) for i in range(n))
print(f"torch {torch.__version__} (CUDA {torch.version.cuda}, cuDNN {torch.backends.cudnn.version()}, "
      f"cxx11 ABI {torch._C._GLIBCXX_USE_CXX11_ABI}), cuda available {torch.cuda.is_available()}, "
      f"{n} GPU(s): {names or '-'} (compute capability {cc or '-'})")
PYEOF
)
    [[ "$torch_line" == *"cuda available True"* ]] && torch_cuda=1
    GPUS=$("$PY" -c 'import torch; print(torch.cuda.device_count() if torch.cuda.is_available() else 0)' 2>/dev/null || echo 0)
  fi
  echo "python: ${PY:-none}"
  echo "$torch_line"
  echo "nvcc: $( (command -v nvcc || ls "${CUDA_HOME:-/usr/local/cuda}/bin/nvcc") 2>/dev/null | head -1) $(
    (nvcc --version || "${CUDA_HOME:-/usr/local/cuda}/bin/nvcc" --version) 2>/dev/null | grep -o 'release [0-9.]*' | head -1)"
  echo "cmake: $(cmake --version 2>/dev/null | head -1)   ninja: $(ninja --version 2>/dev/null)   c++: $(c++ --version 2>/dev/null | head -1)"
  if [ "$smi_ok" = 1 ] && [ "$torch_cuda" = 1 ]; then
    result PASS versions "$GPUS GPU(s) ($GPU_NAME); $torch_line"
  elif [ "$DEV" = cpu ]; then
    result FAIL versions "no GPU (nvidia-smi: $smi_ok, torch CUDA: $torch_cuda); GPU_CHECK_DEVICE=cpu: going on on the CPU"
  else
    result FAIL versions "nvidia-smi works: $smi_ok; $torch_line"
  fi
fi
[ -z "$GPU_NAME" ] && GPU_NAME=$(timeout 20 nvidia-smi --query-gpu=name --format=csv,noheader 2>/dev/null | head -1)
if [ "$GPUS" = 0 ] && [ -n "$PY" ]; then
  GPUS=$("$PY" -c 'import torch; print(torch.cuda.device_count() if torch.cuda.is_available() else 0)' 2>/dev/null || echo 0)
fi

# --- step: build -----------------------------------------------------------------------------------
DISA="$B/disa"
BENCH="$B/bench/bench_model"
if wants build; then
  header "build: disa + bench_model, -DDISA_WITH_CUDA=ON, $JOBS jobs, into $B"
  t=$(limit "${GPU_CHECK_BUILD_TIMEOUT:-300}")
  args=(-DCMAKE_BUILD_TYPE=Release -DDISA_WITH_CUDA=ON -DDISA_BUILD_TESTS=OFF -DDISA_BUILD_BENCH=ON)
  problems=""
  cmake_bin=$(command -v cmake || true)
  if [ -z "$cmake_bin" ] && [ -n "$PY" ]; then
    cmake_bin=$("$PY" -c 'import cmake, os; print(os.path.join(cmake.CMAKE_BIN_DIR, "cmake"))' 2>/dev/null || true)
  fi
  ninja_bin=$(command -v ninja || true)
  if [ -z "$ninja_bin" ] && [ -n "$PY" ]; then
    ninja_bin=$("$PY" -c 'import ninja, os; print(os.path.join(ninja.BIN_DIR, "ninja"))' 2>/dev/null || true)
  fi
  if [ -n "$ninja_bin" ]; then args+=(-G Ninja "-DCMAKE_MAKE_PROGRAM=$ninja_bin"); fi
  [ -n "$cmake_bin" ] || problems="no cmake;"
  [ -n "$PY" ] || problems="$problems no Python with torch;"
  torch_cmake=$("$PY" -c 'import torch; print(torch.utils.cmake_prefix_path)' 2>/dev/null)
  torch_pkg=$(dirname "$(dirname "$torch_cmake")")
  nccl_root=$("$PY" -c 'import nvidia.nccl as n; print(list(n.__path__)[0])' 2>/dev/null || true)
  cuda_home="${CUDA_HOME:-}"
  if [ -z "$cuda_home" ]; then
    if command -v nvcc >/dev/null; then cuda_home=$(dirname "$(dirname "$(readlink -f "$(command -v nvcc)")")")
    else cuda_home=/usr/local/cuda; fi
  fi
  [ -x "$cuda_home/bin/nvcc" ] || problems="$problems no nvcc in $cuda_home/bin (set CUDA_HOME);"
  # LibTorch's package folder first (its lib/ before any other LibTorch), then its share/cmake
  args+=("-DCMAKE_PREFIX_PATH=$torch_pkg;$torch_cmake${DISA_PREFIX:+;$DISA_PREFIX/usr}")
  args+=("-DDISA_PYTHON=$PY" "-DCUDAToolkit_ROOT=$cuda_home" "-DCMAKE_CUDA_COMPILER=$cuda_home/bin/nvcc")
  # disa has no CUDA sources: nvcc only passes CMake's compiler check (which LibTorch's CMake
  # configuration requires), so a host compiler newer than this nvcc knows is no reason to stop
  args+=("-DCMAKE_CUDA_FLAGS=-allow-unsupported-compiler")
  # Open MPI's wrappers call g++/gcc: without them, the compilers that are there
  command -v g++ >/dev/null || export OMPI_CXX="${OMPI_CXX:-c++}"
  command -v gcc >/dev/null || export OMPI_CC="${OMPI_CC:-cc}"
  [ -n "$nccl_root" ] && args+=("-DNCCL_ROOT=$nccl_root")
  [ "$PREFIX_OK" = 1 ] && args+=("${DISA_PREFIX_CMAKE_ARGS[@]}")
  # the GPUs' architectures for LibTorch's CMake (else it compiles a probe and guesses)
  if [ -z "${TORCH_CUDA_ARCH_LIST:-}" ] && [ "$GPUS" -gt 0 ]; then
    TORCH_CUDA_ARCH_LIST=$("$PY" -c 'import torch; print(";".join(sorted({"%d.%d" % torch.cuda.get_device_capability(i) for i in range(torch.cuda.device_count())})))' 2>/dev/null)
    export TORCH_CUDA_ARCH_LIST
  fi
  # shellcheck disable=SC2206
  extra=(${GPU_CHECK_CMAKE_ARGS:-})
  args+=("${extra[@]}")
  echo "cmake: $cmake_bin; LibTorch $torch_pkg; NCCL ${nccl_root:-(system)}; CUDA $cuda_home;" \
       "prefix ${DISA_PREFIX:-none}; TORCH_CUDA_ARCH_LIST=${TORCH_CUDA_ARCH_LIST:-}"
  if [ -n "$problems" ]; then
    result FAIL build "$problems"
  else
    start=$(date +%s)
    printf '%q ' "$cmake_bin" -S "$root" -B "$B" "${args[@]}" > "$W/configure.cmd"
    run_t "$t" "$W/configure.log" "$cmake_bin" -S "$root" -B "$B" "${args[@]}"
    rc=$?
    conf_s=$(( $(date +%s) - start ))
    # the configure summary
    sed -n '/disa configuration/,/^-- Configuring done/p' "$W/configure.log" | head -40
    grep -E "PyTorch: CUDA|Found MPI_CXX|Found HDF5|Found NCCL|Found Boost|Found ICU|Found fmt|Found spdlog" "$W/configure.log" | head -12
    if [ "$rc" != 0 ]; then
      tail -40 "$W/configure.log"
      [ -n "${OUT:-}" ] && cp "$W/configure.log" "$OUT/configure.log"
      result FAIL build "configure: $(why "$rc" "$t") (log: $W/configure.log)"
    else
      t=$(limit $(( t - conf_s )))
      run_t "$t" "$W/build.log" "$cmake_bin" --build "$B" --target disa bench_model -j"$JOBS"
      rc=$?
      build_s=$(( $(date +%s) - start - conf_s ))
      if [ "$rc" = 0 ]; then
        result PASS build "configure $conf_s s, build $build_s s ($JOBS jobs); $(ldd "$DISA" 2>/dev/null |
          grep -oE 'lib(torch_cuda|nccl|mpi|hdf5_openmpi|hdf5)\.so[^ ]* => [^ ]*' | sed 's/ => /=/' | tr '\n' ' ')"
      else
        grep -E "error|Error|FAILED" "$W/build.log" | head -30
        tail -20 "$W/build.log"
        [ -n "${OUT:-}" ] && cp "$W/build.log" "$OUT/build.log"
        result FAIL build "build: $(why "$rc" "$t") after $build_s s (log: $W/build.log)"
      fi
    fi
  fi
fi

# --- step: disa env / smoke --------------------------------------------------------------------
if wants env; then
  header "env: disa env and disa smoke (mpirun, 1 rank)"
  if [ ! -x "$DISA" ]; then
    result FAIL env "no binary $DISA"
  else
    t=$(limit 60)
    run_t "$t" "$W/env.log" "${MPIRUN[@]}" -np 1 "$DISA" env
    rc=$?
    cat "$W/env.log"
    run_t "$(limit 45)" "$W/smoke.log" "${MPIRUN[@]}" -np 1 "$DISA" smoke --smoke.out "$W/smoke.h5"
    rc2=$?
    tail -5 "$W/smoke.log"
    row() { awk -F'|' -v k="$1" '$2 ~ k {gsub(/^ +| +$/, "", $3); print $3; exit}' "$W/env.log"; }
    cuda_row="LibTorch CUDA: $(row "LibTorch CUDA")"
    nccl_row="CUDA + NCCL compiled: $(row "CUDA \\+ NCCL")"
    if [ "$rc" != 0 ]; then result FAIL env "disa env: $(why "$rc" "$t")"
    elif [ "$rc2" != 0 ]; then result FAIL env "disa smoke: $(why "$rc2" "$t"); $cuda_row"
    elif [ "$DEV" = cuda ] && { [[ "$cuda_row" != *available* ]] || [[ "$nccl_row" != *yes* ]]; }; then
      result FAIL env "$cuda_row; $nccl_row"
    else
      result PASS env "$cuda_row; $nccl_row; HDF5 $(row HDF5); MPI $(row "MPI library" | cut -d, -f1); smoke ok"
    fi
  fi
fi

# A model and the comparison of two `disa model score` outputs, used by forward and anchor.
SMALL="$W/small-qwen2"
make_small() {
  [ -f "$SMALL/config.json" ] && return 0
  "$DISA" model init --arch qwen2 --size small --seed 11 --out "$SMALL" --log.level warn > "$W/model-init.log" 2>&1
}
has_score() { [ -x "$DISA" ] && "$DISA" model score --help > /dev/null 2>&1; }
cat > "$W/compare.py" <<'PYEOF'
# compare.py A.jsonl B.jsonl: per-token and per-sequence |difference| of two `disa model score`
# outputs (one {"logprobs": [...], "sum": s} line per sequence), as one JSON line.
import json, sys
a = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
b = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
if len(a) != len(b):
    print(json.dumps({"error": f"{len(a)} vs {len(b)} lines"})); sys.exit(1)
tok = seq = 0.0
n_tok = 0
sum_abs = 0.0
for x, y in zip(a, b):
    if len(x["logprobs"]) != len(y["logprobs"]):
        print(json.dumps({"error": "token counts differ"})); sys.exit(1)
    for p, q in zip(x["logprobs"], y["logprobs"]):
        d = abs(p - q)
        tok = max(tok, d)
        sum_abs += d
        n_tok += 1
    seq = max(seq, abs(x["sum"] - y["sum"]))
print(json.dumps({"sequences": len(a), "tokens": n_tok, "max_token": tok, "mean_token": sum_abs / max(n_tok, 1),
                  "max_sequence": seq}))
PYEOF

# --- step: forward cuda vs cpu, float32 --------------------------------------------------------
if wants forward; then
  header "forward: disa model score, $DEV vs cpu, float32"
  if [ ! -x "$DISA" ]; then result FAIL forward "no binary $DISA"
  elif ! has_score; then result FAIL forward "'disa model score' is not in this build: forward check not run"
  elif ! make_small; then result FAIL forward "disa model init failed: $(tail -2 "$W/model-init.log")"
  else
    "$PY" - "$W/forward.jsonl" <<'PYEOF'
import json, random, sys
r = random.Random(5)
with open(sys.argv[1], "w") as f:
    for i in range(32):
        prompt = [r.randrange(0, 256) for _ in range(r.randint(4, 48))]
        response = [r.randrange(0, 256) for _ in range(r.randint(1, 40))]
        f.write(json.dumps({"prompt": prompt, "response": response}) + "\n")
PYEOF
    t=$(limit 45)
    run_t "$t" "$W/forward-cpu.jsonl" "$DISA" model score --model "$SMALL" --device cpu --dtype float32 \
      --log.level warn < "$W/forward.jsonl"
    rc=$?
    run_t "$(limit 45)" "$W/forward-dev.jsonl" "$DISA" model score --model "$SMALL" --device "$DEV" --dtype float32 \
      --log.level warn < "$W/forward.jsonl"
    rc2=$?
    if [ "$rc" != 0 ] || [ "$rc2" != 0 ]; then
      tail -5 "$W/forward-cpu.jsonl" "$W/forward-dev.jsonl"
      result FAIL forward "model score: cpu $(why "$rc" "$t"), $DEV $(why "$rc2" "$t")"
    else
      stats=$("$PY" "$W/compare.py" "$W/forward-dev.jsonl" "$W/forward-cpu.jsonl")
      echo "float32 $DEV vs cpu: $stats"
      ok=$("$PY" -c 'import json,sys; s=json.loads(sys.argv[1]); print(int("error" not in s and s["max_token"] <= float(sys.argv[2]) and s["max_sequence"] <= float(sys.argv[3])))' \
           "$stats" "$FP32_TOKEN_TOL" "$FP32_SEQ_TOL" 2>/dev/null || echo 0)
      detail=$("$PY" -c 'import json,sys; s=json.loads(sys.argv[1]); print(s.get("error") or "%d sequences, %d tokens: max |diff| %.2e per token (mean %.2e), %.2e per sequence" % (s["sequences"], s["tokens"], s["max_token"], s["mean_token"], s["max_sequence"]))' "$stats" 2>/dev/null)
      if [ "$ok" = 1 ]; then result PASS forward "$detail (tolerance $FP32_TOKEN_TOL / $FP32_SEQ_TOL)"
      else result FAIL forward "$detail (tolerance $FP32_TOKEN_TOL / $FP32_SEQ_TOL)"; fi
    fi
  fi
fi

# --- step: bf16 anchors on cuda, sampler log q vs re-scored ---------------------------------------
ANCHORS="$W/anchors.h5"
# the prompts of configs/tiny, fewer of them (fewer still for a dry run on a CPU), and disa
# anchor's dtype on that device
if [ "$DEV" = cuda ]; then
  TASK=(--task.count 64); SAMPLES=8; NEW=32; DTYPE=bfloat16; ANCHOR_T=90
  TRAIN_SIZE=(); TRAIN_T=75
else
  TASK=(--task.count 16); SAMPLES=4; NEW=16; DTYPE=float32; ANCHOR_T=300
  TRAIN_SIZE=(--train.prompts-per-step 4 --train.group-size 4); TRAIN_T=300
fi
if wants anchor; then
  header "anchor: disa anchor on $DEV ($DTYPE), sampler log q vs re-scored log q"
  if [ ! -x "$DISA" ]; then result FAIL anchor "no binary $DISA"
  elif ! make_small; then result FAIL anchor "disa model init failed"
  else
    t=$(limit "$ANCHOR_T")
    # proposal = the model itself as a "model" proposal: log_q is then the sampler's own sum of
    # log-probabilities (with kind=reference the file stores log_q = the teacher-forced log pi_ref)
    run_t "$t" "$W/anchor.log" "${MPIRUN[@]}" -np 1 "$DISA" anchor --config configs/tiny/anchor.ini \
      --anchor.reference "$SMALL" --proposal.kind model --proposal.model "$SMALL" --anchor.out "$ANCHORS" \
      "${TASK[@]}" --anchor.samples "$SAMPLES" --anchor.batch-size 256 --anchor.max-new-tokens "$NEW" --anchor.bootstrap 0 \
      --anchor.exact=false --anchor.device "$DEV" --log.level warn
    rc=$?
    tail -22 "$W/anchor.log"
    if [ "$rc" != 0 ]; then
      result FAIL anchor "disa anchor: $(why "$rc" "$t")"
    else
      # the trajectories as `model score` input, and the file's own sums
      if ! "$PY" - "$ANCHORS" "$W/anchor-seqs.jsonl" "$W/anchor-file.json" 512 <<'PYEOF'
import json, sys
import h5py
f = h5py.File(sys.argv[1], "r")
pv, po = f["prompts/tokens/values"][:], f["prompts/tokens/offsets"][:]
t = f["trajectories"]
tv, to = t["tokens/values"][:], t["tokens/offsets"][:]
pidx, log_q, log_ref, length = t["prompt_index"][:], t["log_q"][:], t["log_pi_ref"][:], t["length"][:]
n = min(len(pidx), int(sys.argv[4]))
rows = []
with open(sys.argv[2], "w") as out:
    for i in range(n):
        p = int(pidx[i])
        resp = [int(x) for x in tv[to[i]:to[i + 1]]]
        if not resp:
            continue
        out.write(json.dumps({"prompt": [int(x) for x in pv[po[p]:po[p + 1]]], "response": resp}) + "\n")
        rows.append({"log_q": float(log_q[i]), "log_pi_ref": float(log_ref[i]), "length": len(resp)})
json.dump({"rows": rows}, open(sys.argv[3], "w"))
PYEOF
      then
        result FAIL anchor "could not read $ANCHORS with h5py ($PY)"
      elif ! has_score; then
        "$PY" - "$W/anchor-file.json" "$TOKEN_BOUND" <<'PYEOF'
import json, sys
rows = json.load(open(sys.argv[1]))["rows"]
d = [abs(r["log_q"] - r["log_pi_ref"]) for r in rows]
pt = [abs(r["log_q"] - r["log_pi_ref"]) / r["length"] for r in rows]
print("in-file sampler log q vs teacher-forced log pi_ref: %d sequences, max |diff| %.3e per sequence, %.3e per token (mean over the sequence)" % (len(rows), max(d), max(pt)))
PYEOF
        result FAIL anchor "'disa model score' is not in this build: no re-scoring (in-file numbers above)"
      else
        # The sampler's normalisation: over every model id, or only over the ids below the
        # tokenizer's vocabulary (when the model's vocab_size is rounded up). Re-score both
        # ways (the second fails when a response holds a larger id) and keep the closer.
        vocabs=(default)
        "$DISA" model score --help 2>&1 | grep -q -- "--vocab" && vocabs=(full tokenizer)
        t=$(limit 60)
        for v in "${vocabs[@]}"; do
          vopt=()
          [ "$v" != default ] && vopt=(--vocab "$v")
          run_t "$(limit 60)" "$W/anchor-rescore-$DTYPE-$v.jsonl" "$DISA" model score --model "$SMALL" \
            --device "$DEV" --dtype "$DTYPE" "${vopt[@]}" --log.level warn < "$W/anchor-seqs.jsonl"
          echo "re-scored $DTYPE, vocabulary $v: exit status $?"
        done
        vocab=$("$PY" - "$W/anchor-file.json" "$W" "$DTYPE" "${vocabs[@]}" <<'PYEOF'
import json, os, statistics, sys
rows = json.load(open(sys.argv[1]))["rows"]
best = None
for v in sys.argv[4:]:
    try:
        out = [json.loads(l) for l in open(os.path.join(sys.argv[2], f"anchor-rescore-{sys.argv[3]}-{v}.jsonl")) if l.strip()]
        assert len(out) == len(rows)
        m = statistics.median(abs(r["log_q"] - o["sum"]) / r["length"] for r, o in zip(rows, out))
    except Exception:
        continue
    if best is None or m < best[1]:
        best = (v, m)
print(best[0] if best else "")
PYEOF
)
        rc=1
        [ -n "$vocab" ] && rc=0
        vopt=()
        [ -n "$vocab" ] && [ "$vocab" != default ] && vopt=(--vocab "$vocab")
        [ -n "$vocab" ] && cp "$W/anchor-rescore-$DTYPE-$vocab.jsonl" "$W/anchor-rescore-$DTYPE.jsonl"
        echo "the sampler's normalisation: vocabulary ${vocab:-?}"
        run_t "$(limit 60)" "$W/anchor-rescore-fp32.jsonl" "$DISA" model score --model "$SMALL" --device "$DEV" \
          --dtype float32 "${vopt[@]}" --log.level warn < "$W/anchor-seqs.jsonl"
        rc2=$?
        if [ "$rc" != 0 ] || [ "$rc2" != 0 ]; then
          result FAIL anchor "model score of the trajectories: $DTYPE $( [ "$rc" = 0 ] && echo ok || echo "failed ($(head -c 200 "$W/anchor-rescore-$DTYPE-${vocabs[0]}.jsonl"))"), float32 $(why "$rc2" "$t")"
        else
          line=$("$PY" - "$W/anchor-file.json" "$W/anchor-rescore-$DTYPE.jsonl" "$W/anchor-rescore-fp32.jsonl" \
                 "$TOKEN_BOUND" "$DTYPE" "$vocab" <<'PYEOF'
import json, sys
rows = json.load(open(sys.argv[1]))["rows"]
lo = [json.loads(l) for l in open(sys.argv[2]) if l.strip()]
hi = [json.loads(l) for l in open(sys.argv[3]) if l.strip()]
bound, dtype = float(sys.argv[4]), sys.argv[5]
assert len(rows) == len(lo) == len(hi), (len(rows), len(lo), len(hi))
seq = [abs(r["log_q"] - s["sum"]) for r, s in zip(rows, lo)]
per_tok = [d / r["length"] for d, r in zip(seq, rows)]
inf = [abs(r["log_q"] - r["log_pi_ref"]) for r in rows]
inf_tok = [d / r["length"] for d, r in zip(inf, rows)]
tok = [abs(a - b) for x, y in zip(lo, hi) for a, b in zip(x["logprobs"], y["logprobs"])]
seq32 = [abs(r["log_q"] - s["sum"]) / r["length"] for r, s in zip(rows, hi)]
ntok = sum(r["length"] for r in rows)
print(f"{len(rows)} sequences, {ntok} tokens (mean length {ntok / len(rows):.1f})")
print(f"sampler log q vs re-scored {dtype}: max |diff| {max(seq):.3e} per sequence, {max(per_tok):.3e} per token "
      f"(|diff| / length; mean {sum(per_tok) / len(per_tok):.3e}); bound {bound:g} per token")
print(f"sampler log q vs in-process teacher-forced log pi_ref (file): max {max(inf):.3e} per sequence, "
      f"{max(inf_tok):.3e} per token")
print(f"re-scored {dtype} vs float32, per token: max {max(tok):.3e}, mean {sum(tok) / len(tok):.3e}; "
      f"sampler log q vs float32: {max(seq32):.3e} per token (|diff| / length)")
ok = max(per_tok) <= bound
print(("PASS" if ok else "FAIL") + f" sampler vs re-scored {dtype}: {max(seq):.2e} per sequence, {max(per_tok):.2e} "
      f"per token (bound {bound:g}); {dtype} vs float32 per token max {max(tok):.2e} (mean {sum(tok) / len(tok):.1e}); "
      f"in-file vs log pi_ref {max(inf_tok):.2e} per token; {len(rows)} sequences, vocabulary {sys.argv[6]}")
PYEOF
)
          rc=$?
          echo "$line" | sed '$d'
          last=$(echo "$line" | tail -1)
          if [ "$rc" = 0 ] && [[ "$last" == PASS* ]]; then result PASS anchor "${last#PASS }"
          else result FAIL anchor "${last#FAIL }"; fi
        fi
      fi
    fi
  fi
fi

# --- step: 2 DISA training steps, world size 1 (and 2) ------------------------------------------
if wants train; then
  nps=(1)
  [ "$DEV" = cuda ] && [ "$GPUS" -ge 2 ] && nps+=(2)
  for np in "${nps[@]}"; do
    header "train: 2 steps of disa train --train.algorithm disa on $DEV, mpirun -np $np"
    if [ ! -x "$DISA" ]; then result FAIL "train-np$np" "no binary $DISA"; continue; fi
    if [ ! -f "$ANCHORS" ]; then result FAIL "train-np$np" "no partition file (the anchor step did not run or failed)"; continue; fi
    t=$(limit "$TRAIN_T")
    start=$(date +%s)
    run_t "$t" "$W/train-np$np.log" "${MPIRUN[@]}" -np "$np" "$DISA" train --config configs/tiny/train-disa.ini \
      --train.algorithm disa --train.model "$SMALL" --train.anchors "$ANCHORS" --train.out "$W/train-np$np" \
      "${TASK[@]}" "${TRAIN_SIZE[@]}" --train.max-new-tokens "$NEW" --train.steps 2 --train.log-every 1 \
      --train.exact-every 0 --train.device "$DEV"
    rc=$?
    secs=$(( $(date +%s) - start ))
    tail -15 "$W/train-np$np.log"
    if [ "$rc" = 0 ] && [ -f "$W/train-np$np/train.h5" ]; then
      "$DISA" inspect "$W/train-np$np/train.h5" 2>&1 | head -30
      last=$(grep -E "step +2/" "$W/train-np$np.log" | tail -1 | sed -E 's/.*info +//' | tr -s ' ')
      result PASS "train-np$np" "2 steps in $secs s (start-up included); ${last:-see log}"
    else
      result FAIL "train-np$np" "$(why "$rc" "$t") ($secs s); $(grep -m1 "disa:" "$W/train-np$np.log" | cut -c1-200)"
    fi
  done
  if [ "$DEV" = cuda ] && [ "$GPUS" -lt 2 ]; then echo "train: world size 2 not run ($GPUS GPU: two ranks would share one GPU, which NCCL refuses)"; fi
fi

# --- step: bench_model, 0.5B-shaped, bf16 ---------------------------------------------------------
if wants bench; then
  header "bench: bench_model, random Qwen2-$BENCH_SIZE shape, batches $BENCH_BATCHES, $DEV $DTYPE"
  if [ ! -x "$BENCH" ]; then
    result FAIL bench "no binary $BENCH"
  else
    # HBM bandwidth by GPU name (GB/s), else measured with a device-to-device copy
    case "$GPU_NAME" in
      *H200*) hbm=4800; hbm_src="table (H200)" ;;
      *H100*PCIe*) hbm=2000; hbm_src="table (H100 PCIe)" ;;
      *H100*NVL*) hbm=3900; hbm_src="table (H100 NVL)" ;;
      *H100*) hbm=3350; hbm_src="table (H100 SXM)" ;;
      *A100*80GB*) hbm=2000; hbm_src="table (A100 80GB)" ;;
      *) hbm=""; hbm_src="" ;;
    esac
    measured=""
    if [ "$DEV" = cuda ]; then
      measured=$(timeout "$(limit 40)" "$PY" - <<'PYEOF' 2>/dev/null | tail -1
import time, torch
x = torch.empty(1 << 30, dtype=torch.uint8, device="cuda")
y = torch.empty_like(x)
for _ in range(3):
    y.copy_(x)
torch.cuda.synchronize()
t = time.perf_counter()
for _ in range(20):
    y.copy_(x)
torch.cuda.synchronize()
print("%.0f" % (2 * x.numel() * 20 / (time.perf_counter() - t) / 1e9))
PYEOF
)
      echo "device-to-device copy: ${measured:-?} GB/s (bytes read + written)"
    fi
    if [ -n "${GPU_CHECK_HBM_GBS:-}" ]; then hbm=$GPU_CHECK_HBM_GBS; hbm_src="GPU_CHECK_HBM_GBS"
    elif [ -z "$hbm" ] && [ -n "$measured" ]; then hbm=$measured; hbm_src="measured copy"
    elif [ -z "$hbm" ]; then hbm=20; hbm_src="nominal 20 GB/s (no GPU: dry run)"; fi
    echo "HBM bandwidth for the roofline: $hbm GB/s ($hbm_src; GPU '${GPU_NAME:-?}')"
    t=$(limit 120)
    run_t "$t" "$W/bench.log" "$BENCH" --arch qwen2 --sizes "$BENCH_SIZE" --batches "$BENCH_BATCHES" --prompt 64 \
      --new 32 --nocache-steps 4 --device "$DEV" --dtype "$DTYPE" --hbm-gbs "$hbm"
    rc=$?
    cat "$W/bench.log"
    if [ "$rc" = 0 ] && grep -q "^roofline" "$W/bench.log"; then
      summary=$(awk -v size="$BENCH_SIZE" '$1 == size && $3 ~ /^[0-9]+$/ {printf "batch %s: prefill %s, decode %s, cached step %s tok/s; ", $3, $4, $5, $6}' "$W/bench.log")
      frac=$(grep "^roofline" "$W/bench.log" | sed -E 's/.*batch ([0-9]+):.*= ([0-9.]+)% of ([0-9]+) GB\/s; generate\(\) decode [0-9]+ GB\/s = ([0-9.]+)%.*/batch \1 \2% (generate \4%)/' | tr '\n' ' ')
      result PASS bench "${summary}roofline of $hbm GB/s ($hbm_src): $frac"
    else
      result FAIL bench "bench_model: $(why "$rc" "$t"); $(tail -1 "$W/bench.log")"
    fi
  fi
fi

# --- summary ---------------------------------------------------------------------------------------
echo
echo "=== summary: $(( ${#SUMMARY[@]} - FAILS )) PASS, $FAILS FAIL, $(elapsed) s (budget $BUDGET s) ==="
printf '%s\n' "${SUMMARY[@]}"
[ "$FAILS" = 0 ]
