"""Property: records with arbitrary JSON payloads read back equal, on every backend."""

from __future__ import annotations

import itertools
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from storage_records import T0, execution_fields, make_execution, make_node

from linkflow_engine.storage.base import Storage

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**63), max_value=2**63 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=12,
)
MILLISECONDS = st.integers(min_value=0, max_value=10**9).map(lambda ms: T0 + ms / 1000)
_ids = itertools.count()


@settings(
    max_examples=15,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    input_data=JSON,
    node_input=JSON,
    node_output=JSON,
    options=st.dictionaries(st.text(max_size=8), JSON, max_size=3),
    started=MILLISECONDS,
)
async def test_payloads_round_trip(
    storage: Storage,
    input_data: Any,
    node_input: Any,
    node_output: Any,
    options: dict[str, Any],
    started: float,
) -> None:
    """An execution and a node run with random JSON payloads read back equal."""
    execution_id = f"ex-{next(_ids)}"
    execution = make_execution(
        execution_id, input_data=input_data, options=options, started_at=started
    )
    await storage.create_execution(execution)
    node = make_node(0, input=node_input, output=node_output, started_at=started)
    await storage.save_node_execution(execution_id, node)
    execution.node_executions = [node]
    read = await storage.get_execution(execution_id, include_data=True)
    assert execution_fields(read) == execution_fields(execution)
