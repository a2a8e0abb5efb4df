// Labels the workbench repeats: times, badges, who has an incident.

import {esc} from "gridmap/shared/html.js";

const pad = (n) => String(n).padStart(2, "0");

/** "11-20 14:05" in the browser's time zone ("—" for none). */
export function shortTime(iso) {
  if (!iso) return "—";
  const t = new Date(iso);
  return `${pad(t.getMonth() + 1)}-${pad(t.getDate())} ${pad(t.getHours())}:${pad(t.getMinutes())}`;
}

/** The value of an <input type="datetime-local"> for a time. */
export function localInput(date) {
  return `${date.getFullYear()}-${pad(date.getMonth() + 1)}-${pad(date.getDate())}T${pad(date.getHours())}:` +
    pad(date.getMinutes());
}

/** A coloured tag. */
export function tag(text, colour = "") {
  return `<span class="wb-tag${colour ? " wb-" + colour : ""}">${esc(text)}</span>`;
}

/** Who has the incident: a person (with role), a unit, or the 待人工派遣 queue. */
export function holder(item) {
  if (item.assignee && item.assignee.name) return esc(item.assignee.name);
  if (item.assignee_unit) return esc(item.assignee_unit);
  return item.state === "closed" ? "—" : "<b class=\"wb-error\">待人工派遣 (unassigned)</b>";
}

/** The badges of a queue item or an incident: 待人工派遣, 超期, the state. */
export function badges(item) {
  let html = "";
  if (item.manual) html += tag("待人工派遣", "red");
  if (item.overdue) html += tag(item.overdue_h ? `超期 ${item.overdue_h} 小时` : "超期 overdue", "orange");
  html += tag(item.state_zh || item.state, item.state === "closed" ? "green" : "");
  return html;
}
