"""Every workflow in workflows/ runs in a real n8n through the node pack and gateway.

Each check executes the workflow from its Manual Trigger with `n8n execute`, asserts
what its last nodes produced, and asserts that the gateway logged every AI step with
the workflow's id and name and n8n's execution id.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from tests.fakes import error

from .conftest import Deployment, workflow_files
from .instance import Execution

# A cold cache installs n8n during the first test's setup (6-10 min).
pytestmark = [pytest.mark.n8n, pytest.mark.timeout(1800)]

Check = Callable[[Deployment], None]
CHECKS: dict[str, Check] = {}

# The spend report sums what the other workflows spent, so it runs last.
SPEND_REPORT = "06-daily-spend-report.json"


def check(file_name: str) -> Callable[[Check], Check]:
    def register(function: Check) -> Check:
        CHECKS[file_name] = function
        return function

    return register


def logged_rows(deployment: Deployment, execution: Execution) -> list[dict[str, Any]]:
    """The gateway's rows for the workflow, each asserted to carry its attribution."""
    workflow = deployment.workflows_by_id()[execution.workflow_id]
    rows = deployment.gateway.requests_for(execution.workflow_id)
    for row in rows:
        assert row["workflow_id"] == execution.workflow_id
        assert row["workflow_name"] == workflow["name"]
        assert row["execution_id"] == execution.execution_id, row

    return rows


def steps(rows: list[dict[str, Any]]) -> Counter:
    return Counter(row["node_name"] for row in rows)


# The attempts the gateway records for each email of workflow 01 (target, kind,
# status, error type, outcome): its config (gateway.py) allows one retry per target.
FALLBACK_ATTEMPTS = [
    ("fake-openai/gpt-4o-mini", "first", 503, "provider_unavailable", "retried"),
    ("fake-openai/gpt-4o-mini", "retry", 503, "provider_unavailable", "fell_back"),
    ("demo/demo", "fallback", 200, None, "success"),
]


def attempt_facts(attempt: dict[str, Any]) -> tuple[Any, ...]:
    names = ("target", "kind", "status", "error_type", "outcome")
    return tuple(attempt[name] for name in names)


@check("01-triage-support-email.json")
def check_triage_falls_back_in_the_gateway(deployment: Deployment) -> None:
    """The alias `fast` routes to the fake, which fails, then to demo: the node makes
    one call per email and the gateway retries the fake and falls back to demo."""
    deployment.fake.reset()
    deployment.fake.set_default(error(503, "The fake upstream is overloaded"))
    try:
        execution = deployment.run("01-triage-support-email.json")
        upstream_calls = deployment.fake.requests()
    finally:
        deployment.fake.reset()

    queues = {}
    for node in ("Billing", "Engineering", "Sales", "General"):
        name = f"Send to {node} Queue"
        items = execution.node_output(name) if execution.ran(name) else []
        for item in items:
            queues[item["subject"]] = item["queue"]
            assert item["model"] == "demo"
    assert queues == {
        "Double charge on my billing statement": "billing",
        "Technical issue: export keeps failing": "engineering",
        "Talk to sales about the team plan": "sales",
    }
    # The node's output carries the gateway's x_gateway facts (x-gateway-* headers).
    classified = execution.node_output("Classify Email via Gateway")
    answered = [
        (item["gateway"]["target"], item["gateway"]["attempts"]) for item in classified
    ]
    assert answered == [("demo/demo", len(FALLBACK_ATTEMPTS))] * 3

    rows = logged_rows(deployment, execution)
    assert steps(rows) == {"Classify Email via Gateway": 3}, "one request per email"
    for row in rows:
        assert row["model_requested"] == "fast" and row["target"] == "demo/demo"
        assert row["status"] == 200 and row["attempts"] == len(FALLBACK_ATTEMPTS)
        attempts = deployment.gateway.request(row["id"])["attempt_list"]
        assert [attempt_facts(attempt) for attempt in attempts] == FALLBACK_ATTEMPTS
    assert len(upstream_calls) == 3 * 2, "each email: the fake, then one retry"
    assert {call.json["model"] for call in upstream_calls} == {"gpt-4o-mini"}


@check("02-draft-ticket-reply.json")
def check_draft_reply_parses_json_into_fields(deployment: Deployment) -> None:
    execution = deployment.run("02-draft-ticket-reply.json")

    [draft] = execution.node_output("Prepare Draft")
    assert draft["ticket_id"] == "T-10482"
    assert isinstance(draft["draft"], str) and draft["draft"]
    assert draft["tone"] in {"apologetic", "neutral", "upbeat"}
    assert isinstance(draft["needs_review"], bool)
    assert draft["model"] == "demo" and draft["cost_usd"] > 0

    [row] = logged_rows(deployment, execution)
    assert row["node_name"] == "Draft Reply via Gateway"
    assert row["status"] == 200 and row["model_used"] == "demo"
    assert row["cost_usd"] == pytest.approx(draft["cost_usd"])


@check("03-summarize-long-document.json")
def check_long_document_is_summarized_per_chunk_then_merged(
    deployment: Deployment,
) -> None:
    execution = deployment.run("03-summarize-long-document.json")

    chunks = execution.node_output("Split into Chunks")
    summaries = execution.node_output("Summarize Chunk via Gateway")
    [merged] = execution.node_output("Merge Summaries via Gateway")
    assert len(chunks) >= 3 and len(summaries) == len(chunks)
    assert all(item["summary"] for item in summaries)
    assert merged["summary"] and merged["gateway"]["model"] == "demo"

    rows = logged_rows(deployment, execution)
    assert steps(rows) == {
        "Summarize Chunk via Gateway": len(chunks),
        "Merge Summaries via Gateway": 1,
    }
    assert all(row["status"] == 200 for row in rows)


@check("04-extract-lead-data.json")
def check_leads_are_extracted_into_rows(deployment: Deployment) -> None:
    execution = deployment.run("04-extract-lead-data.json")

    leads = execution.node_output("Format Lead Row")
    assert [lead["email"] for lead in leads] == [
        "maria.lopez@brightwave.example",
        "j.weber@nordlicht.example",
    ]
    assert [lead["received"] for lead in leads] == ["2026-11-30", "2026-12-01"]
    for lead in leads:
        assert isinstance(lead["budget_usd"], (int, float))
        assert isinstance(lead["wants_demo"], bool)
        assert lead["name"]

    rows = logged_rows(deployment, execution)
    assert steps(rows) == {"Extract Leads via Gateway": 2}


@check("05-answer-with-agent-and-tool.json")
def check_agent_answers_with_the_tool(deployment: Deployment) -> None:
    execution = deployment.run("05-answer-with-agent-and-tool.json")

    [answer] = execution.node_output("Answer Question with Agent")
    assert "4711" in answer["output"] and "shipped" in answer["output"]
    assert execution.ran("Look Up Order Status")

    rows = logged_rows(deployment, execution)
    assert set(steps(rows)) == {"AI Gateway Chat Model"}
    assert len(rows) >= 2, "one call that asks for the tool, one that answers"
    assert all(row["status"] == 200 and row["model_used"] == "demo" for row in rows)


@check("07-openai-chat-model-responses-api.json")
def check_built_in_openai_model_uses_the_responses_api(deployment: Deployment) -> None:
    execution = deployment.run("07-openai-chat-model-responses-api.json")

    [update] = execution.node_output("Write Customer Update")
    assert isinstance(update["text"], str) and update["text"]

    rows = logged_rows(deployment, execution)
    assert rows, "the gateway logged no call of the OpenAI Chat Model"
    assert all(row["endpoint"] == "responses" for row in rows)
    assert all(row["status"] == 200 and row["model_used"] == "demo" for row in rows)


@check(SPEND_REPORT)
def check_spend_report_is_posted_to_the_chat_webhook(deployment: Deployment) -> None:
    if not deployment.executed:
        deployment.run("02-draft-ticket-reply.json")
    spenders = {
        execution.workflow_id
        for execution in deployment.executed.values()
        if deployment.gateway.requests_for(execution.workflow_id)
    }
    deployment.receiver.clear()

    execution = deployment.run(SPEND_REPORT)

    [post] = deployment.receiver.posts()
    assert post["path"] == "/hooks/spend-report"
    text = post["body"]["text"]
    assert text.startswith("AI spend in the last 24 hours: $")
    # One line per workflow, under the name the gateway recorded for it.
    workflows = deployment.workflows_by_id()
    for workflow_id in spenders:
        assert f"• {workflows[workflow_id]['name']}: $" in text
    # Like every operation's items, the report carries the gateway's facts.
    [report] = execution.node_output("Get Spend per Workflow")
    assert report["object"] == "spend_report" and "request_id" in report["gateway"]
    [message] = execution.node_output("Format Report Message")
    assert message["workflows"] == len(spenders) and message["cost_usd"] > 0
    assert logged_rows(deployment, execution) == [], "a spend report makes no AI call"


def run_order() -> list[str]:
    names = [path.name for path in workflow_files() if path.name != SPEND_REPORT]
    return [*names, SPEND_REPORT]


def test_every_workflow_has_an_end_to_end_check() -> None:
    assert sorted(CHECKS) == sorted(path.name for path in workflow_files())


@pytest.mark.parametrize("file_name", run_order())
def test_workflow_runs_in_n8n_through_the_gateway(
    file_name: str, deployment: Deployment
) -> None:
    CHECKS[file_name](deployment)
