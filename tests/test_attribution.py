from __future__ import annotations

from gateway.attribution import Caller, environ_key, read_caller, with_body_user


def environ(headers: dict[str, str]) -> dict[str, str]:
    return {environ_key(name): value for name, value in headers.items()}


def test_caller_is_read_from_the_documented_headers() -> None:
    headers = {
        "x-workflow-id": "wf-1",
        "x-workflow-name": "Support triage",
        "x-execution-id": "exec-9",
        "x-node-name": "Classify",
        "x-user-id": "ana",
        "x-tags": "team=support, prod ,prod",
    }

    assert read_caller(environ(headers)) == Caller(
        "wf-1", "Support triage", "exec-9", "Classify", "ana", ("team=support", "prod")
    )


def test_n8n_header_names_are_accepted() -> None:
    caller = read_caller(
        environ({"x-n8n-workflow-id": "12", "x-n8n-execution-id": "34"})
    )

    assert (caller.workflow_id, caller.execution_id) == ("12", "34")


def test_one_metadata_header_carries_everything() -> None:
    caller = read_caller(
        environ(
            {
                "x-gateway-metadata": (
                    "workflow_id=7; workflow-name=Leads; tags=a,b; user=zoe"
                )
            }
        )
    )

    assert caller == Caller("7", "Leads", None, None, "zoe", ("a", "b"))


def test_body_user_is_the_fallback_and_values_are_cleaned() -> None:
    caller = with_body_user(
        read_caller(environ({"x-workflow-id": "  wf\x00-2 " + "x" * 500})), "u1"
    )

    assert caller.user == "u1"
    assert (
        with_body_user(read_caller(environ({"x-user-id": "ana"})), "u1").user == "ana"
    )
    assert caller.workflow_id.startswith("wf-2")
    assert len(caller.workflow_id) == 200


def test_percent_encoded_names_are_decoded() -> None:
    caller = read_caller(environ({"x-workflow-name": "Rechnungen%20pr%C3%BCfen"}))

    assert caller.workflow_name == "Rechnungen prüfen"
