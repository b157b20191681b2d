// idseg annotation page: a thin caller of the HTTP API (same origin). No dependencies.
"use strict";

const $ = (id) => document.getElementById(id);
const COLORS = ["#e6194b", "#3cb44b", "#4363d8", "#f58231", "#911eb4", "#46f0f0", "#f032e6",
  "#bcf60c", "#008080", "#9a6324", "#800000", "#808000", "#000075"];
const FORMATS = ["png", "rle", "polygons"];

const state = {
  file: null, name: "image", image: null, session: null,
  prompts: [], pending: null, objects: [], document: null, view: "fill", busy: false,
};
const canvas = $("canvas");
const ctx = canvas.getContext("2d");
let drag = null;

function status(text, error = false) {
  $("status").textContent = text;
  $("status").className = error ? "error" : "";
}

async function api(path, options = {}) {
  const response = await fetch(path, options);
  const body = response.headers.get("content-type")?.includes("json") ? await response.json() : {};
  if (!response.ok) {
    const detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail);
    throw new Error(`${response.status}: ${detail || response.statusText}`);
  }
  return body;
}

function post(path, payload) {
  return api(path, {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(payload),
  });
}

async function openFile(file) {
  if (!file) return;
  state.file = file;
  state.name = file.name || "image";
  state.objects = []; state.prompts = []; state.pending = null; state.document = null;
  status("Uploading…");
  const url = URL.createObjectURL(file);
  state.image = await new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => resolve(img);
    img.onerror = () => reject(new Error("the browser cannot show this image"));
    img.src = url;
  });
  canvas.width = state.image.naturalWidth;
  canvas.height = state.image.naturalHeight;
  canvas.hidden = false;
  $("drop").hidden = true;
  try {
    state.session = await api("/v1/sessions", { method: "POST", body: file });
    status(state.session.sam2 ? "Drag a box around an object." : "No SAM2 model: document mode only.");
  } catch (err) {
    state.session = null;
    status(`Upload failed: ${err.message}`, true);
  }
  refresh();
}

function colored(pngBase64, color) {
  // A mask PNG as an offscreen canvas: the mask in `color`, translucent; also its bit array.
  return new Promise((resolve, reject) => {
    const img = new Image();
    img.onload = () => {
      const off = document.createElement("canvas");
      off.width = img.width; off.height = img.height;
      const c = off.getContext("2d");
      c.drawImage(img, 0, 0);
      const data = c.getImageData(0, 0, off.width, off.height);
      const [r, g, b] = [1, 3, 5].map((i) => parseInt(color.slice(i, i + 2), 16));
      const bits = new Uint8Array(off.width * off.height);
      for (let i = 0; i < bits.length; i++) {
        const on = data.data[4 * i] > 127;
        bits[i] = on ? 1 : 0;
        data.data.set(on ? [r, g, b, 115] : [0, 0, 0, 0], 4 * i);
      }
      c.putImageData(data, 0, 0);
      resolve({ canvas: off, bits });
    };
    img.onerror = () => reject(new Error("bad mask image"));
    img.src = `data:image/png;base64,${pngBase64}`;
  });
}

function colorOf(index) { return COLORS[index % COLORS.length]; }

async function asObject(mask, label, color) {
  const shown = await colored(mask.png, color);
  return { label, color, shown, rle: mask.rle, polygons: mask.polygons, bbox: mask.bbox,
    area: mask.area, score: mask.score };
}

async function predict() {
  if (!state.session || !state.session.sam2) return;
  if (!state.prompts.length) { state.pending = null; refresh(); return; }
  const points = state.prompts.filter((p) => p.type === "point");
  const boxes = state.prompts.filter((p) => p.type === "box");
  const payload = {
    points: points.map((p) => [p.x, p.y]), labels: points.map((p) => p.label),
    box: boxes.length ? boxes[boxes.length - 1].box : null,
    refine: Boolean(state.pending) && !state.undoing,
    candidate: state.candidate || 0,
    multimask: points.length === 1 && !boxes.length, format: FORMATS,
  };
  state.busy = true; refresh();
  try {
    const answer = await post(`/v1/sessions/${state.session.session_id}/predict`, payload);
    const label = $("label").value || "object";
    const color = colorOf(state.objects.length);
    state.candidates = await Promise.all(answer.masks.map((m) => asObject(m, label, color)));
    state.candidate = 0;
    state.pending = state.candidates[0];
    const best = answer.masks[0];
    const more = answer.masks.length > 1 ? ` (${answer.masks.length} candidates: c for the next)` : "";
    status(`Mask: ${best.area} px, score ${best.score.toFixed(3)}${more}.`);
  } catch (err) {
    status(`Prompt failed: ${err.message}`, true);
  } finally {
    state.busy = false; state.undoing = false; refresh();
  }
}

function nextCandidate() {
  if (!state.pending || !state.candidates || state.candidates.length < 2) return;
  state.candidate = (state.candidate + 1) % state.candidates.length;
  state.pending = state.candidates[state.candidate];
  status(`Candidate ${state.candidate + 1} of ${state.candidates.length}: ${state.pending.area} px, `
    + `score ${state.pending.score.toFixed(3)}.`);
  refresh();
}

function accept() {
  if (!state.pending) return;
  state.objects.push(state.pending);
  state.pending = null; state.prompts = []; state.candidates = null; state.candidate = 0;
  status(`Accepted ${state.objects.length} object(s).`);
  refresh();
}

function discard() {
  state.pending = null; state.prompts = []; state.candidates = null; state.candidate = 0;
  status("Discarded.");
  refresh();
}

function undo() {
  if (state.prompts.length) {
    state.prompts.pop();
    state.undoing = true;
    predict();
  } else if (state.objects.length) {
    state.objects.pop();
    status("Removed the last object.");
    refresh();
  }
}

async function everything() {
  if (!state.session?.sam2) return;
  state.busy = true; refresh(); status("Segmenting everything…");
  try {
    const answer = await post(`/v1/sessions/${state.session.session_id}/everything`,
      { preset: "default", format: FORMATS });
    for (const seg of answer.segments) {
      state.objects.push(await asObject(seg, "segment", colorOf(state.objects.length)));
    }
    status(`Segment-everything: ${answer.segments.length} mask(s).`);
  } catch (err) {
    status(`Segment-everything failed: ${err.message}`, true);
  } finally { state.busy = false; refresh(); }
}

async function documentMode() {
  if (!state.file) return;
  state.busy = true; refresh(); status("Finding documents…");
  try {
    state.document = await api("/v1/documents", { method: "POST", body: state.file });
    const n = state.document.documents.length;
    const fields = state.document.documents.reduce((k, d) => k + d.fields.length, 0);
    status(`Documents: ${n}, fields: ${fields}.`);
  } catch (err) {
    status(`Document mode failed: ${err.message}`, true);
  } finally { state.busy = false; refresh(); }
}

function download(name, blob) {
  const a = document.createElement("a");
  a.href = URL.createObjectURL(blob);
  a.download = name;
  document.body.appendChild(a);
  a.click();
  a.remove();
}

function stem() { return state.name.replace(/\.[^.]+$/, ""); }

function exportCoco() {
  const names = [...new Set(state.objects.map((o) => o.label))];
  const coco = {
    images: [{ id: 1, file_name: state.name, width: canvas.width, height: canvas.height }],
    categories: names.map((name, i) => ({ id: i + 1, name })),
    annotations: state.objects.map((o, i) => ({
      id: i + 1, image_id: 1, category_id: names.indexOf(o.label) + 1, segmentation: o.rle,
      area: o.area, bbox: [o.bbox[0], o.bbox[1], o.bbox[2] - o.bbox[0] + 1, o.bbox[3] - o.bbox[1] + 1],
      iscrowd: 0, score: o.score,
    })),
  };
  download(`${stem()}_coco.json`, new Blob([JSON.stringify(coco)], { type: "application/json" }));
}

function exportPolygons() {
  const out = state.objects.map((o) => ({ label: o.label, bbox: o.bbox, score: o.score,
    polygons: o.polygons }));
  download(`${stem()}_polygons.json`, new Blob([JSON.stringify(out)], { type: "application/json" }));
}

function exportPng() {
  // One label map: pixel value i (1..255) for the i-th object, later objects on top.
  const off = document.createElement("canvas");
  off.width = canvas.width; off.height = canvas.height;
  const c = off.getContext("2d");
  const data = c.createImageData(off.width, off.height);
  state.objects.forEach((o, i) => {
    const v = Math.min(i + 1, 255);
    o.shown.bits.forEach((bit, p) => { if (bit) data.data.set([v, v, v], 4 * p); });
  });
  for (let p = 3; p < data.data.length; p += 4) data.data[p] = 255;
  c.putImageData(data, 0, 0);
  off.toBlob((blob) => download(`${stem()}_masks.png`, blob), "image/png");
}

function drawPolygons(polygons, color) {
  ctx.strokeStyle = color; ctx.lineWidth = Math.max(1, canvas.width / 500);
  for (const poly of polygons || []) {
    for (const ring of [poly.exterior, ...poly.holes]) {
      ctx.beginPath();
      ring.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
      ctx.closePath(); ctx.stroke();
    }
  }
}

function drawObject(o) {
  if (state.view === "fill") ctx.drawImage(o.shown.canvas, 0, 0);
  else drawPolygons(o.polygons, o.color);
}

function drawDocument() {
  const lw = Math.max(2, canvas.width / 300);
  for (const d of state.document.documents) {
    ctx.strokeStyle = "#00c853"; ctx.lineWidth = lw; ctx.beginPath();
    d.quad.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
    ctx.closePath(); ctx.stroke();
    ctx.font = `${Math.round(lw * 6)}px sans-serif`;
    for (const f of d.fields) {
      ctx.strokeStyle = "#ffab00"; ctx.lineWidth = lw / 2; ctx.beginPath();
      f.image_polygon.forEach(([x, y], i) => (i ? ctx.lineTo(x, y) : ctx.moveTo(x, y)));
      ctx.closePath(); ctx.stroke();
      ctx.fillStyle = "#ffab00";
      ctx.fillText(f.class, f.image_polygon[0][0], f.image_polygon[0][1] - 2);
    }
  }
}

function render() {
  if (!state.image) return;
  ctx.clearRect(0, 0, canvas.width, canvas.height);
  ctx.drawImage(state.image, 0, 0);
  state.objects.forEach(drawObject);
  if (state.pending) drawObject(state.pending);
  if (state.document) drawDocument();
  const r = Math.max(3, canvas.width / 200);
  for (const p of state.prompts) {
    if (p.type === "box") {
      ctx.strokeStyle = "#ffffff"; ctx.lineWidth = r / 2;
      const [x0, y0, x1, y1] = p.box;
      ctx.strokeRect(x0, y0, x1 - x0, y1 - y0);
    } else {
      ctx.fillStyle = p.label ? "#00e676" : "#ff1744";
      ctx.beginPath(); ctx.arc(p.x, p.y, r, 0, 2 * Math.PI); ctx.fill();
    }
  }
  if (drag?.moved) {
    ctx.setLineDash([6, 4]); ctx.strokeStyle = "#ffffff"; ctx.lineWidth = r / 2;
    ctx.strokeRect(drag.x0, drag.y0, drag.x1 - drag.x0, drag.y1 - drag.y0);
    ctx.setLineDash([]);
  }
}

function refresh() {
  const sam = Boolean(state.session?.sam2) && !state.busy;
  $("accept").disabled = !state.pending || state.busy;
  $("next").disabled = !state.candidates || state.candidates.length < 2 || state.busy;
  $("discard").disabled = !(state.pending || state.prompts.length) || state.busy;
  $("undo").disabled = !(state.prompts.length || state.objects.length) || state.busy;
  $("everything").disabled = !sam;
  $("document").disabled = !state.file || state.busy;
  for (const id of ["export-coco", "export-polygons", "export-png"]) {
    $(id).disabled = !state.objects.length;
  }
  $("view").textContent = state.view === "fill" ? "Polygons" : "Filled";
  const list = $("objects");
  list.replaceChildren(...state.objects.map((o) => {
    const li = document.createElement("li");
    const sw = document.createElement("span");
    sw.className = "swatch"; sw.style.background = o.color;
    li.append(sw, `${o.label} (${o.area} px)`);
    return li;
  }));
  document.body.dataset.objects = String(state.objects.length);
  document.body.dataset.pendingArea = state.pending ? String(state.pending.area) : "";
  document.body.dataset.candidate = String(state.candidate || 0);
  document.body.dataset.busy = String(state.busy);
  render();
}

function imagePoint(event) {
  const rect = canvas.getBoundingClientRect();
  const x = ((event.clientX - rect.left) * canvas.width) / rect.width;
  const y = ((event.clientY - rect.top) * canvas.height) / rect.height;
  return [Math.min(Math.max(x, 0), canvas.width), Math.min(Math.max(y, 0), canvas.height)];
}

canvas.addEventListener("contextmenu", (e) => e.preventDefault());
canvas.addEventListener("mousedown", (e) => {
  if (!state.session?.sam2 || state.busy) return;
  const [x, y] = imagePoint(e);
  drag = { x0: x, y0: y, x1: x, y1: y, moved: false, button: e.button, shift: e.shiftKey };
});
canvas.addEventListener("mousemove", (e) => {
  if (!drag) return;
  [drag.x1, drag.y1] = imagePoint(e);
  const minimum = canvas.width / 100;
  drag.moved = drag.moved || Math.hypot(drag.x1 - drag.x0, drag.y1 - drag.y0) > minimum;
  render();
});
window.addEventListener("mouseup", (e) => {
  if (!drag) return;
  const d = drag; drag = null;
  if (d.moved && d.button === 0) {
    const box = [Math.min(d.x0, d.x1), Math.min(d.y0, d.y1), Math.max(d.x0, d.x1), Math.max(d.y0, d.y1)];
    state.prompts.push({ type: "box", box });
  } else if (!d.moved && e.target === canvas) {
    const remove = d.button === 2 || d.shift;
    state.prompts.push({ type: "point", x: d.x0, y: d.y0, label: remove ? 0 : 1 });
  } else { render(); return; }
  predict();
});

$("file").addEventListener("change", (e) => openFile(e.target.files[0]));
$("accept").addEventListener("click", accept);
$("next").addEventListener("click", nextCandidate);
$("discard").addEventListener("click", discard);
$("undo").addEventListener("click", undo);
$("everything").addEventListener("click", everything);
$("document").addEventListener("click", documentMode);
$("view").addEventListener("click", () => { state.view = state.view === "fill" ? "polygons" : "fill"; refresh(); });
$("export-coco").addEventListener("click", exportCoco);
$("export-polygons").addEventListener("click", exportPolygons);
$("export-png").addEventListener("click", exportPng);

const stage = $("stage");
stage.addEventListener("dragover", (e) => { e.preventDefault(); stage.classList.add("over"); });
stage.addEventListener("dragleave", () => stage.classList.remove("over"));
stage.addEventListener("drop", (e) => {
  e.preventDefault(); stage.classList.remove("over");
  openFile(e.dataTransfer.files[0]);
});

document.addEventListener("keydown", (e) => {
  if (e.target instanceof HTMLInputElement && e.target.type === "text") return;
  const key = e.key.toLowerCase();
  if (key === "enter") accept();
  else if (key === "escape") discard();
  else if ((key === "z" && (e.ctrlKey || e.metaKey)) || key === "u") undo();
  else if (key === "e") everything();
  else if (key === "d") documentMode();
  else if (key === "p") $("view").click();
  else if (key === "c") nextCandidate();
  else if (key === "o") $("file").click();
  else return;
  e.preventDefault();
});

refresh();
