// The queue beside the map: filters → GET /api/v1/incidents/queue (filtered and sorted by the server, 待人工派遣
// first), polled every few seconds so that it updates without reloading; a click opens the incident.

import {esc} from "gridmap/shared/html.js";
import {queryString} from "gridmap/pages/dispatch/api.js";
import {badges, holder, shortTime} from "gridmap/pages/dispatch/format.js";

const PAGE = 50;

function fillSelect(select, options) {
  for (const {code, zh} of options) select.add(new Option(`${zh} (${code})`, code));
}

/** The filters as query parameters. */
export function filterParams(form) {
  const data = new FormData(form);
  return {
    state: data.get("state"), category: data.get("category"), channel: data.get("channel"),
    grid: (data.get("grid") || "").trim(), overdue: data.get("overdue") === "true" ? "true" : null,
    manual: data.get("manual") === "true" ? "true" : null, sort: data.get("sort"),
  };
}

function itemHtml(item, selected) {
  const classes = [item.manual ? "wb-manual" : "", item.overdue ? "wb-overdue" : "", selected ? "wb-sel" : ""];
  const grid = item.grid ? (item.grid.name || item.grid.code) : (item.community_code || "无网格");
  return `<li data-id="${item.id}" class="${classes.join(" ").trim()}">` +
    `<b>#${item.id}</b> ${esc(item.category_zh)} ${badges(item)}<br>` +
    `<span class="wb-meta">${esc(grid)} · ${esc(item.level_zh)} · 处置 ${holder(item)}</span><br>` +
    `<span class="wb-meta">上报 ${shortTime(item.created_at)} · 时限 ${shortTime(item.due_at)}` +
    `${item.channel_zh ? " · " + esc(item.channel_zh) : ""}</span></li>`;
}

/**
 * The queue: {load(), start(), items(), select(id)}. ``els``: {form, list, counts, more, updated, live}.
 * ``onSelect(item)`` opens an incident; ``onItems(items, selectedId)`` draws them on the map.
 */
export function createQueue({api, config, els, onSelect, onItems}) {
  fillSelect(els.form.elements.state, config.states.filter((s) => s.code !== "closed"));
  els.form.elements.state.add(new Option("已结案 (closed)", "closed"));
  fillSelect(els.form.elements.category, config.categories);
  fillSelect(els.form.elements.channel, config.channels);
  const state = {items: [], limit: PAGE, selected: null, shown: "", loading: false, loads: 0, answer: null};

  function render(answer) {
    const key = JSON.stringify([answer.items, answer.count, state.selected]);
    if (key === state.shown) return;
    state.shown = key;
    els.list.innerHTML = answer.items.map((item) => itemHtml(item, item.id === state.selected)).join("") ||
      "<li class=\"wb-meta\">没有符合条件的事件 (nothing matches)</li>";
    els.counts.innerHTML = `共 <b>${answer.count}</b> 件 · 超期 <b>${answer.overdue}</b> · ` +
      `待人工派遣 <b class="${answer.manual ? "wb-error" : ""}">${answer.manual}</b>`;
    els.more.hidden = answer.items.length >= answer.count;
    onItems(answer.items, state.selected);
  }

  async function load() {
    if (state.loading) return;
    state.loading = true;
    const params = {...filterParams(els.form), crs: config.crs, limit: state.limit};
    const answer = await api.get("/api/v1/incidents/queue" + queryString(params));
    state.loading = false;
    state.loads += 1;
    els.live.classList.toggle("wb-stale", !answer.ok);
    if (!answer.ok) {
      els.counts.innerHTML = `<span class="wb-error">队列未更新 (not updated)：${esc(api.errorMessage(answer))}</span>`;
      return;
    }
    state.items = answer.body.items;
    state.answer = answer.body;
    els.updated.textContent = new Date().toLocaleTimeString("zh-CN", {hour12: false});
    render(answer.body);
  }

  els.form.addEventListener("change", () => { state.limit = PAGE; load(); });
  els.form.addEventListener("submit", (event) => { event.preventDefault(); load(); });
  els.more.addEventListener("click", () => { state.limit += PAGE; load(); });
  els.list.addEventListener("click", (event) => {
    const li = event.target.closest("li[data-id]");
    if (li) select(Number(li.dataset.id), true);
  });

  function select(id, fromList = false) {
    state.selected = id;
    if (state.answer) render(state.answer);
    const item = state.items.find((x) => x.id === id);
    if (fromList || item) onSelect(id, item || null);
  }

  function start() {
    load();
    return window.setInterval(load, Math.max(2, config.pollSeconds) * 1000);
  }

  return {load, start, select, state, items: () => state.items};
}
