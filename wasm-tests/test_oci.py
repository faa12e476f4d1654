"""make oci: the module as an OCI image Istio pulls, round-tripped through a local registry."""

import os
import re
import shutil
import subprocess

import pytest

from harness import ROOT, wasm_path

TOOLS = ["skopeo", "umoci", "docker-registry"]


def test_the_image_round_trips_through_a_registry():
    if os.geteuid() != 0 and not all(shutil.which(tool) for tool in TOOLS):
        pytest.skip(f"needs {', '.join(TOOLS)} (installed by the script when run as root)")
    result = subprocess.run([str(ROOT / "envoy/istio/oci.sh"), str(wasm_path()), "test"],
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    digest = re.search(r"^digest:\s+(sha256:[0-9a-f]{64})$", result.stdout, re.MULTILINE)
    module = re.search(r"^sha256:\s+([0-9a-f]{64}) \(of .*plugin.wasm pulled back matches\)$",
                       result.stdout, re.MULTILINE)
    assert digest and module, result.stdout
    expected = subprocess.run(["sha256sum", str(wasm_path())], capture_output=True, text=True).stdout.split()[0]
    assert module.group(1) == expected
