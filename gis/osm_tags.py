"""OpenStreetMap tags → gridmap facility types (设施类型), as one documented, ordered table.

:func:`classify` takes the tags of one OSM feature (a ``dict`` of ``key → value``) and returns a facility type
code of :data:`gis.domain.FACILITY_TYPES`, or ``None`` when the feature is not a facility we track.

Precedence (the first step that decides wins):

1. **Not in use**: ``disused=yes`` or ``abandoned=yes`` → ``None`` (lifecycle-prefixed keys such as
   ``disused:amenity=school`` match no rule anyway).
2. **Chinese names** (:data:`NAME_RULES`): the "七个一" and the community function rooms are rarely tagged in
   OSM beyond ``amenity=community_centre`` or ``office=government``; their names say what they are
   (``…村卫生室``, ``…互助老人幸福院``, ``…警务室``). A name rule applies only to a feature that carries at
   least one facility key (:data:`FACILITY_KEYS`: ``amenity``, ``shop``, ``leisure``, ``healthcare``,
   ``office``, ``social_facility``, ``club``, ``building``), so a street named "健身路" is not a
   fitness square.
3. **Tag rules** (:data:`TAG_RULES`), in table order: more specific rules come first (a rule with extra
   required tags before the plain one), and the keys are
   tried in the order ``amenity`` → ``healthcare`` → ``social_facility`` → ``shop`` → ``leisure`` →
   ``highway``/``public_transport``. A school with a sports pitch drawn on the same way is a school.

Access: toilets and swimming pools with ``access`` in ``no``/``private``/``customers`` are not "open to the
public" and are dropped; other facilities keep their type whatever the access (a residents-only gym still
serves the residents of its compound).

The table is published as ``docs/osm_tags.md`` by :func:`markdown_table` (``gridmap osm tags --write``);
a test keeps the two in sync.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gis.domain import FACILITY_TYPES

TYPE_NAMES: dict[str, tuple[str, str]] = {code: (zh, en) for code, _g, zh, en in FACILITY_TYPES}
"""``{type code: (Chinese name, English name)}``."""

FACILITY_KEYS: tuple[str, ...] = (
    "amenity", "shop", "leisure", "healthcare", "office", "social_facility", "club", "building",
)
"""Keys that make a feature a candidate for a name rule."""

_CLOSED_ACCESS = frozenset({"no", "private", "customers", "permit"})


@dataclass(frozen=True)
class TagRule:
    """One mapping row: ``key=value`` (``*`` = any value) plus extra required tags → ``type_code``."""

    key: str
    values: tuple[str, ...]
    type_code: str
    also: tuple[tuple[str, tuple[str, ...]], ...] = ()
    public_only: bool = False
    note: str = ""

    def matches(self, tags: Mapping[str, str]) -> bool:
        """True if ``tags`` satisfy this rule."""
        value = tags.get(self.key)
        if value is None or not (self.values == ("*",) or value in self.values):
            return False
        for key, wanted in self.also:
            got = tags.get(key)
            if got is None or not (wanted == ("*",) or got in wanted):
                return False
        if self.public_only and tags.get("access") in _CLOSED_ACCESS:
            return False
        return True

    def tag_text(self) -> str:
        """The rule as Markdown-safe tag text, e.g. ```amenity` = clinic / doctors``."""
        parts = [f"`{self.key}` = {' / '.join(self.values)}"]
        parts += [f"`{k}` = {' / '.join(v)}" for k, v in self.also]
        text = " + ".join(parts)
        if self.public_only:
            text += " (not `access` = no / private / customers / permit)"
        return text


@dataclass(frozen=True)
class NameRule:
    """A Chinese name fragment (子串) that identifies a "七个一" facility or a function room."""

    fragments: tuple[str, ...]
    type_code: str
    note: str = ""


NAME_RULES: tuple[NameRule, ...] = (
    NameRule(("民情恳谈室", "恳谈室"), "talk_room"),
    NameRule(("居民议事厅", "议事厅", "议事室"), "council_hall"),
    NameRule(("心理咨询室", "心理咨询", "心理健康服务站"), "counselling_room"),
    NameRule(("警务室", "警务站"), "police_room", "社区警务室 / 警务站, not a 派出所"),
    NameRule(("幸福院", "互助老人", "日间照料"), "elderly_home", "互助老人幸福院 / 日间照料中心"),
    NameRule(("卫生服务站", "卫生服务中心"), "clinic", "社区卫生服务站/中心"),
    NameRule(("卫生室", "卫生站", "卫生所"), "village_clinic", "村卫生室"),
    NameRule(("图书室", "农家书屋"), "reading_room"),
    NameRule(("文化活动中心", "文化站", "文化礼堂", "文化大院", "综合文化服务中心"), "culture_centre"),
    NameRule(("党群服务中心", "活动阵地", "村委会", "居委会", "活动室"), "activity_venue",
             "村（社区）党群服务中心 / 村委会：the 活动阵地"),
    NameRule(("健身广场", "健身路径", "文体广场"), "fitness_square"),
    NameRule(("社区服务中心", "便民服务中心"), "community_centre"),
    NameRule(("养老院", "敬老院", "老年公寓", "养老服务中心", "护理院"), "elderly_care"),
    NameRule(("菜市场", "农贸市场"), "supermarket"),
    NameRule(("公共厕所", "公厕"), "open_toilet"),
)
"""Name rules, in precedence order (first match wins)."""

_SENIOR = ("social_facility:for", ("senior", "elderly", "aged"))

TAG_RULES: tuple[TagRule, ...] = (
    # Toilets open to the public and community function rooms.
    TagRule("amenity", ("toilets",), "open_toilet", public_only=True),
    TagRule("amenity", ("police",), "police_room", note="派出所 and 警务室 alike: the nearest police post"),
    # Health.
    TagRule("amenity", ("clinic", "doctors", "dentist"), "clinic"),
    TagRule("amenity", ("hospital",), "clinic", note="a hospital also serves as the 15-minute clinic"),
    TagRule("amenity", ("pharmacy",), "pharmacy"),
    # Education and culture.
    TagRule("amenity", ("kindergarten", "childcare"), "kindergarten"),
    TagRule("amenity", ("school",), "school", note="中小学; university/college are not mapped"),
    TagRule("amenity", ("library",), "library"),
    TagRule("amenity", ("arts_centre",), "culture_centre"),
    # Elderly care.
    TagRule("amenity", ("social_facility",), "elderly_care", also=(_SENIOR,)),
    TagRule("amenity", ("nursing_home", "retirement_home"), "elderly_care",
            note="deprecated tags, still used"),
    TagRule("amenity", ("social_facility",), "elderly_care",
            also=(("social_facility", ("nursing_home", "assisted_living")),)),
    # Community services.
    TagRule("amenity", ("community_centre", "social_centre"), "community_centre"),
    TagRule("amenity", ("townhall",), "activity_venue",
            also=(("townhall:type", ("village", "community")),), note="村委会/居委会 buildings"),
    TagRule("amenity", ("post_office", "bank"), "post_bank", note="ATMs are not mapped"),
    TagRule("amenity", ("marketplace",), "supermarket", note="菜市场 / 农贸市场"),
    TagRule("amenity", ("bus_station",), "bus_stop"),
    # Health facilities tagged with healthcare=* only.
    TagRule("healthcare", ("clinic", "doctor", "centre", "hospital"), "clinic"),
    TagRule("healthcare", ("pharmacy",), "pharmacy"),
    TagRule("healthcare", ("counselling", "psychotherapist"), "counselling_room"),
    TagRule("social_facility", ("nursing_home", "assisted_living"), "elderly_care"),
    # Shopping.
    TagRule("shop", ("supermarket", "greengrocer", "mall", "department_store"), "supermarket"),
    TagRule("shop", ("convenience", "general"), "small_shop", note="小超市 / 便利店"),
    TagRule("shop", ("chemist",), "pharmacy", note="in China shop=chemist is usually a 药店"),
    # Sport and leisure.
    TagRule("leisure", ("fitness_station",), "fitness_square", note="outdoor fitness equipment, 健身路径"),
    TagRule("leisure", ("swimming_pool",), "fitness", public_only=True),
    TagRule("leisure", ("fitness_centre", "sports_centre", "sports_hall", "pitch", "stadium", "track"),
            "fitness"),
    TagRule("leisure", ("park", "garden", "playground", "recreation_ground", "common"), "park"),
    # Transport.
    TagRule("highway", ("bus_stop",), "bus_stop"),
    TagRule("public_transport", ("platform",), "bus_stop", also=(("bus", ("yes",)),)),
)
"""Tag rules, in precedence order (first match wins)."""


def _in_use(tags: Mapping[str, str]) -> bool:
    return tags.get("disused") != "yes" and tags.get("abandoned") != "yes"


def _names(tags: Mapping[str, str]) -> list[str]:
    return [v for k in ("name", "name:zh", "official_name", "alt_name") if (v := tags.get(k))]


def classify(tags: Mapping[str, str | None] | None) -> str | None:
    """The facility type code for an OSM feature's ``tags``, or ``None`` if it is not a tracked facility.

    Parameters
    ----------
    tags
        ``key → value``; ``None`` values and non-string values are ignored.

    Returns
    -------
    str or None
        A code of :data:`gis.domain.FACILITY_TYPES`.
    """
    if not tags:
        return None
    clean = {
        str(k): str(v).strip() for k, v in tags.items() if v is not None and isinstance(v, str | int | float)
    }
    if not _in_use(clean):
        return None
    if any(k in clean for k in FACILITY_KEYS):
        names = _names(clean)
        for rule in NAME_RULES:
            if any(frag in name for name in names for frag in rule.fragments):
                if rule.type_code == "open_toilet" and clean.get("access") in _CLOSED_ACCESS:
                    return None
                return rule.type_code
    for rule in TAG_RULES:
        if rule.matches(clean):
            return rule.type_code
    return None


def mapping_rows() -> list[dict[str, str]]:
    """Every rule as a row ``{order, kind, match, type_code, name_zh, name_en, note}``, in order."""
    rows = []
    for i, rule in enumerate(NAME_RULES, 1):
        zh, en = TYPE_NAMES[rule.type_code]
        rows.append({"order": str(i), "kind": "name", "match": "name ∋ " + " / ".join(rule.fragments),
                     "type_code": rule.type_code, "name_zh": zh, "name_en": en, "note": rule.note})
    for j, rule in enumerate(TAG_RULES, len(NAME_RULES) + 1):
        zh, en = TYPE_NAMES[rule.type_code]
        rows.append({"order": str(j), "kind": "tag", "match": rule.tag_text(),
                     "type_code": rule.type_code, "name_zh": zh, "name_en": en, "note": rule.note})
    return rows


def markdown_table() -> str:
    """The mapping as the Markdown page ``docs/osm_tags.md`` (generated; do not edit that file by hand)."""
    lines = [
        "# OpenStreetMap tags → facility types (OSM 标签与设施类型对照)",
        "",
        "<!-- Generated from gis/osm_tags.py by `gridmap osm tags --write docs/osm_tags.md`; "
        "do not edit. -->",
        "",
        "Rules are tried in order; the first that matches decides. Name rules (Chinese name fragments) apply",
        "only to features that carry one of the keys " + ", ".join(f"`{k}`" for k in FACILITY_KEYS) + ".",
        "Features tagged `disused=yes` or `abandoned=yes` are not mapped. Facilities imported from OSM keep",
        "their OSM id (`node/…`, `way/…`, `relation/…`) and the attribution",
        "© OpenStreetMap contributors (ODbL).",
        "",
        "| # | kind | OSM match | type code | 类型 | type |",
        "|---|---|---|---|---|---|",
    ]
    for r in mapping_rows():
        note = f" — {r['note']}" if r["note"] else ""
        lines.append(
            f"| {r['order']} | {r['kind']} | {r['match']}{note} | `{r['type_code']}` | {r['name_zh']} "
            f"| {r['name_en']} |"
        )
    mapped = {r["type_code"] for r in mapping_rows()}
    unmapped = [code for code, *_ in FACILITY_TYPES if code not in mapped]
    lines += ["", "## Types by group (按类别)", "", "| type code | 类型 | type | group | from OSM |",
              "|---|---|---|---|---|"]
    for code, group, zh, en in FACILITY_TYPES:
        has = "yes" if code in mapped else "no"
        lines.append(f"| `{code}` | {zh} | {en} | {group.zh} ({group.value}) | {has} |")
    if unmapped:
        codes = ", ".join(f"`{c}`" for c in unmapped)
        lines += ["", f"Types with no OSM rule (import them from GeoJSON/CSV): {codes}."]
    return "\n".join(lines) + "\n"
