// The draw-a-digit widget's browser side (utils/draw.py): a drawing pad, and the whole network drawn from the
// numbers Python sends back after each stroke. Plain JavaScript, no build step, nothing loaded from the network.

const SCALE = 2.5; // screen pixels per value in every map grid: the maps shrink on screen as they do in the network
// (2.5, not 3: the whole row fits a 1400 px window with JupyterLab's file browser open; it wraps if narrower)
const PAD = 2; // pixels between tiles
const BAR_PX = 2; // height of one unit's bar

function el(tag, className, text) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (text !== undefined) node.textContent = text;
  return node;
}

function bytes(b64) {
  const raw = atob(b64);
  const out = new Uint8Array(raw.length);
  for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
  return out;
}

function paintGrid(canvas, values, shape, ncols, lut, dead) {
  const [c, h, w] = shape;
  const nrows = Math.ceil(c / ncols);
  const tw = Math.round(w * SCALE), th = Math.round(h * SCALE);
  canvas.width = ncols * (tw + PAD) - PAD;
  canvas.height = nrows * (th + PAD) - PAD;
  const ctx = canvas.getContext("2d");
  const image = ctx.createImageData(canvas.width, canvas.height);
  image.data.fill(255); // white padding
  for (let k = 0; k < c; k++) {
    const x0 = (k % ncols) * (tw + PAD), y0 = Math.floor(k / ncols) * (th + PAD);
    for (let y = 0; y < th; y++) {
      for (let x = 0; x < tw; x++) {
        const v = values[k * h * w + Math.min(h - 1, Math.floor(y / SCALE)) * w + Math.min(w - 1, Math.floor(x / SCALE))];
        const o = ((y0 + y) * canvas.width + x0 + x) * 4;
        image.data[o] = lut[3 * v]; image.data[o + 1] = lut[3 * v + 1]; image.data[o + 2] = lut[3 * v + 2];
      }
    }
  }
  ctx.putImageData(image, 0, 0);
  canvas.onmousemove = (event) => { // the tiles are too small for their numbers: hovering one names its channel
    const k = Math.floor(event.offsetY / (th + PAD)) * ncols + Math.floor(event.offsetX / (tw + PAD));
    canvas.title = k < c ? `channel ${k}${dead.includes(k) ? " (silent)" : ""}` : "";
  };
  ctx.strokeStyle = "#d62728";
  ctx.lineWidth = 2;
  for (const k of dead) {
    ctx.strokeRect((k % ncols) * (tw + PAD) + 1, Math.floor(k / ncols) * (th + PAD) + 1, tw - 2, th - 2);
  }
}

function paintBars(canvas, values) {
  const width = 90;
  canvas.width = width;
  canvas.height = values.length * BAR_PX;
  const ctx = canvas.getContext("2d");
  const m = Math.max(1e-9, ...values.map(Math.abs));
  const mid = width / 2;
  values.forEach((v, i) => {
    ctx.fillStyle = v > 0 ? "#b2182b" : "#2166ac";
    const len = (Math.abs(v) / m) * (mid - 1);
    ctx.fillRect(v > 0 ? mid : mid - len, i * BAR_PX, len, BAR_PX);
  });
  ctx.fillStyle = "#000";
  ctx.fillRect(mid, 0, 1, canvas.height);
}

function render({ model, el: host }) {
  const size = model.get("canvas_size");
  const root = el("div", "course-draw");
  const left = el("div", "course-draw-left");
  const pad = el("canvas", "course-draw-canvas");
  pad.width = pad.height = size;
  const tools = el("div", "course-draw-tools");
  const undo = el("button", "course-draw-undo", "undo");
  const clear = el("button", "course-draw-clear", "clear");
  const penLabel = el("label", "course-draw-pen", "pen ");
  const pen = el("input");
  Object.assign(pen, { type: "range", min: 6, max: 44, step: 1, value: model.get("pen") });
  const penValue = el("span", "course-draw-pen-value", `${pen.value} px`);
  penLabel.append(pen, penValue);
  tools.append(undo, clear, penLabel);
  left.append(pad, tools);

  const seen = el("div", "course-draw-seen");
  const preview = el("canvas", "course-draw-input");
  preview.width = preview.height = 28;
  seen.append(el("div", "course-draw-title", "what the model sees: 28x28"), preview);
  const network = el("div", "course-draw-network");
  const result = el("div", "course-draw-result");
  const predicted = el("div", "course-draw-predicted", "draw a digit");
  const probabilities = el("div", "course-draw-probabilities");
  const hint = el("div", "course-draw-hint");
  const always = el("div", "course-draw-always", "The model always names one of the ten digits, whatever is drawn: "
    + "a dot or a scribble gets a digit too.");
  result.append(predicted, hint, probabilities, always);
  const top = el("div", "course-draw-top-row");
  top.append(left, seen, result);
  root.append(top, network);
  host.appendChild(root);

  const ctx = pad.getContext("2d");
  let strokes = (model.get("strokes").strokes || []).slice();
  let seq = model.get("strokes").seq || 0;
  let current = null;
  const sentAt = {};
  root.dataset.roundtrips = "[]";
  root.dataset.sent = String(seq);

  function paintStroke(stroke) {
    ctx.strokeStyle = ctx.fillStyle = "#fff";
    ctx.lineWidth = stroke.width;
    ctx.lineCap = ctx.lineJoin = "round";
    const p = stroke.points;
    ctx.beginPath();
    ctx.moveTo(p[0][0], p[0][1]);
    for (const q of p.slice(1)) ctx.lineTo(q[0], q[1]);
    if (p.length === 1) ctx.lineTo(p[0][0] + 0.01, p[0][1]);
    ctx.stroke();
  }

  function repaint() {
    ctx.fillStyle = "#000";
    ctx.fillRect(0, 0, size, size);
    strokes.forEach(paintStroke);
  }

  function send(timed) {
    seq += 1;
    if (timed) sentAt[seq] = performance.now(); // only the end of a stroke is timed, not undo or clear
    root.dataset.sent = String(seq);
    model.set("strokes", { seq, strokes: strokes.slice() });
    model.save_changes();
  }

  function point(event) {
    const box = pad.getBoundingClientRect();
    const x = ((event.clientX - box.left) * size) / box.width;
    const y = ((event.clientY - box.top) * size) / box.height;
    return [Math.min(size, Math.max(0, x)), Math.min(size, Math.max(0, y))];
  }

  pad.addEventListener("pointerdown", (event) => {
    event.preventDefault();
    pad.setPointerCapture(event.pointerId);
    current = { width: Number(pen.value), points: [point(event)] };
    paintStroke(current);
  });
  pad.addEventListener("pointermove", (event) => {
    if (!current) return;
    const last = current.points[current.points.length - 1];
    const next = point(event);
    current.points.push(next);
    paintStroke({ width: current.width, points: [last, next] });
  });
  const finish = () => {
    if (!current) return;
    strokes.push(current);
    current = null;
    send(true);
  };
  pad.addEventListener("pointerup", finish);
  pad.addEventListener("pointercancel", finish);
  undo.addEventListener("click", () => { strokes.pop(); repaint(); send(false); });
  clear.addEventListener("click", () => { strokes = []; repaint(); send(false); });
  pen.addEventListener("input", () => { penValue.textContent = `${pen.value} px`; });
  pen.addEventListener("change", () => { model.set("pen", Number(pen.value)); model.save_changes(); });

  model.on("change:strokes", () => { // strokes set from Python (show, draw, clear)
    const given = model.get("strokes");
    if (given.seq === seq) return;
    seq = given.seq;
    root.dataset.sent = String(seq);
    strokes = (given.strokes || []).slice();
    repaint();
  });

  function paintView() {
    const started = performance.now();
    const view = model.get("view");
    const luts = model.get("colormaps");
    network.replaceChildren();
    probabilities.replaceChildren();
    root.dataset.predicted = view.empty ? "" : String(view.predicted);
    root.dataset.seq = String(view.seq);
    hint.textContent = view.empty ? "" : view.hint || "";
    if (view.empty) {
      predicted.textContent = view.message;
      preview.getContext("2d").clearRect(0, 0, 28, 28);
      root.classList.add("course-draw-empty");
    } else {
      root.classList.remove("course-draw-empty");
      const grey = bytes(view.input);
      const image = preview.getContext("2d").createImageData(28, 28);
      grey.forEach((v, i) => { image.data.set([v, v, v, 255], 4 * i); });
      preview.getContext("2d").putImageData(image, 0, 0);
      for (const stage of view.stages) {
        if (network.childElementCount) network.append(el("div", "course-draw-arrow", "\u2192"));
        const column = el("div", "course-draw-stage");
        column.append(el("div", "course-draw-title", stage.label));
        const canvas = el("canvas");
        if (stage.kind === "maps") paintGrid(canvas, bytes(stage.data), stage.shape, stage.ncols, bytes(luts[stage.cmap]), stage.dead);
        else paintBars(canvas, stage.values);
        column.append(canvas);
        network.append(column);
      }
      predicted.textContent = view.message;
      view.probabilities.forEach((p, k) => {
        const line = el("div", k === view.predicted ? "course-draw-class course-draw-top" : "course-draw-class");
        const bar = el("span", "course-draw-bar");
        bar.style.width = `${Math.round(100 * p)}px`;
        line.append(el("span", "course-draw-digit", String(k)), bar, el("span", "course-draw-p", p.toFixed(2)));
        probabilities.append(line);
      });
    }
    if (sentAt[view.seq] !== undefined) { // the round trip: end of stroke -> overview painted; and the painting
      const now = performance.now();
      const times = JSON.parse(root.dataset.roundtrips);
      times.push([now - sentAt[view.seq], now - started]);
      root.dataset.roundtrips = JSON.stringify(times);
      delete sentAt[view.seq];
    }
  }

  repaint();
  paintView();
  model.on("change:view", paintView);
}

export default { render };
