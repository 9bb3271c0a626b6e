#!/usr/bin/env bash
# Bundles built binaries with the shared libraries they need (except the C library, the CUDA
# driver/toolkit libraries and NCCL, which the GPU machine provides) into one folder, so a build
# made on this machine runs on a GPU machine without the Debian packages installed there.
# Usage: scripts/bundle.sh DIR BINARY...   then there: source DIR/env.sh; DIR/bin/<name> ...
# The folder is compressed to DIR.tar.xz as well when it is larger than 48 MiB (unpack it there
# with `tar -xJf DIR.tar.xz`).
set -euo pipefail
[ $# -ge 2 ] || { echo "usage: scripts/bundle.sh DIR BINARY..." >&2; exit 2; }
dir=$1; shift
rm -rf "$dir" "$dir.tar.xz"; mkdir -p "$dir/bin" "$dir/lib"
skip='^(linux-vdso|ld-linux|libc\.|libm\.|libdl\.|libpthread\.|librt\.|libcuda\.|libcudart|libcublas|libnccl|libnvidia|libnvrtc|libcufft|libcurand)'
for b in "$@"; do
  [ -x "$b" ] || { echo "bundle: $b is not an executable" >&2; exit 1; }
  cp "$b" "$dir/bin/" && strip "$dir/bin/$(basename "$b")"
  ldd "$b" | awk '/=> \//{print $1" "$3}' | while read -r name path; do
    [[ $name =~ $skip ]] && continue
    [ -f "$dir/lib/$name" ] || cp -L "$path" "$dir/lib/$name"
  done
done
cat > "$dir/env.sh" <<'EOT'
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
export LD_LIBRARY_PATH="$here/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}" PATH="$here/bin:$PATH"
export NCCL_NVLS_ENABLE=${NCCL_NVLS_ENABLE:-0}
EOT
size=$(du -sm "$dir" | cut -f1)
if [ "$size" -gt 48 ]; then
  tar -C "$(dirname "$dir")" -cJf "$dir.tar.xz" "$(basename "$dir")"
  echo "bundle: $dir is ${size} MiB; compressed to $dir.tar.xz ($(du -sm "$dir.tar.xz" | cut -f1) MiB)"
else
  echo "bundle: $dir (${size} MiB)"
fi
