"""One-screen summary of a synthesized cloud assembly: stacks, resources, outputs, templates.

Usage: ``python -m devtools.synth_summary cdk.out``
"""

from __future__ import annotations

import json
import sys
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

__all__ = ["assembly_main", "load_stacks", "main", "summarize"]


def load_stacks(outdir: Path) -> dict[str, tuple[Path, dict[str, Any]]]:
    """Stack name -> (template path, template) for every stack in the assembly's manifest."""
    manifest = json.loads((outdir / "manifest.json").read_text())
    stacks: dict[str, tuple[Path, dict[str, Any]]] = {}
    for name, artifact in manifest.get("artifacts", {}).items():
        if artifact.get("type") != "aws:cloudformation:stack":
            continue
        path = outdir / artifact["properties"]["templateFile"]
        stacks[name] = (path, json.loads(path.read_text()))
    return stacks


def _directory_assets(outdir: Path) -> list[Path]:
    """Directory assets the current templates use (older ones may linger in cdk.out)."""
    found: set[Path] = set()
    for manifest in outdir.glob("*.assets.json"):
        for entry in json.loads(manifest.read_text()).get("files", {}).values():
            source = entry.get("source", {})
            if source.get("packaging") == "zip" and (outdir / source["path"]).is_dir():
                found.add(outdir / source["path"])
    return sorted(found)


def _render_value(value: Any) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        fn, arg = next(iter(value.items()))
        if fn == "Ref":
            return f"<{arg}>"
        if fn == "Fn::GetAtt":
            return f"<{'.'.join(arg)}>"
        if fn == "Fn::Join":
            return arg[0].join(_render_value(v) for v in arg[1])
        if fn == "Fn::ImportValue":
            return f"<import {_render_value(arg)}>"
    return json.dumps(value, separators=(",", ":"))[:80]


def summarize(outdir: Path) -> str:
    """The summary text for the assembly in ``outdir``."""
    stacks = load_stacks(outdir)
    lines = [f"Synthesized {len(stacks)} stack(s) into {outdir}/"]
    assets = _directory_assets(outdir)
    for name, (path, template) in stacks.items():
        resources = template.get("Resources", {})
        counts = Counter(r["Type"] for r in resources.values())
        lines.append("")
        lines.append(f"{name}  ({len(resources)} resources)  template: {path}")
        for rtype, n in sorted(counts.items()):
            lines.append(f"  {n:3d}  {rtype}")
        outputs = template.get("Outputs", {})
        if outputs:
            lines.append("  outputs:")
            for key, out in outputs.items():
                if key.startswith("ExportsOutput"):
                    continue  # cross-stack plumbing
                lines.append(f"    {key} = {_render_value(out.get('Value'))}")
    report = outdir / "validation-report.json"
    if report.exists():
        plugins = json.loads(report.read_text()).get("pluginReports", [])
        findings = sum(len(p.get("violations", [])) for p in plugins)
        lines.append("")
        lines.append(f"cdk-nag AwsSolutions: {findings} unacknowledged finding(s)")
    for asset in assets:
        size = sum(f.stat().st_size for f in asset.rglob("*") if f.is_file())
        lines.append("")
        lines.append(f"Lambda asset {asset.name[:18]}...  {size / 1e6:.1f} MB unzipped")
    return "\n".join(lines)


def assembly_main(render: Callable[[Path], str], argv: list[str] | None = None) -> int:
    """A report's command line: ``render`` the assembly in ``argv[0]`` (``cdk.out``) to stdout."""
    args = sys.argv[1:] if argv is None else argv
    outdir = Path(args[0] if args else "cdk.out")
    if not (outdir / "manifest.json").exists():
        print(f"no cloud assembly in {outdir}/ (run `make synth`)", file=sys.stderr)
        return 1
    sys.stdout.write(render(outdir))
    return 0


def main(argv: list[str] | None = None) -> int:
    return assembly_main(lambda outdir: summarize(outdir) + "\n", argv)


if __name__ == "__main__":
    raise SystemExit(main())
