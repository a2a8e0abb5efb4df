"""The printable contact board (公示牌) of a grid: one A4 page, from the board data, no personal data."""

from __future__ import annotations

from html import escape

_CSS = """
@page { size: A4; margin: 15mm; }
body { font-family: "Noto Sans CJK SC", "Source Han Sans SC", "Microsoft YaHei", sans-serif; color: #222; }
.board { border: 3px solid #c62828; padding: 12mm; max-width: 180mm; margin: auto; }
h1 { color: #c62828; text-align: center; margin: 0 0 4mm; font-size: 24pt; }
h2 { text-align: center; font-weight: normal; margin: 0 0 8mm; font-size: 13pt; }
table { width: 100%; border-collapse: collapse; font-size: 13pt; }
th, td { border: 1px solid #999; padding: 3mm 4mm; text-align: left; }
th { background: #fbe9e7; width: 32%; }
.vacant { color: #999; }
h3 { margin: 8mm 0 3mm; font-size: 14pt; }
.heads th { width: 45%; }
p.heads { font-size: 10pt; line-height: 1.5; }
.note { margin-top: 6mm; font-size: 10pt; color: #555; }
.synthetic { margin-top: 2mm; font-size: 10pt; color: #b71c1c; }
"""


def _people(people: list[dict]) -> str:
    if not people:
        return '<span class="vacant">待配备 (vacant)</span>'
    return "<br>".join(f"{escape(p['name'])}　{escape(p.get('public_phone') or '（电话未公示）')}" for p in people)


def _label(building: dict) -> str:
    return escape(building.get("name") or building.get("address") or f"楼栋 {building['building_id']}")


def _heads_table(buildings: list[dict]) -> str:
    """楼栋长 (and, on an entrance's board, each stairwell's 楼口长): a grid's board lists its buildings' heads in
    one compact cell so that it stays one page; an entrance's board names its own heads row by row."""
    if not buildings:
        return ""
    if len(buildings) > 1:
        cell = "；".join(f"{_label(b)}：{_people(b['building_heads'])}" for b in buildings)
        return f'<h3>楼栋长</h3><p class="heads">{cell}</p>'
    b = buildings[0]
    rows = [f"<tr><th>{_label(b)} 楼栋长</th><td>{_people(b['building_heads'])}</td></tr>"]
    rows += [f"<tr><th>{_label(b)} {s['number']}单元 楼口长</th><td>{_people(s['stairwell_heads'])}</td></tr>"
             for s in b["stairwells"]]
    return f'<h3>楼栋长与楼口长</h3><table class="heads">{"".join(rows)}</table>'


def board_page(board: dict) -> str:
    """Render ``layers.roster.contact_board`` output as a self-contained printable HTML page."""
    grid = board["grid"]
    rows = []
    for role in board["roles"]:
        people = role["people"]
        if people:
            cell = "<br>".join(
                f"{escape(p['name'])}　{escape(p.get('public_phone') or '（电话未公示）')}" for p in people
            )
        else:
            cell = '<span class="vacant">待配备 (vacant)</span>'
        rows.append(f"<tr><th>{escape(role['role_zh'])}</th><td>{cell}</td></tr>")
    heads = _heads_table(board.get("buildings") or [])
    synthetic = (
        '<p class="synthetic">演示数据（synthetic）：人员与电话均为生成数据，非真实信息。</p>'
        if grid.get("source") == "synthetic" else ""
    )
    return f"""<!doctype html>
<html lang="zh-CN"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{escape(grid['name'])} 公示牌</title><style>{_CSS}</style></head>
<body><div class="board">
<h1>网格公示牌</h1>
<h2>{escape(grid.get('community') or '')} · {escape(grid['name'])}<br>网格编码 {escape(grid['code'])}</h2>
<table>{''.join(rows)}</table>{heads}
<p class="note">有事找网格，服务在身边。紧急情况请拨打 110 / 120 / 119。</p>{synthetic}
</div></body></html>"""
