"""Region pack (区域数据包): a city's catalog, units, gazetteer, calendar, channels and policy, read and checked.

A pack is a folder (or, for the admin API, a dict of file name -> text) holding:

| file              | required | what                                                              |
|-------------------|----------|-------------------------------------------------------------------|
| region.json       | no       | {"code", "name", "city_code", "note"}; code defaults to the folder |
|                   |          | name, city_code to the jurisdiction of the city-level units        |
| catalog.csv       | yes      | duty catalog (职责清单) incl. the 99.99.999 fallback row            |
| districts.csv     | yes      | districts (区); a county-level city (县级市) lists itself once       |
| streets.csv       | yes      | streets and towns (街道/镇)                                         |
| communities.csv   | yes      | communities (社区)                                                  |
| roads.csv         | no       | roads and landmarks per street (address resolution)                |
| grids.csv         | no       | grids (网格): code,community_code,name                              |
| units.csv         | yes      | responsible units (责任单位) with their jurisdiction                 |
| channels.json     | yes      | channel registrations: code, name, key_id, secret_ref, callback_url|
| calendar.json     | no       | working-day overrides (chalicelib.policy.calendar_source format)   |
| policy.json       | yes      | dispatch/dedup thresholds and deadline time limits                 |
| lexicon.csv       | no       | code,phrases,situations: a leaf's everyday words and its typical   |
|                   |          | situations (`|`-separated): two more documents of the leaf for the |
|                   |          | dispatch model                                                     |
| examples/*.jsonl  | no       | labelled texts the dispatch model trains on, one JSON object a      |
|                   |          | line: `text` and the catalog code as `code` or `expected_code`;     |
|                   |          | `id` and `street` / `expected_street` are kept when present         |

README.md (and other files of examples/ than *.jsonl, and other subfolders) are not part of the
pack. Of an example only file, id, text, code and street are kept (`store.write_dir` writes them
back as {"id", "text", "code", "street"} lines); the dispatch model trains on the examples of the
parsed pack (chalicelib.policy.build), so a pack read from a folder and the same pack read back
from the store train the same model.

The unit tree is derived from jurisdiction codes: city (6 digits) → district (6) → street
(district + 3) → community (street + 3) → grid (community + 3). A district row whose code is
the city's own code stands for a county-level city without districts: its streets and towns
hang directly under the city.

Coverage rule (每个事项都有人管): every catalog row's (unit_type, unit_level) must have a unit of
that type in EVERY jurisdiction of that level (every district for `district`, every street for
`street`, every community for `community`, the city for `city`). A gap is an error, unless
policy.json names the unit type in `dispatch.gaps_to_fallback`: then appeals at an uncovered
place go to the 兜底 unit (the city-level 市民生诉求服务中心, which chalicelib.domain.units already
does at run time) and the admin has said so explicitly.

The modules: `model` (record types, RegionPack, content hash, unit tree), `parse` (folder or
{file: text} → RegionPack, keeping parse problems), `validate` (every problem at once, each naming
file, line, field and message), `diff` (what loading one pack over another changes) and `store`
(the one stored object: encode/decode, its S3 key; a pack written back as a folder). Nothing here
touches AWS.
"""
