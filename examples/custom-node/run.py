"""Register a node type of your own and run a workflow that uses it.

Run: python examples/custom-node/run.py
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from linkflow_engine import NodeContext, NodeError, NodeRegistry, run_workflow

registry = NodeRegistry()


@registry.register(
    "celsius_to_fahrenheit",
    description="Converts a Celsius field of the input to Fahrenheit.",
    config_schema={
        "type": "object",
        "properties": {
            "field": {"type": "string"},
            "decimals": {"type": "integer", "minimum": 0},
        },
        "required": ["field"],
    },
)
async def celsius_to_fahrenheit(ctx: NodeContext) -> dict[str, Any]:
    field = ctx.config["field"]
    value = ctx.input.get(field) if isinstance(ctx.input, dict) else None
    if not isinstance(value, (int, float)):
        raise NodeError(f"input.{field} must be a number", details={"got": value})
    ctx.log("info", f"converting {value} °C")
    fahrenheit = round(value * 9 / 5 + 32, ctx.config.get("decimals", 2))
    return {**ctx.input, "fahrenheit": fahrenheit}


def main() -> None:
    document = json.loads((Path(__file__).parent / "workflow.json").read_text())
    execution = run_workflow(document, {"celsius": 21.5}, registry=registry)
    print(json.dumps({"status": execution.status.value, "outputs": execution.outputs}, indent=2))


if __name__ == "__main__":
    main()
