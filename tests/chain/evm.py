"""A real EVM for the chain tests: web3's EthereumTesterProvider (eth-tester on py-evm, in
process) and the project's ERC-20 compiled with solc from the npm registry.

solc is installed with npm into tests/chain/.solc/ (gitignored) the first time it is needed, at
the exact version below; `make solc` and .ci/run do the same ahead of time."""

from __future__ import annotations

import hashlib
import json
import subprocess
from functools import cache
from pathlib import Path

SOLC_VERSION = "0.8.28"
HERE = Path(__file__).parent
SOLC_DIR = HERE / ".solc"
SOURCE = HERE / "contracts" / "ForgeTestToken.sol"

COMPILE_JS = """
const solc = require('solc');
const source = require('fs').readFileSync(0, 'utf8');
const input = {language: 'Solidity', sources: {'ForgeTestToken.sol': {content: source}},
  settings: {optimizer: {enabled: true, runs: 200}, evmVersion: 'paris',
             outputSelection: {'*': {'*': ['abi', 'evm.bytecode.object']}}}};
const output = JSON.parse(solc.compile(JSON.stringify(input)));
const errors = (output.errors || []).filter(e => e.severity === 'error');
if (errors.length) { console.error(JSON.stringify(errors)); process.exit(1); }
const contract = output.contracts['ForgeTestToken.sol'].ForgeTestToken;
process.stdout.write(JSON.stringify({version: solc.version(), abi: contract.abi,
                                     bytecode: contract.evm.bytecode.object}));
"""


def solc_install() -> Path:
    module = SOLC_DIR / "node_modules" / "solc"
    if (
        not (module / "package.json").exists()
        or json.loads((module / "package.json").read_text())["version"] != SOLC_VERSION
    ):
        SOLC_DIR.mkdir(exist_ok=True)
        subprocess.run(
            ["npm", "install", "--no-audit", "--no-fund", "--prefix", str(SOLC_DIR), f"solc@{SOLC_VERSION}"],
            check=True,
            capture_output=True,
            timeout=600,
        )
    return SOLC_DIR


@cache
def compiled_token() -> dict:
    """{version, abi, bytecode} of ForgeTestToken, compiled now (cached by source hash)."""
    source = SOURCE.read_text()
    cached = SOLC_DIR / f"ForgeTestToken-{hashlib.sha256(source.encode()).hexdigest()[:16]}.json"
    if cached.exists():
        return json.loads(cached.read_text())
    solc_install()
    result = subprocess.run(
        ["node", "-e", COMPILE_JS],
        input=source,
        capture_output=True,
        text=True,
        cwd=SOLC_DIR,
        check=False,
        timeout=300,
    )
    if result.returncode != 0:
        raise RuntimeError(f"solc failed: {result.stderr[:2000]}")
    output = json.loads(result.stdout)
    assert output["version"].startswith(SOLC_VERSION), output["version"]
    cached.write_text(json.dumps(output))
    return output
