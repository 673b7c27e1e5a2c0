#!/usr/bin/env bash
# Prepare what a lent GPU machine needs for benchmarks/gpu_session.sh: nothing can be downloaded there, and its
# python3 (3.12, torch with CUDA, numpy, scipy, pandas, matplotlib, torch-geometric, scikit-learn, ...) lacks
# ssbkit's other dependencies. Writes, under .gpu/ (git-ignored: add "/.gpu/" to .git/info/exclude):
#   site312.tar.xz  the missing packages (cp312 wheels, unpacked, test data and unused checkpoints dropped; ~40 MB)
#   src.tar         the committed tree (git archive HEAD), so that uncommitted edits never reach the device
# and prints the device command. Checked on this machine with a python 3.11 venv holding only the device's
# packages (the same list at cp311): every import, the kinisi tests and notebook 3's kernel ran.
set -eu
cd "$(git rev-parse --show-toplevel)"
mkdir -p .gpu/whl
PACKAGES="ase==3.29.0 pymatgen==2026.10.24 pymatgen-core==2026.10.16 pymatgen-analysis-diffusion==2026.9.23
monty==2026.10.21 spglib==2.8.0 ruamel.yaml==0.19.1 uncertainties==3.2.3 palettable==3.3.3 orjson==3.13.0
pybtex==0.26.1 latexcodec==3.0.1 sevenn==0.10.4 braceexpand==0.1.7 matscipy==1.3.1 e3nn==0.4.4 chgnet==0.4.2
kinisi==2.1.0 scipp==26.8.0 emcee==3.1.6 dynesty==3.1.0 beautifulsoup4==4.15.0 soupsieve==4.1.3 platformdirs==4.14.8
torch-sim-atomistic==0.3.0 vesin==0.6.2 vesin-torch==0.6.2 tables==3.11.1 blosc2==4.14.1 numexpr==2.14.2
ndindex==1.10.1 nbclient==0.11.0 nbformat==5.11.1 jupyter-client==8.10.0 jupyter-core==5.9.1 ipykernel==7.4.0
ipython==8.12.3 pickleshare==0.7.5 backcall==0.2.0 traitlets==5.15.0 pyzmq==27.3.0 tornado==6.6.1 comm==0.2.3
matplotlib-inline==0.2.2 fastjsonschema==2.22.3 jsonschema==4.26.0 jsonschema-specifications==2025.9.1
referencing==0.37.0 rpds-py==0.30.0 prompt-toolkit==3.0.52 pexpect==4.8.0 ptyprocess==0.7.0 jedi==0.20.0
parso==0.8.7 decorator==5.2.1 stack-data==0.6.3 asttokens==3.0.1 executing==2.2.1 pure-eval==0.2.3 wcwidth==0.7.0
nest-asyncio2==1.7.4"
for package in $PACKAGES; do
  python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_24_x86_64 \
    --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 --platform manylinux1_x86_64 \
    -d .gpu/whl "$package"
done
# chgnet imports nvidia_smi (nvidia-ml-py3, an sdist: its one module is copied)
python3 -m pip download -q --no-deps --no-binary=:all: -d .gpu/whl nvidia-ml-py3==7.352.0
site=$(mktemp -d)
for wheel in .gpu/whl/*.whl; do unzip -q -o "$wheel" -d "$site"; done
tar xzf .gpu/whl/nvidia-ml-py3-7.352.0.tar.gz -O nvidia-ml-py3-7.352.0/nvidia_smi.py > "$site/nvidia_smi.py"
rm -rf "$site"/*.data "$site"/kinisi/tests "$site"/sevenn/pair_e3gnn "$site"/sevenn/pretrained_potentials/SevenNet_l3i5 \
  "$site"/sevenn/pretrained_potentials/SevenNet_0__22May2024 "$site"/chgnet/pretrained/0.2.0 \
  "$site"/chgnet/pretrained/r2scan "$site"/jedi/third_party/typeshed "$site"/scipp/include
find "$site" -name __pycache__ -prune -exec rm -rf {} +
tar cJf .gpu/site312.tar.xz -C "$site" .
rm -rf "$site"
git archive HEAD -o .gpu/src.tar
ls -l .gpu/site312.tar.xz .gpu/src.tar
cat <<'COMMAND'
device run 1, carry [".gpu/site312.tar.xz", ".gpu/src.tar"], timeout_s 590:
mkdir -p /tmp/site /tmp/src && tar xJf .gpu/site312.tar.xz -C /tmp/site && tar xf .gpu/src.tar -C /tmp/src && cd /tmp/src && PYTHONPATH=/tmp/site OUT=$OUT DEADLINE_S=570 bash benchmarks/gpu_session.sh notebook; grep "===" $OUT/session.log
device run 2, at once (the machine is still warm), same carry, timeout_s: the device time left less 20 s, DEADLINE_S 20 s less again:
... same, with: bash benchmarks/gpu_session.sh barriers
COMMAND
