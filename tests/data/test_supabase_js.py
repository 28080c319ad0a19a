"""supabase-js (postgrest-js) against a live NEO: reads, embeds, writes with RLS, RPC, errors."""

from __future__ import annotations

import json
from typing import Any

from tests.conftest import DEMO_ANON_KEY
from tests.data.conftest import ALICE, user_token
from tests.support.js import run_js

SCRIPT = """
const token = %s;
const anon = createClient(process.env.SUPABASE_URL, process.env.SUPABASE_KEY);
const alice = createClient(process.env.SUPABASE_URL, process.env.SUPABASE_KEY,
  { global: { headers: { Authorization: 'Bearer ' + token } } });
const pick = (r) => ({ data: r.data, error: r.error && r.error.code, status: r.status,
                       count: r.count ?? null });
const out = {};
out.eq = pick(await anon.from('books').select('id, title').eq('id', 2));
out.filters = pick(await anon.from('books').select('id').gte('pages', 300).lt('pages', 350)
  .not('price', 'is', null).order('id'));
const books = () => anon.from('books').select('id');
out.inList = pick(await books().in('id', [1, 5]).order('id', { ascending: false }));
out.or = pick(await books().or('id.eq.1,and(pages.gt.300,price.is.null)').order('id'));
out.fts = pick(await books().textSearch('title', 'darkness', { config: 'english' }));
out.range = pick(await anon.from('books').select('id', { count: 'exact' }).order('id').range(0, 1));
out.head = pick(await anon.from('books').select('*', { count: 'exact', head: true }));
out.single = pick(await anon.from('books').select('title').eq('id', 3).single());
out.notSingle = pick(await anon.from('books').select('title').single());
out.maybe = pick(await anon.from('books').select('title').eq('id', 99).maybeSingle());
out.embed = pick(await anon.from('books')
  .select('title, author:authors!author_id(name), reviews(stars)').eq('id', 1)
  .order('stars', { referencedTable: 'reviews' }));
out.spread = pick(await anon.from('books').select('title, ...authors!author_id(name)').eq('id', 2));
out.counted = pick(await anon.from('authors').select('name, books!author_id(count)').eq('id', 1));
out.json = pick(await anon.from('authors').select('born:profile->born').eq('id', 1));
out.insert = pick(await alice.from('todos').insert({ task: 'js task' })
  .select('task, done').single());
out.insertMinimal = pick(await alice.from('todos').insert({ task: 'js minimal' }));
out.update = pick(await alice.from('todos').update({ done: true }).eq('task', 'js task')
  .select('done'));
out.upsert = pick(await anon.from('genres').upsert({ id: 500, name: 'js genre' }).select());
out.del = pick(await alice.from('todos').delete().eq('task', 'js minimal').select('task'));
out.anonInsert = pick(await anon.from('todos').insert({ task: 'nope' }));
out.rpc = pick(await anon.rpc('add', { a: 2, b: 3 }));
out.rpcGet = pick(await anon.rpc('numbers', { n: 2 }, { get: true }));
out.rpcSet = pick(await anon.rpc('books_by', { author: 'Octavia' }).select('title'));
out.missing = pick(await anon.from('nope').select());
out.badCol = pick(await anon.from('books').select('nope'));
out.schema = pick(await anon.schema('api').from('items').select('*'));
out.csv = pick(await anon.from('genres').select('id').eq('id', 1).csv());
out.rollback = pick(await anon.from('genres').insert({ id: 501, name: 'rb' }).rollback());
console.log(JSON.stringify(out));
"""


def test_supabase_js_query_builder(server_url: str) -> None:
    out: dict[str, Any] = run_js(
        SCRIPT % json.dumps(user_token(ALICE)), url=server_url, key=DEMO_ANON_KEY
    )
    assert out["eq"] == {
        "data": [{"id": 2, "title": "Solaris"}],
        "error": None,
        "status": 200,
        "count": None,
    }
    assert out["filters"]["data"] == [{"id": 5}]
    assert out["inList"]["data"] == [{"id": 5}, {"id": 1}]
    assert out["or"]["data"] == [{"id": 1}, {"id": 4}]
    assert out["fts"]["data"] == [{"id": 4}]
    assert (out["range"]["count"], len(out["range"]["data"]), out["range"]["status"]) == (5, 2, 206)
    assert (out["head"]["count"], out["head"]["data"]) == (5, None)
    assert out["single"]["data"] == {"title": "Kindred"}
    assert (out["notSingle"]["error"], out["notSingle"]["status"]) == ("PGRST116", 406)
    assert out["maybe"]["data"] is None
    assert out["maybe"]["error"] is None
    assert out["embed"]["data"] == [
        {
            "title": "The Dispossessed",
            "author": {"name": "Ursula"},
            "reviews": [{"stars": 4}, {"stars": 5}],
        }
    ]
    assert out["spread"]["data"] == [{"title": "Solaris", "name": "Stanislaw"}]
    assert out["json"]["data"] == [{"born": 1929}]
    assert out["counted"]["data"] == [{"name": "Ursula", "books": [{"count": 2}]}]
    assert out["insert"] == {
        "data": {"task": "js task", "done": False},
        "error": None,
        "status": 201,
        "count": None,
    }
    assert (out["insertMinimal"]["status"], out["insertMinimal"]["data"]) == (201, None)
    assert out["update"]["data"] == [{"done": True}]
    assert out["upsert"]["data"] == [{"id": 500, "name": "js genre"}]
    assert out["del"]["data"] == [{"task": "js minimal"}]
    assert (out["anonInsert"]["status"], out["anonInsert"]["error"]) == (401, "42501")
    assert out["rpc"]["data"] == 5
    assert out["rpcGet"]["data"] == [1, 2]
    assert out["rpcSet"]["data"] == [{"title": "Kindred"}]
    assert (out["missing"]["status"], out["missing"]["error"]) == (404, "PGRST205")
    assert (out["badCol"]["status"], out["badCol"]["error"]) == (400, "42703")
    assert out["schema"]["status"] == 200
    assert out["csv"]["data"] == "id\n1"
    assert out["rollback"]["status"] == 201
