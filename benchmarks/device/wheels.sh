#!/usr/bin/env bash
# Builds, from PyPI on this machine, the wheels that the device host lacks, for the device scripts
# (compare_gp.sh, multi_gpu.sh). The device host has Python 3.12 with torch, gpytorch, botorch,
# scikit-learn, pandas, pyarrow, numpy and scipy, but no package registry and none of hpo's own
# dependencies nor the peers (Optuna, Syne Tune). Run it here, from anywhere in the repo:
#   bash benchmarks/device/wheels.sh
# It writes (both git-ignored, through .git/info/exclude):
#   .devwheels/     cp312 / py3-none-any manylinux x86_64 wheels of optuna, syne-tune>=0.16 and
#                   their dependencies, and hpo's (sqlalchemy, alembic, typer, rich, pyyaml,
#                   pydantic, ...), each pinned and fetched with --no-deps, so that nothing heavy
#                   (ray, xgboost, torch, numpy, ...) comes along; plus .devwheels/install.sh
#   .legacywheels/  syne_tune 0.13.0 and autograd 1.9.1 (pure Python: Syne Tune's MOBSTER), which
#                   compare_gp.sh installs on its own
# On the device host, from the repo root (the carried working tree):
#   eval "$(bash .devwheels/install.sh)"
# installs the wheels into /tmp/site (SITE=... elsewhere), makes /tmp/site/hpo a package of
# symlinks to the repo's hpo/ plus its subpackages laid out as in pyproject.toml's package-dir
# (hpo.schedulers -> schedulers/, ...), so nothing in the repo changes, and exports
# PYTHONPATH=/tmp/site:$PWD, PATH=/tmp/site/bin:$PATH and PYTHONSAFEPATH=1 (without it,
# `python3 -m` puts the repo first on sys.path, and the repo's bare hpo/ shadows the package).
# Environment: PYVER (3.12) builds for another Python (e.g. PYVER=3.11 for a check on this
# machine) into OUT_DIR (.devwheels); LEGACY_DIR (.legacywheels; empty: skip it); INDEX_URL
# (https://pypi.org/simple); PIP ("python3 -m pip"); MAX_MIB (25): the bundle's size limit;
# STRIP_TESTS (1): drop the tests/ folders (never imported) from the statsmodels wheel, 4.6 of
# its 11.5 MiB, and their lines from its RECORD; 0 keeps PyPI's wheel as it is.
set -euo pipefail
cd "$(dirname "$0")/../.."

PYVER=${PYVER:-3.12}
OUT_DIR=${OUT_DIR:-.devwheels}
LEGACY_DIR=${LEGACY_DIR-.legacywheels}
INDEX_URL=${INDEX_URL:-https://pypi.org/simple}
PIP=${PIP:-python3 -m pip}
MAX_MIB=${MAX_MIB:-25}
STRIP_TESTS=${STRIP_TESTS:-1}
abi=cp${PYVER/./}

# The versions tested together (those of scripts/setup.sh's .venv, greenlet aside).
wheels=(
  # hpo's own dependencies (numpy aside) and theirs
  SQLAlchemy==2.1.9
  alembic==1.20.1
  Mako==1.4.3
  MarkupSafe==3.0.4
  typer==0.29.2 # vendors click
  shellingham==1.5.4
  annotated-doc==0.0.7
  rich==15.0.0
  markdown-it-py==4.3.0
  mdurl==0.1.2
  Pygments==2.21.0
  PyYAML==6.0.4
  pydantic==2.14.4
  pydantic_core==2.50.5
  annotated-types==0.8.0
  typing-inspection==0.4.5
  typing_extensions==4.16.0 # pydantic needs >=4.16, newer than torch's may be
  # Optuna
  optuna==5.0.0
  colorlog==6.12.0
  tqdm==4.70.1
  packaging==26.4
  greenlet==3.5.6 # optional: optuna-gp's batched L-BFGS-B (sequential, and slower, without it)
  # Syne Tune (not xgboost: no code path of benchmarks.peers.synetune imports it)
  syne_tune==0.16.0
  dill==0.4.1
  sortedcontainers==2.4.0
  psutil==7.2.2
  statsmodels==0.15.0 # BOHB's KDE searcher
  patsy==1.0.3
  formulaic==1.2.2
  interface_meta==2.0.1
  wrapt==2.5.2
  narwhals==2.29.0
)
legacy=(syne_tune==0.13.0 autograd==1.9.1)
strip_tests=(statsmodels)

# From INDEX_URL only: no pip configuration file (extra indexes, find-links) of this machine.
pip_download() {
  env -u PIP_FIND_LINKS -u PIP_EXTRA_INDEX_URL -u PIP_INDEX_URL PIP_CONFIG_FILE=/dev/null \
    $PIP download -q --index-url "$INDEX_URL" --no-deps --only-binary=:all: "$@"
}

mkdir -p "$OUT_DIR"
rm -f "$OUT_DIR"/*.whl "$OUT_DIR"/install.sh
pip_download --python-version "$PYVER" --implementation cp --abi "$abi" \
  --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 \
  --platform manylinux_2_28_x86_64 -d "$OUT_DIR" "${wheels[@]}"

n=$(find "$OUT_DIR" -maxdepth 1 -name '*.whl' | wc -l)
if [ "$n" -ne "${#wheels[@]}" ]; then
  echo "wheels.sh: $n wheels in $OUT_DIR for ${#wheels[@]} requirements" >&2
  exit 1
fi
for w in "$OUT_DIR"/*.whl; do
  case $(basename "$w") in
    *-py3-none-any.whl | *-py2.py3-none-any.whl) ;;
    *-"$abi"-"$abi"-*x86_64*.whl | *-abi3-*x86_64*.whl) ;;
    *) echo "wheels.sh: unexpected wheel $w" >&2 && exit 1 ;;
  esac
done

if [ "$STRIP_TESTS" = 1 ]; then
  for name in "${strip_tests[@]}"; do
    python3 - "$OUT_DIR"/"$name"-*.whl << 'PY'
import csv
import io
import os
import sys
import zipfile

for path in sys.argv[1:]:
    with zipfile.ZipFile(path) as z:
        infos = z.infolist()
        drop = {i.filename for i in infos if "/tests/" in i.filename}
        drop = {name for name in drop if ".dist-info/" not in name}
        with zipfile.ZipFile(path + ".tmp", "w", zipfile.ZIP_DEFLATED) as out:
            for info in infos:
                if info.filename in drop:
                    continue
                data = z.read(info)
                if info.filename.endswith(".dist-info/RECORD"):
                    rows = csv.reader(io.StringIO(data.decode()))
                    rows = [row for row in rows if row and row[0] not in drop]
                    text = io.StringIO()
                    csv.writer(text, lineterminator="\n").writerows(rows)
                    data = text.getvalue().encode()
                out.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED)
    os.replace(path + ".tmp", path)
    print(f"{os.path.basename(path)}: {len(drop)} test files dropped")
PY
  done
fi

{
  printf '#!/usr/bin/env bash\n'
  printf '# Written by benchmarks/device/wheels.sh. From the repo root:\n'
  printf '#   eval "$(bash %s/install.sh)"\n' "$OUT_DIR"
  printf 'want=%s\n' "$PYVER"
  cat << 'EOF'
set -euo pipefail
# on any failure the caller's eval runs `false`
trap 'echo false' ERR
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$PWD
site=${SITE:-/tmp/site}
have=$(python3 -c 'import sys; print("%d.%d" % sys.version_info[:2])')
if [ "$have" != "$want" ]; then
  echo "install.sh: these wheels are for Python $want, python3 is $have" >&2
  false
fi
if [ ! -f "$repo/pyproject.toml" ] || [ ! -f "$repo/hpo/__init__.py" ]; then
  echo "install.sh: run it from the repo root" >&2
  false
fi
python3 -m pip install -q --no-deps --no-index --upgrade --target "$site" "$here"/*.whl >&2
# hpo as a package of symlinks: the repo's hpo/ entries, and the subpackages that pyproject.toml
# maps from other folders (hpo.schedulers -> schedulers/, ...)
python3 - "$repo" "$site" << 'PY' >&2
import os
import shutil
import sys
import tomllib

repo, site = sys.argv[1:]
with open(os.path.join(repo, "pyproject.toml"), "rb") as f:
    package_dir = tomllib.load(f)["tool"]["setuptools"]["package-dir"]
shim = os.path.join(site, "hpo")
if os.path.islink(shim) or os.path.isfile(shim):
    os.remove(shim)
elif os.path.isdir(shim):
    shutil.rmtree(shim)  # symlinks inside are removed, not followed
os.makedirs(shim)
src = os.path.join(repo, package_dir.get("hpo", "hpo"))
for name in os.listdir(src):
    if name != "__pycache__":
        os.symlink(os.path.join(src, name), os.path.join(shim, name))
for package, folder in package_dir.items():
    parts = package.split(".")
    if len(parts) == 2 and parts[0] == "hpo":
        os.symlink(os.path.join(repo, folder), os.path.join(shim, parts[1]))
PY
# the hpo command ([project.scripts])
mkdir -p "$site/bin"
printf '#!/usr/bin/env bash\nexec %q -m hpo.cli "$@"\n' "$(command -v python3)" > "$site/bin/hpo"
chmod +x "$site/bin/hpo"
printf 'export PYTHONSAFEPATH=1 PYTHONPATH=%q PATH=%q:"$PATH"\n' "$site:$repo" "$site/bin"
EOF
} > "$OUT_DIR/install.sh"

if [ -n "$LEGACY_DIR" ]; then
  mkdir -p "$LEGACY_DIR"
  rm -f "$LEGACY_DIR"/*.whl
  pip_download -d "$LEGACY_DIR" "${legacy[@]}"
fi

kib=$(du -sk "$OUT_DIR" | cut -f1)
echo "$OUT_DIR: $n wheels for Python $PYVER, $((kib / 1024)) MiB ($kib KiB)"
[ -z "$LEGACY_DIR" ] || echo "$LEGACY_DIR: $(ls "$LEGACY_DIR")"
if [ "$kib" -gt $((MAX_MIB * 1024)) ]; then
  echo "wheels.sh: $OUT_DIR is over MAX_MIB=$MAX_MIB MiB" >&2
  exit 1
fi
