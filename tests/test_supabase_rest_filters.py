"""The stand-in's PostgREST answers filters and pages as PostgREST does: logic trees parsed by
PostgREST's grammar, and never more rows than db-max-rows. The puller relies on both."""

from __future__ import annotations

import httpx
import pytest
from postgrest.exceptions import APIError

from tests.supabase_stack.devices import Device, unique_email
from tests.supabase_stack.fixtures import pg_cluster, supabase_stack, supabase_stack_session  # noqa: F401

PROMPTS = ["brick", "brick, mossy", "oak (old)", "oak", 'say "hi"', "marble"]


@pytest.fixture
def artist(supabase_stack, tmp_path):  # noqa: F811
    device = Device(supabase_stack, tmp_path / "artist")
    device.user_id = device.sign_up(unique_email("artist"))
    for prompt in PROMPTS:
        supabase_stack.sql("insert into generations (id, user_id, status, prompt) values "
                           "(gen_random_uuid(), %s, 'completed', %s)", device.user_id, prompt)
    yield device
    device.close()


def prompts(response) -> list[str]:
    return sorted(r["prompt"] for r in response.data)


def raw_get(device: Device, params: dict[str, str]) -> httpx.Response:
    """A GET as any PostgREST client sends it, for forms supabase-py has no builder for."""
    session = device.auth.client.auth.get_session()
    headers = {"apikey": device.stack.anon_key, "Authorization": f"Bearer {session.access_token}"}
    return httpx.get(f"{device.stack.url}/rest/v1/generations",
                     params={"select": "prompt", **params}, headers=headers)


def test_or_with_a_nested_and_selects_as_postgrest_does(artist):
    table = artist.auth.client.table("generations")

    got = table.select("prompt").or_("prompt.eq.marble,and(prompt.like.oak*,prompt.neq.oak)"
                                     ).execute()

    assert prompts(got) == ["marble", "oak (old)"]


def test_quoted_operands_may_hold_commas_parentheses_and_escaped_quotes(artist):
    table = artist.auth.client.table("generations")

    got = table.select("prompt").or_('prompt.eq."brick, mossy",prompt.eq."oak (old)",'
                                     r'prompt.eq."say \"hi\""').execute()

    assert prompts(got) == ["brick, mossy", "oak (old)", 'say "hi"']


def test_negated_trees_in_lists_and_spaces_parse_as_in_postgrest(artist):
    got = raw_get(artist, {"not.and": "( prompt.like.oak*, prompt.not.eq.oak)",
                           "or": "(prompt.in.(oak,\"oak (old)\",marble),prompt.is.null)"})

    assert got.status_code == 200
    assert sorted(r["prompt"] for r in got.json()) == ["marble", "oak"]
    # an unquoted operand runs to the next `,` or `)`, spaces included, as in PostgREST
    spaced = raw_get(artist, {"or": "(prompt.eq.oak ,prompt.eq.marble)"})
    assert [r["prompt"] for r in spaced.json()] == ["marble"]


def test_a_malformed_tree_is_refused_naming_the_problem(artist):
    with pytest.raises(APIError) as caught:
        artist.auth.client.table("generations").select("prompt").or_(
            "prompt.eq.oak,and(prompt.eq.brick").execute()
    assert caught.value.code == "PGRST100"
    assert "failed to parse logic tree" in caught.value.message


def test_no_response_holds_more_rows_than_db_max_rows(artist, supabase_stack):  # noqa: F811
    supabase_stack.sql("insert into generations (id, user_id, status) select gen_random_uuid(), "
                       "%s, 'completed' from generate_series(1, 1100)", artist.user_id)
    table = artist.auth.client.table("generations")

    capped = table.select("id", count="exact").limit(5000).execute()
    assert len(capped.data) == 1000 and capped.count == 1100 + len(PROMPTS)
    assert len(table.select("id").execute().data) == 1000  # no limit at all: still the cap

    supabase_stack.max_rows = 7
    assert len(table.select("id").range(0, 99).execute().data) == 7
    assert len(table.select("id").range(0, 2).execute().data) == 3
