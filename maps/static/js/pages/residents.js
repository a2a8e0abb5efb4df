// 居民办事 on the public map (phone first): 随手拍 (report a problem, optional photo link), 点单 (order a service)
// and 微心愿 (post a small wish). The place is chosen by a click on the map, "我的位置" or a search of names —
// never a code. Each accepted form shows its tracking code and a link to /maps/track/{code}; problems come back
// from the server per field (usecases/residents.py) and are shown under the field they concern.

import {esc} from "gridmap/shared/html.js";
import {errorMessage, getJson, jsonHeaders, requestJson} from "gridmap/shared/http.js";
import {state} from "gridmap/map/state.js";

const FORMS = {
  report: {label: "随手拍", url: "/api/v1/residents/reports", fields: [
    ["category", "问题类别", "select"], ["description", "问题描述", "textarea", 500],
    ["photo_url", "照片链接（选填）", "url", 500]]},
  order: {label: "点单", url: "/api/v1/residents/orders", fields: [
    ["category", "服务类别", "select"], ["description", "需要什么帮助", "textarea", 500]]},
  wish: {label: "微心愿", url: "/api/v1/residents/wishes", fields: [
    ["title", "我的心愿", "text", 60], ["description", "心愿说明（选填）", "textarea", 500]]},
};
const CONTACT = [["name", "称呼（选填，仅工作人员可见）", "text", 40], ["phone", "联系电话（选填，仅工作人员可见）", "tel", 20]];

function fieldHtml(kind, [name, label, type, max], choices) {
  const id = `gm-${kind}-${name}`;
  const limit = max ? ` maxlength="${max}"` : "";
  let input;
  if (type === "select") {
    input = `<select id="${id}" name="${name}"><option value="">请选择</option>`
      + choices.map(([code, zh]) => `<option value="${esc(code)}">${esc(zh)}</option>`).join("") + "</select>";
  } else if (type === "textarea") {
    input = `<textarea id="${id}" name="${name}" rows="3"${limit}></textarea>`;
  } else {
    input = `<input id="${id}" name="${name}" type="${type}"${limit} autocomplete="off">`;
  }
  return `<div class="gm-field"><label for="${id}">${esc(label)}</label>${input}`
    + `<p class="gm-err" data-for="${name}"></p></div>`;
}

function formHtml(kind, options) {
  const spec = FORMS[kind];
  const fields = spec.fields.concat(CONTACT).map((f) => fieldHtml(kind, f, (options.choices || {})[kind] || []));
  // the honeypot: off screen, out of the tab order, never filled by a person
  const trap = `<label class="gm-trap" aria-hidden="true">主页<input name="${esc(options.honeypot)}" tabindex="-1"`
    + " autocomplete=\"off\"></label>";
  return `<form class="gm-form" data-kind="${kind}" novalidate hidden>${fields.join("")}${trap}`
    + `<button type="submit" class="gm-submit">提交${esc(spec.label)}</button><p class="gm-err gm-form-msg"></p>`
    + "<div class=\"gm-done\" hidden></div></form>";
}

function panelHtml(options) {
  const tabs = Object.entries(FORMS).map(([kind, spec]) =>
    `<button type="button" role="tab" data-tab="${kind}">${esc(spec.label)}</button>`).join("");
  return "<div class=\"gm-sheet-head\"><b>居民办事</b><button type=\"button\" class=\"gm-close\" aria-label=\"关闭\">×"
    + `</button></div><div class="gm-tabs" role="tablist">${tabs}</div>`
    + "<section class=\"gm-place\"><div class=\"gm-place-now\">位置：还没有选择</div>"
    + "<div class=\"gm-place-acts\"><button type=\"button\" data-act=\"pick\">在地图上点选</button>"
    + "<button type=\"button\" data-act=\"locate\">我的位置</button></div>"
    + "<input type=\"search\" class=\"gm-place-q\" placeholder=\"搜索地址、小区、设施、街道\" aria-label=\"搜索地点\">"
    + "<ul class=\"gm-place-hits\"></ul><p class=\"gm-err\" data-for=\"place\"></p></section>"
    + Object.keys(FORMS).map((kind) => formHtml(kind, options)).join("");
}

/** The chosen place: the pin on the map and the line above the forms. */
function placeSetter(map, panel) {
  let pin = null;
  return (place, text) => {
    state.residentPlace = place;
    if (pin) pin.remove();
    pin = L.circleMarker([place.pinLat, place.pinLon], {radius: 9, color: "#d84315", weight: 3, fillColor: "#ffab91",
      fillOpacity: 0.9}).addTo(map);
    panel.querySelector(".gm-place-now").textContent = "位置：" + text;
    panel.querySelector(".gm-err[data-for=place]").textContent = "";
  };
}

function wirePicking(map, panel, setPlace, crs) {
  panel.querySelector("[data-act=pick]").addEventListener("click", () => {
    state.picking = true;
    panel.classList.add("gm-picking");
  });
  map.on("click", (event) => {
    if (!state.picking) return;
    state.picking = false;
    panel.classList.remove("gm-picking");
    const {lat, lng} = event.latlng;
    setPlace({lon: lng, lat, crs, pinLon: lng, pinLat: lat}, `地图点选（${lng.toFixed(5)}, ${lat.toFixed(5)}）`);
  });
}

function wireLocating(map, panel, setPlace, crs) {
  panel.querySelector("[data-act=locate]").addEventListener("click", () => {
    const problem = panel.querySelector(".gm-err[data-for=place]");
    if (!navigator.geolocation) {
      problem.textContent = "此浏览器不能定位，请在地图上点选";
      return;
    }
    problem.textContent = "正在定位…";
    navigator.geolocation.getCurrentPosition(async (pos) => {
      const {longitude: lon, latitude: lat} = pos.coords;
      // the phone speaks WGS84; on a GCJ-02 basemap (Amap) its pin belongs at the shifted point
      const pin = crs === "wgs84" ? {lon, lat}
        : await getJson(`/api/v1/residents/position?lon=${lon}&lat=${lat}&crs=${crs}`).catch(() => null);
      if (!pin) { problem.textContent = "无法换算您的位置，请在地图上点选或搜索"; return; }
      setPlace({lon, lat, crs: "wgs84", pinLon: pin.lon, pinLat: pin.lat},
        `我的位置（精度约 ${Math.round(pos.coords.accuracy)} 米）`);
      map.setView([pin.lat, pin.lon], Math.max(map.getZoom(), 16));
    }, () => { problem.textContent = "无法取得您的位置（未授权或信号弱），请在地图上点选或搜索"; },
    {enableHighAccuracy: true, timeout: 10000});
  });
}

function wireSearch(map, panel, setPlace, crs) {
  const input = panel.querySelector(".gm-place-q");
  const list = panel.querySelector(".gm-place-hits");
  let asked = 0;
  input.addEventListener("input", async () => {
    const q = input.value.trim();
    const mine = ++asked;
    if (!q) { list.innerHTML = ""; return; }
    const found = await getJson(`/api/v1/residents/places?q=${encodeURIComponent(q)}&crs=${crs}`).catch(() => null);
    if (mine !== asked) return;  // a newer search is under way
    const places = found ? found.places : [];
    list.innerHTML = places.length ? places.map((p, i) => `<li data-i="${i}"><b>${esc(p.name)}</b> `
      + `<small>${esc(p.kind_zh)}${p.detail ? " · " + esc(p.detail) : ""}</small></li>`).join("")
      : "<li class=\"gm-muted\">没有找到，请换个说法或在地图上点选</li>";
    for (const li of list.querySelectorAll("li[data-i]")) {
      li.addEventListener("click", () => {
        const p = places[Number(li.dataset.i)];
        setPlace({lon: p.lon, lat: p.lat, crs, pinLon: p.lon, pinLat: p.lat}, p.name);
        map.setView([p.lat, p.lon], Math.max(map.getZoom(), 17));
        list.innerHTML = "";
      });
    }
  });
}

function showProblems(panel, form, fields) {
  for (const el of [...form.querySelectorAll(".gm-err[data-for]"), panel.querySelector(".gm-err[data-for=place]")]) {
    el.textContent = (fields || {})[el.dataset.for] || "";
  }
}

function doneHtml(answer) {
  return `<p>${esc(answer.message)}</p><p class="gm-token-line">查询码 <b class="gm-token">${esc(answer.token)}</b></p>`
    + `<a class="gm-track" href="${esc(answer.track_url)}">查看办理进度</a>`;
}

async function submit(panel, form) {
  const kind = form.dataset.kind;
  const body = Object.fromEntries(new FormData(form).entries());
  const place = state.residentPlace;
  if (place) Object.assign(body, {lon: place.lon, lat: place.lat, crs: place.crs});
  const answer = await requestJson(FORMS[kind].url, {method: "POST", body, headers: jsonHeaders("")});
  const detail = answer.body && answer.body.error && answer.body.error.detail;
  const fields = detail && detail.fields;
  showProblems(panel, form, fields);
  const summary = fields && !fields[Object.keys(fields)[0]].includes("隐藏") ? "请按红字提示修改后再提交" : errorMessage(answer);
  form.querySelector(".gm-form-msg").textContent = answer.ok ? "" : summary;
  if (answer.ok) {
    const done = form.querySelector(".gm-done");
    done.innerHTML = doneHtml(answer.body);
    done.hidden = false;
    state.lastResident = answer.body;
  }
}

function wireTabs(panel) {
  const show = (kind) => {
    for (const b of panel.querySelectorAll("[data-tab]")) b.setAttribute("aria-selected", String(b.dataset.tab === kind));
    for (const f of panel.querySelectorAll(".gm-form")) f.hidden = f.dataset.kind !== kind;
  };
  for (const b of panel.querySelectorAll("[data-tab]")) b.addEventListener("click", () => show(b.dataset.tab));
  show("report");
}

function opener(map, panel) {
  const ctl = L.control({position: "topright"});
  ctl.onAdd = () => {
    const button = L.DomUtil.create("button", "gm-open-forms");
    button.type = "button";
    button.textContent = "我要办事";
    L.DomEvent.disableClickPropagation(button);
    button.addEventListener("click", () => { panel.hidden = false; });
    return button;
  };
  ctl.addTo(map);
}

/** The residents' forms on the public map; ``options``: {choices, honeypot, crs}. */
export function start(map, options) {
  const panel = L.DomUtil.create("aside", "gm-sheet", document.body);
  panel.hidden = true;
  panel.innerHTML = panelHtml(options);
  L.DomEvent.disableClickPropagation(panel);
  L.DomEvent.disableScrollPropagation(panel);
  const crs = options.crs || "wgs84";
  const setPlace = placeSetter(map, panel);
  wireTabs(panel);
  wirePicking(map, panel, setPlace, crs);
  wireLocating(map, panel, setPlace, crs);
  wireSearch(map, panel, setPlace, crs);
  panel.querySelector(".gm-close").addEventListener("click", () => { panel.hidden = true; state.picking = false; });
  for (const form of panel.querySelectorAll(".gm-form")) {
    form.addEventListener("submit", (event) => { event.preventDefault(); submit(panel, form); });
  }
  opener(map, panel);
}
