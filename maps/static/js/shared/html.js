// Small HTML helpers every page uses: escaping, the "synthetic" badge, a two-column table.

const ENTITIES = {"&": "&amp;", "<": "&lt;", ">": "&gt;", "\"": "&quot;", "'": "&#39;"};

/** Text made safe to put inside HTML (null and undefined become ""). */
export function esc(value) {
  if (value === null || value === undefined) return "";
  return String(value).replace(/[&<>"']/g, (c) => ENTITIES[c]);
}

/** The badge shown next to anything generated (source = "synthetic"), else "". */
export function syntheticBadge(props) {
  return props && props.source === "synthetic" ? " <span class=\"gm-synthetic\">演示数据 synthetic</span>" : "";
}

/** A table of [label, value] rows; rows whose value is empty are left out. */
export function tableRows(pairs) {
  let html = "<table class=\"gm-table\">";
  for (const [label, value] of pairs) {
    if (value !== null && value !== undefined && value !== "") {
      html += `<tr><th>${esc(label)}</th><td>${esc(value)}</td></tr>`;
    }
  }
  return html + "</table>";
}
