#!/usr/bin/env bash
# Builds an OCI image of the wasm module in the format Istio pulls for `url: oci://...`,
# proves it round-trips through a real registry, and prints what a WasmPlugin needs.
#
#   envoy/istio/oci.sh path/to/module.wasm [tag]        (tag defaults to 0.1.0)
#
# The image is Istio's "compat" variant (istio pkg/wasm): an OCI image manifest whose last
# (here: only) layer is an application/vnd.oci.image.layer.v1.tar+gzip holding one file,
# plugin.wasm. It is built reproducibly (fixed timestamps, owner 0/0, mode 0644, no host
# details), so the same module always gives the same image digest.
#
# Steps: umoci builds the image as an OCI layout; Debian's docker-registry is started on
# 127.0.0.1:<free port> with its storage in a temporary folder; skopeo pushes the image
# there and pulls it back by digest into a fresh layout; plugin.wasm is extracted from the
# pulled image's last layer and its sha256 compared with the module's. The registry is
# stopped and every temporary file removed on exit, whatever happens.
#
# Tools: skopeo, umoci, docker-registry, jq, curl, tar, gzip (Debian packages of the same
# names); run as root, missing ones are installed with apt-get. No network is used other
# than 127.0.0.1 and, for that install, the Debian mirror.
#
# Set OCI_LAYOUT_OUT=DIR to keep the built image as an OCI layout in DIR; push it to your
# registry with `skopeo copy oci:DIR:TAG docker://REGISTRY/jwt-policy:TAG`, which keeps the
# digest.
#
# Note for the WasmPlugin: with an oci:// url, istio-agent compares `sha256` with the
# image's manifest digest (the "digest" printed below), not with the sha256 of plugin.wasm.
# With an http(s):// or file:// url, `sha256` is the module's own sha256.

set -Eeuo pipefail

prog=oci.sh
die() { echo "$prog: error: $*" >&2; exit 1; }
# A failing command names itself and its line (for a function, the line that called it).
failed() {
  local rc=$1 line=$2 command=$3
  [ ${#FUNCNAME[@]} -gt 2 ] && line=${BASH_LINENO[1]}
  echo "$prog: error: line $line: \`$command\` exited with $rc" >&2
}
trap 'failed $? $LINENO "$BASH_COMMAND"' ERR

usage="usage: $prog path/to/module.wasm [tag]"
{ [ $# -lt 1 ] || [ $# -gt 2 ]; } && die "$usage"
case "$1" in -h|--help) echo "$usage"; exit 0 ;; esac
module=$1
tag=${2:-0.1.0}
repo=jwt-policy

[ -f "$module" ] || die "module $module not found (build it with \`make build\`)"
[ "$(head -c 4 "$module" | od -An -tx1 | tr -d ' \n')" = 0061736d ] ||
  die "$module is not a wasm module (no \\0asm magic number)"
# An OCI tag: [A-Za-z0-9_][A-Za-z0-9._-]{0,127}.
[[ "$tag" =~ ^[A-Za-z0-9_][A-Za-z0-9._-]{0,127}$ ]] || die "invalid tag \"$tag\""

# --- tools --------------------------------------------------------------------------------
# command -> Debian package
declare -A package=([skopeo]=skopeo [umoci]=umoci [docker-registry]=docker-registry
                    [jq]=jq [curl]=curl [tar]=tar [gzip]=gzip [sha256sum]=coreutils)
missing=()
for tool in "${!package[@]}"; do
  command -v "$tool" >/dev/null 2>&1 || missing+=("${package[$tool]}")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    die "missing tools; as root, install them with: apt-get install ${missing[*]}"
  fi
  echo "$prog: installing ${missing[*]} (apt-get)" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y -qq "${missing[@]}" >/dev/null 2>&1 ||
    { apt-get update -qq >/dev/null 2>&1 && apt-get install -y -qq "${missing[@]}" >/dev/null; } ||
    die "apt-get install ${missing[*]} failed"
  for tool in "${!package[@]}"; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool still missing after installing ${package[$tool]}"
  done
fi

# --- workspace, cleaned up on any exit ----------------------------------------------------
work=$(mktemp -d "${TMPDIR:-/tmp}/jwt-policy-oci.XXXXXX")
registry_pid=
cleanup() {
  if [ -n "$registry_pid" ] && kill -0 "$registry_pid" 2>/dev/null; then
    kill "$registry_pid" 2>/dev/null || true
    wait "$registry_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# skopeo reads no system policy or credentials of the user: this is a throwaway registry.
printf '{"default": [{"type": "insecureAcceptAnything"}]}\n' >"$work/policy.json"
echo '{}' >"$work/auth.json"
skopeo() { REGISTRY_AUTH_FILE=$work/auth.json command skopeo --policy "$work/policy.json" "$@"; }

# --- build: an OCI layout with one reproducible tar+gzip layer holding plugin.wasm --------
mkdir "$work/rootfs"
cp "$module" "$work/rootfs/plugin.wasm"
module_sha=$(sha256sum <"$work/rootfs/plugin.wasm" | cut -d' ' -f1)
tar --create --file "$work/layer.tar" --directory "$work/rootfs" --format=ustar \
    --sort=name --mtime=@0 --owner=0 --group=0 --numeric-owner --mode=0644 plugin.wasm
layout=$work/layout
epoch=1970-01-01T00:00:00Z
umoci init --layout "$layout"
umoci new --image "$layout:$tag"
umoci config --image "$layout:$tag" --no-history --os wasip1 --architecture wasm \
    --created "$epoch" --author jwt-policy \
    --config.label org.opencontainers.image.title=jwt-policy
umoci raw add-layer --image "$layout:$tag" --history.created "$epoch" \
    --history.created_by "envoy/istio/oci.sh: plugin.wasm" "$work/layer.tar"
umoci gc --layout "$layout"
built_digest=$(jq -r --arg tag "$tag" \
  '.manifests[] | select(.annotations["org.opencontainers.image.ref.name"] == $tag) | .digest' \
  "$layout/index.json")
[[ "$built_digest" =~ ^sha256:[0-9a-f]{64}$ ]] || die "umoci built no manifest for tag $tag"

# --- a registry on 127.0.0.1:<free port>, storage in the workspace -------------------------
free_port() {
  local port
  for _ in $(seq 1 50); do
    port=$((20000 + RANDOM % 40000))
    # Nothing answers on it (a refused connection makes the redirection fail).
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then echo "$port"; return; fi
  done
  die "no free port found on 127.0.0.1"
}
port=$(free_port)
mkdir "$work/storage"
cat >"$work/registry.yml" <<EOF
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $work/storage
  delete:
    enabled: true
http:
  addr: 127.0.0.1:$port
  secret: $(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
EOF
# A clean environment: the registry reads REGISTRY_* variables as configuration.
env -i PATH="$PATH" docker-registry serve "$work/registry.yml" >"$work/registry.log" 2>&1 &
registry_pid=$!
registry=127.0.0.1:$port
for i in $(seq 1 100); do
  kill -0 "$registry_pid" 2>/dev/null ||
    die "the registry exited at start:
$(cat "$work/registry.log")"
  curl -fsS -o /dev/null --max-time 1 "http://$registry/v2/" 2>/dev/null && break
  [ "$i" = 100 ] && die "the registry did not answer on http://$registry/v2/ within 10 s:
$(cat "$work/registry.log")"
  sleep 0.1
done

# --- push, then pull back by digest into a fresh layout -----------------------------------
ref=$registry/$repo:$tag
skopeo copy --quiet --dest-tls-verify=false --digestfile "$work/pushed.digest" \
  "oci:$layout:$tag" "docker://$ref"
digest=$(cat "$work/pushed.digest")
[ "$digest" = "$built_digest" ] ||
  die "the registry holds $digest, not the built manifest $built_digest (the push converted it)"
registry_digest=$(skopeo inspect --tls-verify=false --format '{{.Digest}}' "docker://$ref")
[ "$registry_digest" = "$digest" ] || die "tag $ref resolves to $registry_digest, expected $digest"

pulled=$work/pulled
skopeo copy --quiet --src-tls-verify=false "docker://$registry/$repo@$digest" "oci:$pulled:$tag"

# --- check the pulled image as istio-agent reads it ---------------------------------------
blob() { echo "$pulled/blobs/${1/://}"; }
manifest_digest=$(jq -r '.manifests[0].digest' "$pulled/index.json")
[ "$manifest_digest" = "$digest" ] || die "pulled manifest $manifest_digest, expected $digest"
manifest=$(blob "$manifest_digest")
[ "$(sha256sum <"$manifest" | cut -d' ' -f1)" = "${digest#sha256:}" ] ||
  die "the pulled manifest does not hash to $digest"
media_type=$(jq -r '.mediaType // "application/vnd.oci.image.manifest.v1+json"' "$manifest")
[ "$media_type" = application/vnd.oci.image.manifest.v1+json ] ||
  die "manifest media type is $media_type, expected an OCI image manifest"
layer_type=$(jq -r '.layers[-1].mediaType' "$manifest")
[ "$layer_type" = application/vnd.oci.image.layer.v1.tar+gzip ] ||
  die "last layer media type is $layer_type, Istio expects application/vnd.oci.image.layer.v1.tar+gzip"
layer=$(blob "$(jq -r '.layers[-1].digest' "$manifest")")
gzip -t "$layer" || die "the last layer is not gzip"
entries=$(tar -tzf "$layer")
[ "$entries" = plugin.wasm ] || die "the last layer holds [$entries], expected just plugin.wasm"
mkdir "$work/extracted"
tar -xzf "$layer" -C "$work/extracted" plugin.wasm
pulled_sha=$(sha256sum <"$work/extracted/plugin.wasm" | cut -d' ' -f1)
[ "$pulled_sha" = "$module_sha" ] ||
  die "plugin.wasm pulled back has sha256 $pulled_sha, the module $module_sha"

if [ -n "${OCI_LAYOUT_OUT:-}" ]; then
  mkdir -p "$OCI_LAYOUT_OUT"
  skopeo copy --quiet "oci:$layout:$tag" "oci:$OCI_LAYOUT_OUT:$tag"
  echo "layout:    oci:$OCI_LAYOUT_OUT:$tag (kept)"
fi
echo "image:     $ref (pushed, pulled back by digest; the registry is stopped on exit)"
echo "digest:    $digest"
echo "layer:     $layer_type, one file: plugin.wasm"
echo "sha256:    $module_sha (of $module; plugin.wasm pulled back matches)"
echo "WasmPlugin: url: oci://<registry>/$repo:$tag  sha256: ${digest#sha256:}"
