// Small helpers of the civic staff desk: elements by id, options of a select, numbers from inputs.

import {esc} from "gridmap/shared/html.js";

/** The element with this id. */
export const byId = (id) => document.getElementById(id);

/** Fill a select with [{value, label}] (an optional first blank choice). */
export function fillSelect(select, items, blank = "") {
  const rows = items.map((item) => `<option value="${esc(item.value)}">${esc(item.label)}</option>`);
  select.innerHTML = (blank ? `<option value="">${esc(blank)}</option>` : "") + rows.join("");
}

/** The integer typed in an input, or null when it is empty. */
export function intOf(input) {
  const text = input.value.trim();
  return text === "" ? null : Number.parseInt(text, 10);
}

/** A share 0–1 as a percentage ("—" when there is none). */
export function percent(share) {
  return share === null || share === undefined ? "—" : `${Math.round(share * 100)}%`;
}

/** Today as YYYY-MM-DD in the browser's time zone. */
export function today() {
  const now = new Date();
  return new Date(now.getTime() - now.getTimezoneOffset() * 60000).toISOString().slice(0, 10);
}

/** A time from the API (ISO, with its offset) as "YYYY-MM-DD HH:MM" in the browser's time zone. */
export function when(iso) {
  const time = new Date(iso);
  if (!iso || Number.isNaN(time.getTime())) return "";
  return new Date(time.getTime() - time.getTimezoneOffset() * 60000).toISOString().slice(0, 16).replace("T", " ");
}
