// 居民议事厅: topics on a Leaflet map coloured by step, the list, and the public form to propose a topic.
// Data come from the public API (/api/v1/deliberation/...); no personal data is shown.

const state = { map: null, marker: null, layer: null, busy: 0, errors: [] };

function el(tag, text, cls) {
  const node = document.createElement(tag);
  if (text !== undefined) node.textContent = text;
  if (cls) node.className = cls;
  return node;
}

async function getJson(url) {
  const response = await fetch(url, { headers: { Accept: "application/json" } });
  const body = await response.json();
  if (!response.ok) throw new Error(body.error ? body.error.message : response.statusText);
  return body;
}

function colourLegend(steps) {
  const colours = Object.fromEntries(steps.map((s) => [s.zh, s.colour]));
  document.querySelectorAll("#legend li").forEach((li) => {
    li.querySelector(".dot").style.background = colours[li.textContent.trim()] || "#999";
  });
}

function renderList(features) {
  const list = document.getElementById("topic-list");
  list.replaceChildren();
  features.forEach((f) => {
    const p = f.properties;
    const li = el("li");
    li.dataset.topicId = String(p.id);
    li.append(el("span", p.title, "title"));
    const badge = el("span", p.step_zh, "step");
    badge.style.background = p.colour;
    li.append(badge);
    list.append(li);
  });
  document.getElementById("topic-count").textContent = `共 ${features.length} 项`;
  const synthetic = features.some((f) => f.properties.source === "synthetic");
  document.getElementById("synthetic-note").hidden = !synthetic;
}

// The place of the new topic: a tap on the map, or on a topic already there (the same spot).
function choosePlace(latlng) {
  const { lat, lng } = latlng;
  document.getElementById("lon").value = lng.toFixed(6);
  document.getElementById("lat").value = lat.toFixed(6);
  if (state.marker) state.marker.setLatLng(latlng);
  else state.marker = window.L.marker(latlng).addTo(state.map);
  document.getElementById("place-hint").textContent = `已选位置 ${lat.toFixed(5)}, ${lng.toFixed(5)}`;
}

function renderMap(collection) {
  if (!state.map) return;
  if (state.layer) state.layer.remove();
  const placed = collection.features.filter((f) => f.geometry);
  state.layer = window.L.geoJSON({ type: "FeatureCollection", features: placed }, {
    pointToLayer: (f, latlng) => window.L.circleMarker(latlng, {
      radius: 8, color: "#fff", weight: 2, fillColor: f.properties.colour, fillOpacity: 0.9,
    }).bindPopup(() => el("span", `${f.properties.step_zh}：${f.properties.title}`))
      .on("click", (event) => choosePlace(event.latlng)),
  }).addTo(state.map);
  if (placed.length) state.map.fitBounds(state.layer.getBounds(), { maxZoom: 15, padding: [20, 20] });
}

async function loadTopics() {
  state.busy += 1;
  try {
    const collection = await getJson("/api/v1/deliberation/topics?format=geojson");
    renderList(collection.features);
    renderMap(collection);
  } catch (err) {
    state.errors.push(String(err));
  } finally {
    state.busy -= 1;
  }
}

function setupMap() {
  if (!window.L) return;
  const box = document.getElementById("topic-map");
  state.map = window.L.map(box).setView([38.5, 102.19], 13);
  if (box.dataset.tiles) {
    window.L.tileLayer(box.dataset.tiles, { attribution: "© OpenStreetMap contributors", maxZoom: 19 })
      .addTo(state.map);
  }
  state.map.on("click", (event) => choosePlace(event.latlng));
}

function formBody(form) {
  const data = new FormData(form);
  const body = {};
  for (const [key, value] of data.entries()) {
    if (value !== "") body[key] = key === "lon" || key === "lat" ? Number(value) : value;
  }
  return body;
}

async function submitTopic(event) {
  event.preventDefault();
  const form = event.target;
  const msg = document.getElementById("propose-msg");
  msg.className = "msg";
  msg.textContent = "";
  const body = formBody(form);
  if (body.lon === undefined) {
    msg.className = "msg err";
    msg.textContent = "请先在地图上点选议题的位置 (tap the map first)";
    return;
  }
  state.busy += 1;
  try {
    const response = await fetch("/api/v1/deliberation/topics", {
      method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body),
    });
    const answer = await response.json();
    if (!response.ok) throw new Error(answer.error ? answer.error.message : "提交失败");
    msg.className = "msg ok";
    msg.textContent = `已收到议题 #${answer.id}，进入「${answer.step_zh}」(received)`;
    form.reset();
    await loadTopics();
  } catch (err) {
    msg.className = "msg err";
    msg.textContent = err.message;
  } finally {
    state.busy -= 1;
  }
}

async function start() {
  setupMap();
  document.getElementById("propose").addEventListener("submit", submitTopic);
  state.busy += 1;
  try {
    const roles = await getJson("/api/v1/deliberation/roles");
    colourLegend(roles.steps);
  } catch (err) {
    state.errors.push(String(err));
  } finally {
    state.busy -= 1;
  }
  await loadTopics();
}

window.civic = { isIdle: () => state.busy === 0, errors: state.errors, state };
window.addEventListener("load", () => { start(); });
