"""Our migration's row-level security, as another signed-in user would meet it: user B, holding
the same anon key as everyone, can neither see nor touch user A's generations or textures."""

from __future__ import annotations

import uuid

import pytest
from postgrest.exceptions import APIError
from postgrest.types import ReturnMethod
from storage3.exceptions import StorageApiError

from tests.supabase_stack.devices import Device, make_generation, unique_email
from tests.supabase_stack.fixtures import pg_cluster, supabase_stack, supabase_stack_session  # noqa: F401


@pytest.fixture
def alice_and_bob(supabase_stack, tmp_path):  # noqa: F811
    alice = Device(supabase_stack, tmp_path / "alice")
    alice.user_id = alice.sign_up(unique_email("alice"))
    gen = alice.library.add(make_generation(tmp_path / "lib"))
    alice.outbox.enqueue(gen.id)
    assert alice.worker().run_pending().pushed == [gen.id]
    bob = Device(supabase_stack, tmp_path / "bob")
    bob.user_id = bob.sign_up(unique_email("bob"))
    yield alice, bob, gen
    alice.close()
    bob.close()


def prompt_of(stack, gen_id):
    return stack.sql("select prompt from generations where id = %s", gen_id)


def test_bob_cannot_see_alices_generations(alice_and_bob):
    alice, bob, gen = alice_and_bob
    assert bob.auth.client.table("generations").select("*").execute().data == []
    assert [r["id"] for r in alice.auth.client.table("generations").select("id").execute().data
            ] == [gen.id]


def test_bob_cannot_change_or_delete_alices_generation(alice_and_bob, supabase_stack):  # noqa: F811
    _, bob, gen = alice_and_bob
    table = bob.auth.client.table("generations")

    assert table.update({"prompt": "pwned"}).eq("id", gen.id).execute().data == []
    with pytest.raises(APIError) as caught:  # no one may delete rows: deletes are tombstones
        table.delete().eq("id", gen.id).execute()
    assert caught.value.code == "42501"
    with pytest.raises(APIError) as caught:  # an upsert onto her id is an update of her row
        table.upsert({"id": gen.id, "status": "failed", "prompt": "pwned"},
                     on_conflict="id").execute()
    assert caught.value.code == "42501"
    assert prompt_of(supabase_stack, gen.id) == [("mossy brick wall",)]


def test_bob_cannot_file_a_generation_under_alices_name(alice_and_bob, supabase_stack):  # noqa: F811
    alice, bob, _ = alice_and_bob
    forged = str(uuid.uuid4())
    with pytest.raises(APIError, match="row-level security") as caught:
        # return=minimal, so only the insert policy stands in the way (not the select policy)
        bob.auth.client.table("generations").insert(
            {"id": forged, "user_id": alice.user_id, "status": "completed"},
            returning=ReturnMethod.minimal).execute()
    assert caught.value.code == "42501"
    assert supabase_stack.sql("select 1 from generations where id = %s", forged) == []


def test_bob_cannot_read_or_overwrite_alices_textures(alice_and_bob):
    alice, bob, gen = alice_and_bob
    key = f"{alice.user_id}/{gen.id}/base_color.{gen.files[0].sha256[:16]}.png"
    bucket = bob.auth.client.storage.from_("textures")

    with pytest.raises(StorageApiError) as caught:
        bucket.download(key)
    assert str(caught.value.status) == "404"
    assert bucket.list(f"{alice.user_id}/{gen.id}") == []
    with pytest.raises(StorageApiError) as caught:
        bucket.upload(key, b"not a texture", {"content-type": "image/png", "upsert": "true"})
    assert str(caught.value.status) == "403"
    assert bucket.remove([key]) == []
    assert alice.auth.client.storage.from_("textures").download(key) == (
        gen.files[0].path.read_bytes())


def test_without_signing_in_nothing_is_readable(alice_and_bob, supabase_stack, tmp_path):  # noqa: F811
    stranger = Device(supabase_stack, tmp_path / "stranger")
    try:
        with pytest.raises(APIError) as caught:
            stranger.auth.client.table("generations").select("*").execute()
        assert caught.value.code == "42501"
    finally:
        stranger.close()


def prompts_by_owner(stack, *user_ids):
    rows = stack.sql("select user_id::text, prompt from generations where user_id = any(%s::uuid[])"
                     " order by user_id, prompt", list(user_ids))
    return {uid: [p for u, p in rows if u == uid] for uid in user_ids}


def test_an_unfiltered_update_from_bob_is_refused_as_supabase_refuses_it(
        alice_and_bob, supabase_stack):  # noqa: F811
    alice, bob, _ = alice_and_bob
    before = prompts_by_owner(supabase_stack, alice.user_id, bob.user_id)

    with pytest.raises(APIError) as caught:  # pg-safeupdate on the API role
        bob.auth.client.table("generations").update(
            {"prompt": "pwned"}, returning=ReturnMethod.minimal).execute()
    assert caught.value.code == "21000"
    assert prompts_by_owner(supabase_stack, alice.user_id, bob.user_id) == before


def test_without_safeupdate_an_unfiltered_update_moves_only_bobs_rows(
        alice_and_bob, supabase_stack, tmp_path):  # noqa: F811
    alice, bob, _ = alice_and_bob
    bob_gen = bob.library.add(make_generation(tmp_path / "bob-lib", "bob's marble"))
    bob.outbox.enqueue(bob_gen.id)
    assert bob.worker().run_pending().pushed == [bob_gen.id]
    supabase_stack.safeupdate = False  # a project that switched pg-safeupdate off

    # return=minimal: no RETURNING, so only the UPDATE policy stands between Bob and her rows
    bob.auth.client.table("generations").update(
        {"prompt": "pwned"}, returning=ReturnMethod.minimal).execute()

    assert prompts_by_owner(supabase_stack, alice.user_id, bob.user_id) == {
        alice.user_id: ["mossy brick wall"], bob.user_id: ["pwned"]}
