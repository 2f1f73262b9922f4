#!/usr/bin/env bash
# Makes .gpu-prefix/: the libraries disa builds against that a lent GPU machine lacks (Open
# MPI, parallel HDF5, Boost.Program_options, fmt, spdlog, nlohmann_json, PCRE2, ICU,
# GoogleTest, pkgconf), taken from Debian 12's packages, for jobs/gpu-check.sh.
# Run it HERE (a Debian 12 machine with apt and network); carry .gpu-prefix with the
# repository (docs/hpc.md, "GPU check").
#
#   tools/make-gpu-prefix.sh            download (apt-get download), unpack (dpkg -x), prune,
#                                       pack .gpu-prefix/prefix.tar.xz, check closure and size
#   tools/make-gpu-prefix.sh --verify   the same, then check the unpacked prefix with the
#                                       system's own packages hidden (root: a private mount
#                                       namespace): relocated ompi_info, an MPI + parallel
#                                       HDF5 program built with the prefix's mpicc and run by
#                                       the prefix's mpirun on 2 ranks
#   tools/make-gpu-prefix.sh --verify-only   only that check, of the tree already unpacked
#   tools/make-gpu-prefix.sh --run-hidden CMD [ARGS...]   that check, then CMD in the same
#                                       namespace with env.sh sourced (e.g. bash jobs/gpu-check.sh,
#                                       to configure and build disa against the prefix alone)
#
# What .gpu-prefix/ holds (gitignored):
#   prefix.tar.xz   the tree (usr/..., etc/..., fallback/, env.sh): xz keeps ICU's 31 MB
#                   data library at 7.5 MB; jobs/gpu-check.sh unpacks it (tar, or Python's
#                   tarfile where there is no xz) into DISA_GPU_PREFIX_ROOT
#   env.sh          also inside the tree: `source ROOT/env.sh` sets PATH, CMAKE_PREFIX_PATH,
#                   HDF5_ROOT, PKG_CONFIG_*, OPAL_* / PMIX_* (relocated Open MPI and PMIx) and
#                   LD_LIBRARY_PATH, and DISA_PREFIX_CMAKE_ARGS for disa's configure step
#   MANIFEST.txt    packages and versions, the glibc / libstdc++ symbol versions the
#                   libraries need, sizes
#
# Two kinds of library: "core" ones (sonames of this stack only: libmpi.so.40, libhdf5_openmpi,
# libicu*.so.72, libfmt.so.9, ...) always go on LD_LIBRARY_PATH; "fallback" ones (sonames
# most systems have: libz, libcurl, libssl/libcrypto, libpcre2-8, ...) live in fallback/ and
# env.sh puts on LD_LIBRARY_PATH only those the host lacks (ldconfig -p), so that the host's
# own programs keep their own copies.
# Assumption about the GPU machine: x86_64 Linux with glibc >= the version MANIFEST.txt names
# (2.36 for Debian 12's libraries: libevent_core uses arc4random; so Debian 12+, Ubuntu
# 23.04+/24.04, RHEL 10 -- not Ubuntu 22.04 or RHEL 9) and a libstdc++ of GCC >= 12
# (GLIBCXX_3.4.30). jobs/gpu-check.sh checks both first and says so when they are not.
#
# Environment: DISA_GPU_PREFIX_DIR   output (default .gpu-prefix in the checkout)
#              DISA_GPU_PREFIX_DEBS  download cache of the .deb files (default /tmp/disa-gpu-prefix-debs)
#              DISA_GPU_PREFIX_ROOT  where the tree is unpacked for --verify (default /tmp/disa-gpu-prefix)
#              DISA_GPU_PREFIX_MAX_MB  the size .gpu-prefix/ must stay under (default 40)
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
out="${DISA_GPU_PREFIX_DIR:-$root/.gpu-prefix}"
debs="${DISA_GPU_PREFIX_DEBS:-/tmp/disa-gpu-prefix-debs}"
unpacked="${DISA_GPU_PREFIX_ROOT:-/tmp/disa-gpu-prefix}"
max_mb="${DISA_GPU_PREFIX_MAX_MB:-40}"
verify=0
make=1
hidden_cmd=()
while [ $# -gt 0 ]; do
  case "$1" in
    --verify) verify=1 ;;
    --verify-only) verify=1; make=0 ;;
    --run-hidden) verify=1; make=0; shift; hidden_cmd=("$@"); break ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d'; exit 0 ;;
    *) echo "make-gpu-prefix: unknown argument '$1' (--verify, --verify-only, --run-hidden CMD..., --help)" >&2
       exit 2 ;;
  esac
  shift
done
arch=x86_64-linux-gnu

# --- the packages (Debian 12 "bookworm" names) -----------------------------------------
# core: this stack's libraries, their headers and CMake/pkg-config files, mpirun and mpicc.
core=(
  openmpi-bin openmpi-common libopenmpi3 libopenmpi-dev
  libpmix2 libhwloc15 libevent-core-2.1-7 libevent-pthreads-2.1-7 libmunge2
  libhdf5-openmpi-103-1 libhdf5-openmpi-dev
  libboost-program-options1.74.0 libboost-program-options1.74-dev libboost1.74-dev
  libfmt9 libfmt-dev libspdlog1.10 libspdlog-dev nlohmann-json3-dev
  libicu72 libicu-dev libpcre2-dev libgtest-dev pkgconf-bin
)
# fallback: runtime libraries most systems already have (used only where the host lacks the
# soname): libhdf5's libcurl (its unused ROS3 driver) and libcrypto with their closure, szip,
# zlib, PCRE2's runtime, pkgconf's library, hwloc's libudev.
fallback=(
  libcurl4 libnghttp2-14 libidn2-0 libunistring2 librtmp1 libgnutls30 libhogweed6 libnettle8
  libgmp10 libp11-kit0 libffi8 libtasn1-6 libssh2-1 libpsl5 libssl3 libgssapi-krb5-2 libkrb5-3
  libk5crypto3 libkrb5support0 libcom-err2 libkeyutils1 libldap-2.5-0 libsasl2-2 libzstd1
  libbrotli1 zlib1g libsz2 libaec0 libpcre2-8-0 libpkgconf3 libudev1
)
# What every glibc system has (never packed): the dynamic loader, glibc's libraries, libgcc_s
# and libstdc++.
baseline_re='^(linux-vdso\.so\.1|ld-linux-x86-64\.so\.2|libc\.so\.6|libm\.so\.6|libdl\.so\.2|libpthread\.so\.0|librt\.so\.1|libutil\.so\.1|libresolv\.so\.2|libanl\.so\.1|libgcc_s\.so\.1|libstdc\+\+\.so\.6)$'

command -v apt-get >/dev/null && command -v dpkg-deb >/dev/null || {
  echo "make-gpu-prefix: needs apt-get and dpkg-deb (a Debian 12 machine)" >&2; exit 1; }
. /etc/os-release
if [ "${VERSION_CODENAME:-}" != bookworm ]; then
  echo "make-gpu-prefix: warning: this is ${PRETTY_NAME:-an unknown system}, not Debian 12 (bookworm):" \
       "the package names above are bookworm's" >&2
fi

make_prefix() {
# --- download ----------------------------------------------------------------------------
mkdir -p "$debs"
all=("${core[@]}" "${fallback[@]}")
want=()
for p in "${all[@]}"; do
  v=$(apt-cache policy "$p" | awk '/Candidate:/ {print $2}')
  if [ -z "$v" ] || [ "$v" = "(none)" ]; then
    echo "make-gpu-prefix: apt knows no candidate for $p (apt-get update?)" >&2; exit 1
  fi
  # the file name apt-get download writes: epoch ':' as %3a
  f="${p}_${v//:/%3a}_"
  if ! ls "$debs/$f"*.deb >/dev/null 2>&1; then want+=("$p=$v"); fi
done
if [ ${#want[@]} -gt 0 ]; then
  echo "make-gpu-prefix: apt-get download ${#want[@]} packages into $debs"
  (cd "$debs" && apt-get download -q "${want[@]}" 2>&1 | grep -v "^W: Download is performed unsandboxed" || true)
fi
deb_of() {  # newest downloaded .deb of a package
  local v
  v=$(apt-cache policy "$1" | awk '/Candidate:/ {print $2}')
  ls "$debs/${1}_${v//:/%3a}_"*.deb 2>/dev/null | head -1
}

# --- unpack ----------------------------------------------------------------------------------
stage=$(mktemp -d /tmp/disa-gpu-prefix-stage.XXXXXX)
trap 'rm -rf "$stage"' EXIT
tree="$stage/tree"
fb="$stage/fallback-unpack"
mkdir -p "$tree" "$fb"
manifest_pkgs=()
for p in "${core[@]}"; do
  d=$(deb_of "$p"); [ -n "$d" ] || { echo "make-gpu-prefix: $p was not downloaded" >&2; exit 1; }
  dpkg-deb -x "$d" "$tree"
  manifest_pkgs+=("core      $(basename "$d")")
done
for p in "${fallback[@]}"; do
  d=$(deb_of "$p"); [ -n "$d" ] || { echo "make-gpu-prefix: $p was not downloaded" >&2; exit 1; }
  dpkg-deb -x "$d" "$fb"
  manifest_pkgs+=("fallback  $(basename "$d")")
done

# --- prune -----------------------------------------------------------------------------------
cd "$tree"
rm -rf usr/share/doc usr/share/man usr/share/info usr/share/lintian usr/share/bug usr/share/locale \
       usr/share/doc-base usr/share/java usr/share/javascript usr/share/gdb usr/share/bash-completion \
       usr/lib/$arch/fortran usr/lib/$arch/openmpi/lib/openmpi3/*java* usr/lib/$arch/icu \
       usr/share/icu usr/share/aclocal usr/share/pkgconfig/*java* usr/share/vim 2>/dev/null || true
# static libraries (the ICU ones alone are 40 MB), except GoogleTest's (its CMake targets are
# static)
find . -name '*.a' ! -name 'libgtest*.a' ! -name 'libgmock*.a' -delete
# Fortran, Java, OpenSHMEM, HDF5's C++/HL/Fortran libraries: disa uses MPI's C/C++ and HDF5's C API
find . \( -name '*fortran*' -o -name '*mpifh*' -o -name '*usempi*' -o -name 'libmpi_java*' -o -name '*oshmem*' \
          -o -name '*.mod' -o -name 'libhdf5_openmpi_cpp*' -o -name 'libhdf5_openmpi_hl*' -o -name '*ompitrace*' \
          -o -name 'libhdf5_hl*' -o -name 'libhdf5_cpp*' -o -name 'libhdf5hl*' \) -prune -exec rm -rf {} +
# programs: keep the MPI launcher, its compiler wrappers, ompi_info and pkgconf (not h5pcc: its
# paths are fixed at /usr; with HDF5_ROOT set, CMake's FindHDF5 reads the headers instead)
find usr/bin -mindepth 1 \( -name 'mpirun*' -o -name 'mpiexec*' -o -name 'orterun' -o -name 'orted' \
     -o -name 'opal_wrapper' -o -name 'mpicc*' -o -name 'mpicxx*' -o -name 'mpic++*' -o -name 'mpiCC*' \
     -o -name 'ompi_info' -o -name 'orte-info' -o -name 'pkgconf' \) -prune -o -exec rm -rf {} + 2>/dev/null || true
# Boost: only the headers that boost/program_options.hpp includes (with every configuration
# header, which depends on the compiler), out of 140 MB.
boost_keep="$stage/boost-keep"
printf '#include <boost/program_options.hpp>\n' > "$stage/po.cpp"
: > "$boost_keep"
for std in c++17 c++20; do
  "${CXX:-g++}" -std=$std -M -isystem "$tree/usr/include" "$stage/po.cpp" -o "$stage/po.d"
  tr ' \\' '\n\n' < "$stage/po.d" | grep "^$tree/usr/include/boost/" | sed "s|^$tree/usr/include/||" >> "$boost_keep"
done
(cd usr/include && find boost/config boost/predef boost/detail -type f 2>/dev/null) >> "$boost_keep"
sort -u -o "$boost_keep" "$boost_keep"
(cd usr/include && find boost -type f | sort > "$stage/boost-all")
comm -23 "$stage/boost-all" "$boost_keep" | (cd usr/include && xargs -r rm -f)
find usr/include/boost -type d -empty -delete
# Boost's CMake packages: only program_options' and the headers' (+ BoostConfig, BoostDetect)
find usr/lib/$arch/cmake -maxdepth 1 -type d -name 'boost_*' ! -name 'boost_program_options-*' \
     ! -name 'boost_headers-*' -exec rm -rf {} +
# The alternatives links Debian's postinst scripts would create, relative.
ln -sf mpirun.openmpi usr/bin/mpirun
ln -sf mpiexec.openmpi usr/bin/mpiexec
ln -sf mpicc.openmpi usr/bin/mpicc
ln -sf mpicxx.openmpi usr/bin/mpicxx
# Absolute symbolic links -> relative ones inside the tree (or removed when dangling).
relink() {  # relink DIR
  local l t
  while IFS= read -r -d '' l; do
    t=$(readlink "$l")
    case "$t" in
      /*) ln -sfn "$(realpath -m --relative-to="$(dirname "$l")" "$1$t")" "$l" ;;
    esac
  done < <(find "$1" -type l -print0)
}
relink "$tree"

# --- fallback/: the common runtime libraries, flat ------------------------------------------
mkdir -p "$tree/fallback"
relink "$fb"
find "$fb" \( -path "*/lib/$arch/*" -o -path "*/lib/*" \) -maxdepth 4 -name '*.so.*' \( -type f -o -type l \) \
     -exec cp -a {} "$tree/fallback/" \;
# their links point to files copied beside them
find "$tree/fallback" -type l -print0 | while IFS= read -r -d '' l; do
  ln -sfn "$(basename "$(readlink "$l")")" "$l"
done
# Development links of the core packages to a runtime library that went to fallback/
# (libpcre2-8.so -> libpcre2-8.so.0.11.2) point there; other links left dangling by the
# pruning are removed.
find "$tree" -path "$tree/fallback" -prune -o -xtype l -print0 | while IFS= read -r -d '' l; do
  t=$(basename "$(readlink "$l")")
  if [ -e "$tree/fallback/$t" ]; then
    ln -sfn "$(realpath -m --relative-to="$(dirname "$l")" "$tree/fallback/$t")" "$l"
  else
    rm -f "$l"
  fi
done
find "$tree" -type d -empty -delete

# --- dependency closure of every ELF file -----------------------------------------------
# Every NEEDED soname must be in the tree (core or fallback) or in the baseline. Open MPI,
# PMIx and hwloc plugins (dlopen'ed, optional) whose dependencies are absent are removed:
# those of InfiniBand verbs, UCX, libfabric, PSM, CUDA (a single-node shared-memory MPI
# needs none of them).
provided="$stage/provided"
find "$tree" \( -type f -o -type l \) -name '*.so*' -printf '%f\n' | sort -u > "$provided"
is_elf() { [ "$(head -c 4 "$1" 2>/dev/null | od -An -c | tr -d ' ')" = '177ELF' ]; }
needed_missing() {  # FILE -> the NEEDED sonames neither provided nor baseline
  readelf -d "$1" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | while read -r so; do
    grep -qxF "$so" "$provided" || [[ "$so" =~ $baseline_re ]] || echo "$so"
  done
}
removed_plugins=()
for pass in 1 2 3 4 5; do  # until nothing more is removed (a plugin may need a removed one)
  removed_now=0
  while IFS= read -r -d '' f; do
    is_elf "$f" || continue
    miss=$(needed_missing "$f" | tr '\n' ' ')
    [ -z "$miss" ] && continue
    case "$f" in
      */openmpi3/mca_*|*/libmca_common_*|*/pmix/pmix_mca_*|*/hwloc/hwloc_*)
        removed_plugins+=("$(basename "$f") (${miss% })"); rm -f "$f"; removed_now=1 ;;
      *) if [ "$pass" = 5 ] || [ "$removed_now" = 0 ]; then
           echo "make-gpu-prefix: $f needs ${miss% }, which is neither packed nor assumed on the" \
                "host: add its package" >&2
           exit 1
         fi ;;
    esac
  done < <(find "$tree" -type f -print0)
  find "$tree" -xtype l -delete
  find "$tree" \( -type f -o -type l \) -name '*.so*' -printf '%f\n' | sort -u > "$provided"
  [ "$removed_now" = 0 ] && break
done
# Fallback libraries nobody in the tree needs (the closure above is by package; keep only what
# the core needs, directly or through another fallback library).
used="$stage/used"
: > "$used"
while IFS= read -r -d '' f; do
  is_elf "$f" || continue
  readelf -d "$f" 2>/dev/null | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' >> "$used"
done < <(find "$tree" -path "$tree/fallback" -prune -o -type f -print0)
# and the libraries that development links point to (libpcre2-8.so: disa itself links it)
find "$tree" -path "$tree/fallback" -prune -o -type l -lname '*fallback/*' -print0 | while IFS= read -r -d '' l; do
  readelf -d "$l" 2>/dev/null | sed -n 's/.*(SONAME).*\[\(.*\)\]/\1/p'
done >> "$used"
sort -u -o "$used" "$used"
for _ in 1 2 3 4 5 6; do  # fallback libraries needed by needed fallback libraries
  for so in $(cat "$used"); do
    if [ -e "$tree/fallback/$so" ]; then
      readelf -d "$tree/fallback/$so" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p'
    fi
  done | cat - "$used" | sort -u > "$used.new"
  mv "$used.new" "$used"
done
for f in "$tree"/fallback/*; do
  b=$(basename "$f")
  [ -L "$f" ] && continue
  keep=0
  for l in "$tree"/fallback/*; do  # a real file is kept when it or a link to it is a used soname
    if { [ "$l" = "$f" ] || [ "$(readlink "$l")" = "$b" ]; } && grep -qxF "$(basename "$l")" "$used"; then keep=1; fi
  done
  [ "$keep" = 1 ] || rm -f "$f"
done
find "$tree/fallback" -xtype l -delete
# The symbol versions the host's glibc and libstdc++ must provide.
versions="$stage/versions"
find "$tree" -type f \( -name '*.so*' -o -path '*/bin/*' \) -print0 | while IFS= read -r -d '' f; do
  if is_elf "$f"; then objdump -T "$f" 2>/dev/null | grep -oE 'GLIBC(XX)?_[0-9.]+' || true; fi
done | sort -u > "$versions"
glibc_max=$(grep '^GLIBC_' "$versions" | sort -t. -k2,2n | tail -1)
glibcxx_max=$(grep '^GLIBCXX_' "$versions" | sort -t. -k3,3n | tail -1)

# --- env.sh ----------------------------------------------------------------------------------
cat > "$tree/env.sh" <<'ENV'
# Sourced (bash): the environment of the relocated prefix this file lies in (made by
# tools/make-gpu-prefix.sh). Sets PATH, CMAKE_PREFIX_PATH, HDF5_ROOT, PKG_CONFIG_*,
# the OPAL_* and PMIX_* installation directories of the relocated Open MPI and PMIx,
# LD_LIBRARY_PATH (the core libraries, and those fallback ones the host lacks), and
# DISA_PREFIX_CMAKE_ARGS (an array: disa's configure arguments for this prefix).
DISA_PREFIX="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
_a=x86_64-linux-gnu
_u="$DISA_PREFIX/usr"
export DISA_PREFIX
export PATH="$_u/bin:$PATH"
export CMAKE_PREFIX_PATH="$_u${CMAKE_PREFIX_PATH:+:$CMAKE_PREFIX_PATH}"
export HDF5_ROOT="$_u/lib/$_a/hdf5/openmpi"
# Open MPI 4.1 (Debian's layout, relocated): every installation directory by its variable
export OPAL_PREFIX="$_u" OPAL_EXEC_PREFIX="$_u" OPAL_BINDIR="$_u/bin" OPAL_SBINDIR="$_u/sbin"
export OPAL_LIBEXECDIR="$_u/libexec" OPAL_DATAROOTDIR="$_u/share" OPAL_DATADIR="$_u/share"
export OPAL_SYSCONFDIR="$DISA_PREFIX/etc/openmpi" OPAL_LIBDIR="$_u/lib/$_a/openmpi/lib"
export OPAL_INCLUDEDIR="$_u/lib/$_a/openmpi/include" OPAL_PKGDATADIR="$_u/share/openmpi"
export OPAL_PKGLIBDIR="$_u/lib/$_a/openmpi/lib/openmpi3"
export OPAL_PKGINCLUDEDIR="$_u/lib/$_a/openmpi/include/openmpi"
export OPAL_MANDIR="$_u/share/man" OPAL_INFODIR="$_u/share/info"
export OPAL_SHAREDSTATEDIR="$_u/com" OPAL_LOCALSTATEDIR=/var
# PMIx 4 (Open MPI's launcher protocol), relocated likewise
_p="$_u/lib/$_a/pmix2"
export PMIX_PREFIX="$_p" PMIX_EXEC_PREFIX="$_p" PMIX_LIBDIR="$_p/lib" PMIX_PKGLIBDIR="$_p/lib/pmix"
export PMIX_DATADIR="$_p/share" PMIX_DATAROOTDIR="$_p/share" PMIX_PKGDATADIR="$_p/share/pmix"
export PMIX_SYSCONFDIR="$_p/etc" PMIX_INCLUDEDIR="$_p/include" PMIX_BINDIR="$_p/bin"
# Only shared memory and self between ranks (the packed Open MPI has no verbs/UCX/OFI
# plugins); quiet about plugins that are absent.
export OMPI_MCA_pml="${OMPI_MCA_pml:-ob1}" OMPI_MCA_btl="${OMPI_MCA_btl:-self,vader}"
export OMPI_MCA_mca_base_component_show_load_errors="${OMPI_MCA_mca_base_component_show_load_errors:-0}"
# Without ssh or rsh, mpirun refuses to start ("plm_rsh_agent ... could not be found") even on
# one node: the "isolated" launcher starts local ranks only and needs neither.
if ! command -v ssh >/dev/null 2>&1 && ! command -v rsh >/dev/null 2>&1; then
  export OMPI_MCA_plm="${OMPI_MCA_plm:-isolated}"
fi
# pkg-config: the prefix's pkgconf and .pc files only; their /usr paths land in the prefix
export PKG_CONFIG_LIBDIR="$_u/lib/$_a/pkgconfig:$_u/share/pkgconfig"
export PKG_CONFIG_SYSROOT_DIR="$DISA_PREFIX"
# Fallback libraries: only the sonames the host does not have.
_fb_active="$DISA_PREFIX/fallback-active"
rm -rf "$_fb_active" && mkdir -p "$_fb_active"
_ldc=$(command -v ldconfig || echo /sbin/ldconfig)
_host_sonames=$("$_ldc" -p 2>/dev/null | awk 'NR > 1 {print $1}')
DISA_PREFIX_FALLBACK_USED=""
for _f in "$DISA_PREFIX"/fallback/*.so.*; do
  [ -e "$_f" ] || continue
  _s=$(basename "$_f")
  case "$_s" in *.so.*.*) continue ;; esac  # the soname links only (libz.so.1, not libz.so.1.2.13)
  if ! printf '%s\n' "$_host_sonames" | grep -qxF "$_s"; then
    ln -sf "$_f" "$_fb_active/$_s"
    DISA_PREFIX_FALLBACK_USED="$DISA_PREFIX_FALLBACK_USED $_s"
  fi
done
export DISA_PREFIX_FALLBACK_USED
export LD_LIBRARY_PATH="$_u/lib/$_a:$_u/lib/$_a/openmpi/lib:$_p/lib:$_fb_active${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
# Configure arguments for disa: the prefix's MPI wrappers, HDF5 without its (unrelocatable)
# h5pcc wrapper, pkgconf, and rpath-link to the fallback folder for the linker.
DISA_PREFIX_CMAKE_ARGS=(
  "-DMPI_C_COMPILER=$_u/bin/mpicc" "-DMPI_CXX_COMPILER=$_u/bin/mpicxx"
  "-DMPIEXEC_EXECUTABLE=$_u/bin/mpirun"
  "-DHDF5_ROOT=$HDF5_ROOT" "-DHDF5_NO_FIND_PACKAGE_CONFIG_FILE=ON"
  "-DPKG_CONFIG_EXECUTABLE=$_u/bin/pkgconf"
  "-DCMAKE_EXE_LINKER_FLAGS=-Wl,-rpath-link,$DISA_PREFIX/fallback -Wl,-rpath-link,$_u/lib/$_a -Wl,-rpath-link,$_u/lib/$_a/openmpi/lib"
  "-DCMAKE_SHARED_LINKER_FLAGS=-Wl,-rpath-link,$DISA_PREFIX/fallback -Wl,-rpath-link,$_u/lib/$_a -Wl,-rpath-link,$_u/lib/$_a/openmpi/lib"
)
unset _a _u _p _f _s _fb_active _ldc _host_sonames
ENV

# --- manifest, pack, size --------------------------------------------------------------------
{
  echo "disa GPU prefix, made $(date -u +%Y-%m-%dT%H:%M:%SZ) on $(. /etc/os-release; echo "$PRETTY_NAME")"
  echo "glibc_max $glibc_max"
  echo "glibcxx_max $glibcxx_max"
  echo "unpacked_kib $(du -sk "$tree" | cut -f1)"
  echo "packages:"
  printf '  %s\n' "${manifest_pkgs[@]}"
  echo "fallback libraries (used only where the host lacks them):"
  (cd "$tree/fallback" && ls) | sed 's/^/  /'
  echo "plugins removed (dependencies not packed):"
  printf '  %s\n' "${removed_plugins[@]}"
} > "$tree/MANIFEST.txt"
tree_kb=$(du -sk "$tree" | cut -f1)
mkdir -p "$out"
rm -f "$out/prefix.tar.xz" "$out/env.sh" "$out/MANIFEST.txt"
echo "make-gpu-prefix: packing $(( tree_kb / 1024 )) MiB (xz)"
tar -C "$tree" -cf - . | xz -T0 -6 > "$out/prefix.tar.xz"
cp "$tree/env.sh" "$out/env.sh"
{ cat "$tree/MANIFEST.txt"; echo "prefix.tar.xz sha256 $(sha256sum "$out/prefix.tar.xz" | cut -d' ' -f1)"; } > "$out/MANIFEST.txt"
size_kb=$(du -sk "$out" | cut -f1)
echo "make-gpu-prefix: $out: $(( size_kb / 1024 )).$(( (size_kb % 1024) * 10 / 1024 )) MiB" \
     "(unpacked $(( tree_kb / 1024 )) MiB; needs GLIBC ${glibc_max#GLIBC_}, ${glibcxx_max});" \
     "${#removed_plugins[@]} plugins removed; fallback: $(find "$tree/fallback" -name '*.so.[0-9]' -o -name '*.so.[0-9][0-9]' | wc -l) sonames"
if [ "$size_kb" -gt $(( max_mb * 1024 )) ]; then
  echo "make-gpu-prefix: $out is over $max_mb MiB: the device machine takes 64 MiB in all" \
       "(repository included)" >&2
  exit 1
fi

# --- the unpacked copy, and --verify ----------------------------------------------------------
rm -rf "$unpacked" && mkdir -p "$unpacked"
tar -C "$unpacked" -xJf "$out/prefix.tar.xz"
echo "make-gpu-prefix: unpacked into $unpacked (source $unpacked/env.sh)"
}
if [ "$make" = 1 ]; then make_prefix; fi
[ -f "$unpacked/env.sh" ] || { echo "make-gpu-prefix: no prefix unpacked in $unpacked" >&2; exit 1; }
[ "$verify" = 1 ] || exit 0

# The check runs in a private mount namespace in which the system's own copies of the
# packed packages are hidden (an overlay of /usr whose upper layer holds whiteouts of their
# files), so that anything found comes from the prefix.
if [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null; then
  echo "make-gpu-prefix: --verify needs root and unshare (mount namespace)" >&2; exit 1
fi
vdir=$(mktemp -d /tmp/disa-gpu-prefix-verify.XXXXXX)
mkdir -p "$vdir/white/usr" "$vdir/white/etc" "$vdir/work"
hidden=0
# Whole folders of those packages are hidden as one whiteout each; the other files one by one.
# The fallback packages stay visible: the system's own programs (mkdir, grep, cmake) load
# them, and env.sh then takes the host's copies, as it would on a GPU machine that has them.
whole=(/usr/include/boost /usr/include/unicode /usr/include/hdf5 /usr/include/nlohmann /usr/include/fmt
       /usr/include/spdlog /usr/include/gtest /usr/include/gmock /usr/lib/x86_64-linux-gnu/openmpi /usr/lib/x86_64-linux-gnu/hdf5
       /usr/lib/x86_64-linux-gnu/pmix2 /usr/lib/x86_64-linux-gnu/cmake/fmt /usr/lib/x86_64-linux-gnu/cmake/spdlog /usr/lib/x86_64-linux-gnu/cmake/GTest
       /usr/share/openmpi /usr/share/pmix /usr/share/cmake/nlohmann_json /usr/share/hwloc)
for d in /usr/lib/$arch/cmake/boost_* /usr/lib/$arch/cmake/Boost*; do whole+=("$d"); done
for d in "${whole[@]}"; do
  [ -e "$d" ] || continue
  mkdir -p "$vdir/white$(dirname "$d")"
  mknod "$vdir/white$d" c 0 0 && hidden=$((hidden + 1))
done
for p in "${core[@]}" hdf5-tools libhdf5-dev libhdf5-103-1 libhdf5-openmpi-fortran-102 \
         libhdf5-openmpi-cpp-103-1 libhdf5-openmpi-hl-100 libhdf5-openmpi-hl-cpp-100 libhdf5-openmpi-hl-fortran-100 \
         libboost-program-options-dev libpmix-dev libhwloc-dev libevent-dev pkgconf pkg-config \
         libucx0 libfabric1 libibverbs1 librdmacm1 libpsm2-2 libpsm-infinipath1 libhwloc-plugins; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || continue
  while IFS= read -r f; do
    case "$f" in /usr/*) ;; *) continue ;; esac
    for d in "${whole[@]}"; do case "$f" in "$d"|"$d"/*) continue 2 ;; esac; done
    [ -d "$f" ] && [ ! -L "$f" ] && continue
    [ -e "$f" ] || [ -L "$f" ] || continue
    mkdir -p "$vdir/white$(dirname "$f")"
    mknod "$vdir/white$f" c 0 0 2>/dev/null && hidden=$((hidden + 1))
  done < <(dpkg -L "$p")
done
# the alternatives links (/usr/bin/mpirun -> /etc/alternatives/mpirun -> ...)
for l in /usr/bin/mpirun /usr/bin/mpiexec /usr/bin/mpicc /usr/bin/mpicxx /usr/bin/mpic++ /usr/bin/h5pcc \
         /usr/bin/h5cc /usr/bin/pkg-config /usr/bin/orterun /usr/bin/ompi_info; do
  [ -e "$l" ] || [ -L "$l" ] || continue
  [ -e "$vdir/white$l" ] || { mknod "$vdir/white$l" c 0 0 && hidden=$((hidden + 1)); }
done
echo "make-gpu-prefix: verify: hiding $hidden system files and folders of those packages"
cat > "$vdir/h5mpi.c" <<'C'
#include <hdf5.h>
#include <mpi.h>
#include <stdio.h>
int main(int argc, char** argv) {
  MPI_Init(&argc, &argv);
  int rank, size;
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  hid_t fapl = H5Pcreate(H5P_FILE_ACCESS);
  H5Pset_fapl_mpio(fapl, MPI_COMM_WORLD, MPI_INFO_NULL);
  hid_t f = H5Fcreate(argv[1], H5F_ACC_TRUNC, H5P_DEFAULT, fapl);
  hsize_t n = (hsize_t)size;
  hid_t space = H5Screate_simple(1, &n, NULL);
  hid_t d = H5Dcreate2(f, "ranks", H5T_NATIVE_INT, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
  hsize_t off = (hsize_t)rank, one = 1;
  H5Sselect_hyperslab(space, H5S_SELECT_SET, &off, NULL, &one, NULL);
  hid_t mem = H5Screate_simple(1, &one, NULL);
  hid_t x = H5Pcreate(H5P_DATASET_XFER);
  H5Pset_dxpl_mpio(x, H5FD_MPIO_COLLECTIVE);
  herr_t st = H5Dwrite(d, H5T_NATIVE_INT, mem, space, x, &rank);
  H5Pclose(x); H5Sclose(mem); H5Sclose(space); H5Dclose(d); H5Fclose(f); H5Pclose(fapl);
  int sum = 0;
  MPI_Allreduce(&rank, &sum, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
  if (rank == 0) printf("h5mpi: %d ranks, rank sum %d, collective write %s\n", size, sum, st < 0 ? "FAILED" : "ok");
  MPI_Finalize();
  return st < 0 || sum != size * (size - 1) / 2;
}
C
cat > "$vdir/check.sh" <<CHECK
set -euo pipefail
mount -t overlay overlay -o lowerdir=$vdir/white/usr:/usr /usr
source "$unpacked/env.sh"
echo "verify: system copies hidden: \$(ls /usr/lib/$arch/libmpi.so.40 /usr/bin/mpirun /usr/include/hdf5 2>&1 | tr '\n' ' ')"
echo "verify: mpirun = \$(command -v mpirun); fallback libraries used here:\${DISA_PREFIX_FALLBACK_USED:- none}"
ompi_info --path all | grep -E 'Prefix|Libdir|Pkglibdir|Sysconfdir|Pkgdatadir' | head -5
mpicc -showme
# linked also against every other library disa links, by their development links
mpicc -o $vdir/h5mpi $vdir/h5mpi.c -I\$HDF5_ROOT/include -L\$HDF5_ROOT/lib -L\$DISA_PREFIX/usr/lib/x86_64-linux-gnu -lhdf5 -lpcre2-8 -licui18n -licuuc \\
  -lfmt -lspdlog -lboost_program_options -Wl,-rpath-link,\$DISA_PREFIX/fallback
echo "verify: h5mpi links \$(readelf -d $vdir/h5mpi | sed -n 's/.*NEEDED.*\\[\\(.*\\)\\]/\\1/p' | tr '\\n' ' ')"
flags="--oversubscribe --bind-to none"; [ "\$(id -u)" = 0 ] && flags="\$flags --allow-run-as-root"
mpirun \$flags -np 2 $vdir/h5mpi $vdir/test.h5
mpirun \$flags -np 2 sh -c 'echo "rank \$OMPI_COMM_WORLD_RANK of \$OMPI_COMM_WORLD_SIZE: \$(ldd $vdir/h5mpi | grep -E "libmpi.so|libhdf5" | tr -s " \t" " ")"'
CHECK
if [ ${#hidden_cmd[@]} -gt 0 ]; then
  { printf 'echo "make-gpu-prefix: running in the namespace:"'; printf ' %q' "${hidden_cmd[@]}"; echo
    printf '%q ' "${hidden_cmd[@]}"; echo; } >> "$vdir/check.sh"
fi
rc=0
unshare -m --propagation private bash "$vdir/check.sh" || rc=$?
rm -rf "$vdir"
if [ ${#hidden_cmd[@]} -gt 0 ]; then echo "make-gpu-prefix: verify + command: exit status $rc"
elif [ $rc = 0 ]; then echo "make-gpu-prefix: verify: PASS"
else echo "make-gpu-prefix: verify: FAIL"; fi
exit $rc
