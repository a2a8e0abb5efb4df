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
.note { margin-top: 6mm; font-size: 10pt; color: #555; }
.synthetic { margin-top: 2mm; font-size: 10pt; color: #b71c1c; }
"""


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
<table>{''.join(rows)}</table>
<p class="note">有事找网格，服务在身边。紧急情况请拨打 110 / 120 / 119。</p>{synthetic}
</div></body></html>"""
