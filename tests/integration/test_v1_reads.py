"""GET /v1/verifications/{id} and the list, through real HTTP against a real
Redis (no engine): who may read what, the phone filter, `since` and paging."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engine.keys import flood_key, v1_list_key
from engine.retention import purge_number
from tests.integration.api_harness import serve_api
from tests.integration.test_v1_create import VIEW_KEYS, V1Client, keypad

SEED = "/api/reverse_verify/"


@pytest.fixture
async def api(clean_redis) -> V1Client:
    async with serve_api(clean_redis, V1Client) as start:
        yield await start()


async def made(api: V1Client, token: str, account_id: str, numbers: list[str]) -> list[str]:
    """One keypad verification to each number, in order (a number again: its
    flood mark is lifted first); their ids."""
    ids = []
    for number in numbers:
        await api.redis.delete(flood_key(account_id, number[1:]))
        status, answer, _ = await api.create(token, keypad(number))
        assert status == 201
        ids.append(answer["id"])
    return ids


async def test_the_owner_reads_the_object_others_get_404(api):
    account_id, token = await api.account()
    [vid] = await made(api, token, account_id, ["+15551234567"])
    status, read = await api.read(token, "/" + vid)
    assert status == 200 and set(read) == VIEW_KEYS and read["status"] == "queued"
    assert read["phone"] == "+15551234567" and read["channel"] == "keypad"
    _, other = await api.account()
    for path in (f"/{vid}", "/0123456789ab", "/not-an-id", "/" + vid.upper()):
        status, answer = await api.read(other if path == f"/{vid}" else token, path)
        assert (status, answer["type"]) == (404, "urn:callverify:problem:not_found"), path
    status, answer = await api.read(None, "/" + vid)
    assert status == 401


async def test_a_seed_verification_is_not_a_v1_one(api):
    account = await api.store.accounts.create("seed", 10)
    params = {"api_key": account.api_key, "phone_number": "5551234567", "country_code": "1",
              "code": "1234", "callback_url": "http://site.example/cb"}
    async with api.http.get(api.base_url + SEED, params=params) as resp:
        assert await resp.text() == "0"
    [record] = await api.verifications()
    status, _ = await api.read(account.token, "/" + record["id"])
    assert status == 404
    assert (await api.read(account.token))[1] == {"data": [], "next_cursor": None}


async def test_the_list_pages_newest_first(api):
    account_id, token = await api.account()
    ids = await made(api, token, account_id, [f"+1555123000{n}" for n in range(5)])
    _, other = await api.account()
    await made(api, other, "-", ["+15551239999"])
    seen, cursor, pages = [], None, 0
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        status, page = await api.read(token, **params)
        assert status == 200 and len(page["data"]) <= 2
        seen += [item["id"] for item in page["data"]]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == ids[::-1] and pages == 3
    status, page = await api.read(token)
    assert [item["id"] for item in page["data"]] == ids[::-1] and page["next_cursor"] is None
    assert set(page["data"][0]) == VIEW_KEYS


async def test_the_phone_filter_and_since(api):
    account_id, token = await api.account()
    ids = await made(api, token, account_id, ["+15551230001", "+15551230002", "+15551230001",
                                              "+15551230001"])
    status, page = await api.read(token, phone="+15551230001")
    assert status == 200 and [i["id"] for i in page["data"]] == [ids[3], ids[2], ids[0]]
    # A "+" sent unencoded arrives as a space; a number without it is the same number.
    async with api.http.get(api.base_url + "/v1/verifications?phone=+15551230002",
                            headers={"Authorization": f"Bearer {token}"}) as resp:
        assert [i["id"] for i in (await resp.json())["data"]] == [ids[1]]
    status, page = await api.read(token, phone="15551230001", limit="1")
    assert [i["id"] for i in page["data"]] == [ids[3]]
    status, page = await api.read(token, phone="15551230001", cursor=page["next_cursor"])
    assert [i["id"] for i in page["data"]] == [ids[2], ids[0]] and page["next_cursor"] is None
    created = (await api.read(token, "/" + ids[2]))[1]["created_at"]
    assert [i["id"] for i in (await api.read(token, since=created))[1]["data"]] == [ids[3], ids[2]]
    unix = datetime.fromisoformat(created).astimezone(UTC).timestamp()
    assert [i["id"] for i in (await api.read(token, since=f"{unix:.3f}"))[1]["data"]] == [
        ids[3], ids[2]]
    assert (await api.read(token, since="2999-01-01T00:00:00"))[1]["data"] == []


@pytest.mark.parametrize("params,field", [
    ({"limit": "0"}, "limit"), ({"limit": "101"}, "limit"), ({"limit": "x"}, "limit"),
    ({"since": "yesterday"}, "since"), ({"cursor": "not-ours"}, "cursor"),
    ({"phone": "+1-555"}, "phone"), ({"sort": "asc"}, "sort")])
async def test_bad_list_parameters_name_the_field(api, params, field):
    _, token = await api.account()
    status, answer = await api.read(token, **params)
    assert (status, answer["errors"][0]["field"]) == (400, field)


async def test_a_purged_number_leaves_the_list(api):
    account_id, token = await api.account()
    ids = await made(api, token, account_id, ["+15551230001", "+15551230002"])
    await purge_number(api.redis, "15551230001")
    assert [i["id"] for i in (await api.read(token))[1]["data"]] == [ids[1]]
    assert (await api.read(token, phone="+15551230001"))[1]["data"] == []
    assert not await api.redis.exists(v1_list_key(account_id, "15551230001"))
