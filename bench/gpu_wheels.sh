#!/usr/bin/env bash
# What a device call carries (`run` with carry [".whl", ".anchor"]; both folders are ignored by git):
#   .whl/     the wheels the GPU image lacks (../shared/FACTS.md, "Checked 2026-12-04"), for Python 3.12 on x86_64
#   .whl/u/   Unsloth's own stack for bench/anchor_unsloth.py (it pins trl<=1.15, datasets<5), its wheel without
#             the 24 MB web UI (studio/), so that everything carried stays under the 64 MiB limit
#   .anchor/  a copy of ../shared/anchors (the hand-written TRL scripts the bench runs)
# On the device: pip install --no-index --no-deps --target /tmp/site .whl/*.whl (and .whl/u/*.whl into /tmp/site_u).
set -euo pipefail
cd "$(dirname "$0")/.."
PIP="${PIP:-python3 -m pip}"
get() {  # get DIR REQUIREMENT...: wheels only, for the GPU machine's Python and platform, without dependencies
    local dir=$1
    shift
    $PIP download -q --no-deps --only-binary=:all: --python-version 3.12 --platform manylinux2014_x86_64 \
        --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 --platform any -d "$dir" "$@"
}
mkdir -p .whl/u .anchor
get .whl trl==1.16.0 datasets==5.2.0 dill==0.4.1 multiprocess==0.70.19 liger-kernel==0.8.5 peft==0.21.2 \
    pydantic==2.14.4 pydantic-core==2.50.5 annotated-types typing-inspection typing-extensions==4.16.0 \
    fsspec==2026.9.0 gguf==0.19.0
get .whl/u unsloth==2026.10.9 unsloth_zoo==2026.10.9 trl==1.15.0 datasets==4.8.5 dill==0.4.1 multiprocess==0.70.19
python3 - .whl/u/unsloth-2026.10.9-py3-none-any.whl <<'EOF'
import sys, zipfile
from pathlib import Path

src = Path(sys.argv[1])
tmp = src.with_suffix(".tmp")
with zipfile.ZipFile(src) as zin, zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as zout:
    for item in zin.infolist():
        if item.filename.startswith("studio/"):
            continue
        data = zin.read(item)
        if item.filename.endswith(".dist-info/RECORD"):
            data = b"".join(line for line in data.splitlines(keepends=True) if not line.startswith(b"studio/"))
        zout.writestr(item, data)
tmp.replace(src)
EOF
cp -r ../shared/anchors/. .anchor/
du -sh .whl .anchor
