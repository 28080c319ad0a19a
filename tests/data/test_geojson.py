"""`Accept: application/geo+json` where `st_asgeojson(record)` exists.

PostGIS is not available to the test server, so the module installs a stand-in with PostGIS's
signature and output shape (a GeoJSON Feature per row); what is tested is NEO's side: the
negotiation, the FeatureCollection around the features, the content type.
"""

from __future__ import annotations

import httpx

from tests.conftest import DEMO_ANON_KEY
from tests.support.js import run_js

EXTRA_SQL = """
create table places (id int primary key, name text not null);
insert into places values (1, 'harbour'), (2, 'hill');
create function extensions.st_asgeojson(r record) returns text language plpgsql immutable as $$
begin
    return json_build_object('type', 'Feature', 'geometry', null, 'properties', to_json(r))::text;
end $$;
"""


GEO = {"Accept": "application/geo+json"}


async def test_read_as_feature_collection(client: httpx.AsyncClient) -> None:
    response = await client.get("/rest/v1/places?select=id,name&order=id", headers=GEO)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/geo+json; charset=utf-8"
    assert response.json() == {
        "type": "FeatureCollection",
        "features": [
            {"type": "Feature", "geometry": None, "properties": {"id": 1, "name": "harbour"}},
            {"type": "Feature", "geometry": None, "properties": {"id": 2, "name": "hill"}},
        ],
    }


async def test_empty_result_is_an_empty_collection(client: httpx.AsyncClient) -> None:
    response = await client.get("/rest/v1/places?id=eq.99", headers=GEO)
    assert response.json() == {"type": "FeatureCollection", "features": []}


async def test_write_representation_as_geojson(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/rest/v1/places",
        json={"id": 3, "name": "bay"},
        headers=GEO | {"Prefer": "return=representation"},
    )
    assert response.status_code == 201, response.text
    features = response.json()["features"]
    assert [f["properties"] for f in features] == [{"id": 3, "name": "bay"}]


def test_supabase_js_geojson(server_url: str) -> None:
    script = """
const anon = createClient(process.env.SUPABASE_URL, process.env.SUPABASE_KEY);
const r = await anon.from('places').select('id').eq('id', 2).geojson();
console.log(JSON.stringify({ data: r.data, status: r.status }));
"""
    out = run_js(script, url=server_url, key=DEMO_ANON_KEY)
    assert out["status"] == 200
    assert out["data"]["type"] == "FeatureCollection"
    assert [f["properties"] for f in out["data"]["features"]] == [{"id": 2}]
