// kinect-view page. No build step, no external requests: everything comes from the viewer.
//
// Flow: ask /api/frame for the newest frame newer than the one drawn, draw it, wait for the next
// animation frame, ask again. A slow or hidden tab therefore asks less often and always gets the
// newest frame; nothing queues. /api/state is polled once a second for the selector and status.
'use strict';

const LUT_SIZE = 1024; // colours in the map; the legend canvas is exactly this wide
const HOLE_RGB = [128, 128, 128]; // grey: turbo has no unsaturated colour, so holes stand out
const STATE_POLL_MS = 1000;
const RETRY_MS = 1000;
const FPS_WINDOW_MS = 2000; // fps is averaged over the draws of the last 2 s
const MIN_FPS_DRAWS = 5;
const LATENCY_SAMPLES = 30;
// Automatic range: the 2nd to 98th percentile of the measured (non-zero) pixels, so a few
// outliers (flying pixels, a far wall seen through a gap) do not squeeze the rest of the picture
// into one end of the colour map.
const AUTO_LOW_FRACTION = 0.02;
const AUTO_HIGH_FRACTION = 0.98;
// Weight of each new frame's percentiles in the range in use: about the last ten frames count, so
// the colours follow the scene within a second at 30 fps yet do not flicker with noise.
const AUTO_SMOOTHING = 0.1;
// The narrowest automatic range, for a flat scene (a wall filling the view).
const AUTO_MIN_SPAN_MM = 50;

// Turbo colour map (Mikhailov 2019) as its published degree-5 polynomial fit, t in [0, 1].
function turbo(t) {
  const r = 0.13572138 + t * (4.61539260 + t * (-42.66032258 + t * (132.13108234 + t * (-152.94239396 + t * 59.28637943))));
  const g = 0.09140261 + t * (2.19418839 + t * (4.84296658 + t * (-14.18503333 + t * (4.27729857 + t * 2.82956604))));
  const b = 0.10667330 + t * (12.64194608 + t * (-60.58204836 + t * (110.36276771 + t * (-89.90310912 + t * 27.34824973))));
  const byte = (v) => Math.max(0, Math.min(255, Math.round(v * 255)));
  return [byte(r), byte(g), byte(b)];
}

const LITTLE_ENDIAN = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
const packRgba = ([r, g, b]) => LITTLE_ENDIAN
  ? ((255 << 24) | (b << 16) | (g << 8) | r) >>> 0
  : ((r << 24) | (g << 16) | (b << 8) | 255) >>> 0;
const LUT = new Uint32Array(LUT_SIZE);
for (let i = 0; i < LUT_SIZE; i++) LUT[i] = packRgba(turbo(i / (LUT_SIZE - 1)));
const HOLE = packRgba(HOLE_RGB);

const $ = (id) => document.getElementById(id);
const canvas = $('depth');
const context = canvas.getContext('2d');
const view = {
  source: null,        // {server, sensor}
  frame: null,         // {width, height, depth: Uint16Array, number, sensorSequence, captureMs}
  image: null,         // ImageData reused between frames of one size
  pointer: null,       // {x, y} in image pixels, or null
  rangeMode: 'auto',   // 'auto': fitted to the picture; 'fixed': the near/far fields
  near: 500,           // the range in use, whole mm (auto or fixed)
  far: 4500,
  autoRange: null,     // {near, far} smoothed over frames, fractional mm; null until a frame
  draws: [],           // performance.now() of recent draws
  latencies: [],       // ms, capture to drawn, recent
  skipped: 0,          // frames this tab never drew because newer ones had arrived
  frameError: null,    // message from the frame loop (unreachable viewer, unknown sensor)
  stateMessage: null,  // message from /api/state (server errors, nothing found)
  sensors: [],
  servers: [],
  notices: [],
  preferredSensor: null,
  web: null,
};

// Ids are 32 hex digits: the list shows their first 8 (the status line the whole id).
const SHORT_ID_LENGTH = 8;
const shortId = (id) => id.slice(0, SHORT_ID_LENGTH);
const sameSource = (a, b) => a && b && a.server === b.server && a.sensor === b.sensor;
const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const nextPaint = () => new Promise((resolve) => requestAnimationFrame(() => resolve()));

function sourceFromHash() {
  const params = new URLSearchParams(location.hash.slice(1));
  const server = params.get('server');
  const sensor = params.get('sensor');
  return server !== null && sensor !== null ? { server, sensor } : null;
}

function selectSource(source) {
  if (sameSource(source, view.source)) return;
  view.source = source;
  view.frame = null;
  view.draws = [];
  view.latencies = [];
  view.skipped = 0;
  view.frameError = null;
  view.autoRange = null; // another sensor sees another scene: fit afresh
  const params = new URLSearchParams({ server: source.server, sensor: source.sensor });
  history.replaceState(null, '', '#' + params.toString());
  render();
}

// ---- drawing ---------------------------------------------------------------------------------

const histogram = new Uint32Array(65536); // reused: one count per depth value

// The depths below which `lowFraction` and `highFraction` of the non-zero pixels lie, or null if
// every pixel is a hole.
function depthPercentiles(depth, lowFraction, highFraction) {
  histogram.fill(0);
  let valid = 0;
  let min = 65535;
  let max = 0;
  for (let i = 0; i < depth.length; i++) {
    const d = depth[i];
    if (d === 0) continue;
    histogram[d]++;
    valid++;
    if (d < min) min = d;
    if (d > max) max = d;
  }
  if (valid === 0) return null;
  const lowCount = Math.floor(lowFraction * (valid - 1));
  const highCount = Math.floor(highFraction * (valid - 1));
  let low = null;
  let seen = 0;
  for (let d = min; d <= max; d++) {
    seen += histogram[d];
    if (low === null && seen > lowCount) low = d;
    if (seen > highCount) return [low, d];
  }
  return [low === null ? max : low, max];
}

// Moves the automatic range towards this frame's percentiles (straight to them on the first
// frame) and, in auto mode, makes it the range in use.
function fitRange(depth) {
  const target = depthPercentiles(depth, AUTO_LOW_FRACTION, AUTO_HIGH_FRACTION);
  if (!target) return; // nothing measured: keep the range
  let [near, far] = target;
  if (far - near < AUTO_MIN_SPAN_MM) {
    const middle = (near + far) / 2;
    near = Math.max(0, middle - AUTO_MIN_SPAN_MM / 2);
    far = near + AUTO_MIN_SPAN_MM;
  }
  const auto = view.autoRange;
  view.autoRange = auto
    ? { near: auto.near + AUTO_SMOOTHING * (near - auto.near), far: auto.far + AUTO_SMOOTHING * (far - auto.far) }
    : { near, far };
  if (view.rangeMode === 'auto') useAutoRange();
}

// Whole millimetres, so the range settles to a fixed value for a still scene.
function useAutoRange() {
  if (!view.autoRange) return;
  const near = Math.round(view.autoRange.near);
  const far = Math.max(near + 1, Math.round(view.autoRange.far));
  if (near === view.near && far === view.far) return;
  view.near = near;
  view.far = far;
  // The fields show the range in use, unless the user is typing in one.
  for (const [id, value] of [['near', near], ['far', far]]) {
    if (document.activeElement !== $(id)) $(id).value = String(value);
  }
  drawLegend();
}

function colourIndex(depthMm) {
  const t = (depthMm - view.near) / (view.far - view.near);
  return Math.max(0, Math.min(LUT_SIZE - 1, Math.round(t * (LUT_SIZE - 1))));
}

function drawFrame() {
  const frame = view.frame;
  if (!frame) return;
  if (canvas.width !== frame.width || canvas.height !== frame.height) {
    canvas.width = frame.width;
    canvas.height = frame.height;
    fitCanvas();
  }
  if (!view.image || view.image.width !== frame.width || view.image.height !== frame.height) {
    view.image = context.createImageData(frame.width, frame.height);
  }
  const pixels = new Uint32Array(view.image.data.buffer);
  const depth = frame.depth;
  const scale = (LUT_SIZE - 1) / (view.far - view.near);
  const near = view.near;
  for (let i = 0; i < depth.length; i++) {
    const d = depth[i];
    if (d === 0) { pixels[i] = HOLE; continue; }
    let k = Math.round((d - near) * scale);
    if (k < 0) k = 0; else if (k >= LUT_SIZE) k = LUT_SIZE - 1;
    pixels[i] = LUT[k];
  }
  context.putImageData(view.image, 0, 0);
}

// Scales the canvas (keeping its aspect ratio) to the largest size that leaves the rest visible.
function fitCanvas() {
  const others = ['legend', 'readout'].map((id) => $(id).offsetHeight).reduce((a, b) => a + b, 0)
    + document.querySelector('header').offsetHeight + $('status').offsetHeight
    + ($('message').hidden ? 0 : $('message').offsetHeight) + 64;
  const scale = Math.max(0.25, Math.min((window.innerWidth - 40) / canvas.width, (window.innerHeight - others) / canvas.height));
  const width = Math.floor(canvas.width * scale) + 'px';
  const height = Math.floor(canvas.height * scale) + 'px';
  if (canvas.style.width !== width || canvas.style.height !== height) {
    canvas.style.width = width;
    canvas.style.height = height;
    $('legend').style.width = width;
  }
}
window.addEventListener('resize', fitCanvas);

function drawLegend() {
  const bar = $('legend-bar');
  const legendContext = bar.getContext('2d');
  const image = legendContext.createImageData(LUT_SIZE, 1);
  new Uint32Array(image.data.buffer).set(LUT);
  legendContext.putImageData(image, 0, 0);
  const ticks = $('legend-ticks');
  ticks.replaceChildren();
  const steps = 4;
  for (let i = 0; i <= steps; i++) {
    const mm = Math.round(view.near + (view.far - view.near) * i / steps);
    const span = document.createElement('span');
    span.style.left = (100 * i / steps) + '%';
    span.textContent = (i === 0 ? '\u2264 ' : i === steps ? '\u2265 ' : '') + mm + ' mm';
    ticks.append(span);
  }
  const range = `range ${view.near}\u2013${view.far} mm`;
  if (view.rangeMode === 'fixed') $('legend-range').textContent = `${range}, fixed`;
  else if (!view.autoRange) $('legend-range').textContent = 'range automatic, fitted to the first frame';
  else $('legend-range').textContent = `${range}, automatic (2nd to 98th percentile of the measured pixels)`;
}

function renderReadout() {
  const readout = $('readout');
  const { frame, pointer } = view;
  if (!frame || !pointer || pointer.x >= frame.width || pointer.y >= frame.height) {
    readout.textContent = 'point at the image for the depth';
    return;
  }
  const d = frame.depth[pointer.y * frame.width + pointer.x];
  readout.textContent = `x ${pointer.x}, y ${pointer.y}: ` + (d === 0 ? 'hole (no measurement)' : `${d} mm`);
}

function renderStatus() {
  const status = $('status');
  if (!view.source) {
    status.textContent = 'waiting for a sensor\u2026';
    return;
  }
  const sensor = view.sensors.find((s) => sameSource(s, view.source));
  const parts = [`server ${sensor ? sensor.server_name : view.source.server}`, `sensor ${view.source.sensor}`];
  parts.push(`codec ${sensor ? sensor.codec : '?'}`);
  const draws = view.draws;
  // At least a few draws, so the first figure is not the gap between two frames.
  const fps = draws.length >= MIN_FPS_DRAWS ? (draws.length - 1) * 1000 / (draws[draws.length - 1] - draws[0]) : null;
  parts.push(fps === null ? '\u2013 fps' : `${fps.toFixed(1)} fps`);
  if (view.latencies.length) {
    const mean = view.latencies.reduce((a, b) => a + b, 0) / view.latencies.length;
    parts.push(`latency ${mean.toFixed(0)} ms`);
  } else {
    parts.push('latency \u2013');
  }
  parts.push(`lost ${sensor ? sensor.lost : 0}`);
  parts.push(`skipped by this tab ${view.skipped}`);
  status.textContent = parts.join(' \u00b7 ');
}

function renderMessage() {
  const text = view.frameError || view.stateMessage;
  const box = $('message');
  if (box.hidden !== !text) {
    box.hidden = !text;
    fitCanvas();
  }
  box.textContent = text || '';
}

function render() {
  renderReadout();
  renderStatus();
  renderMessage();
}

// ---- network ---------------------------------------------------------------------------------

async function frameLoop() {
  for (;;) {
    const source = view.source;
    if (!source) { await sleep(200); continue; }
    const params = new URLSearchParams({ server: source.server, sensor: source.sensor });
    if (view.frame) params.set('after', String(view.frame.number));
    let response;
    try {
      response = await fetch('/api/frame?' + params, { cache: 'no-store' });
    } catch (error) {
      view.frameError = `Cannot reach kinect-view (${error.message}); retrying\u2026`;
      render();
      await sleep(RETRY_MS);
      continue;
    }
    if (!sameSource(source, view.source)) continue; // switched while waiting
    if (response.status === 204) continue; // no new frame within the viewer's timeout
    if (response.status !== 200) {
      const body = await response.json().catch(() => ({ error: response.statusText }));
      view.frameError = `${body.error || response.statusText}`;
      render();
      await sleep(RETRY_MS);
      continue;
    }
    const buffer = await response.arrayBuffer();
    const width = Number(response.headers.get('X-Width'));
    const height = Number(response.headers.get('X-Height'));
    if (!(width > 0 && height > 0 && buffer.byteLength === width * height * 2)) {
      view.frameError = 'The viewer sent a malformed frame; retrying\u2026';
      render();
      await sleep(RETRY_MS);
      continue;
    }
    let depth = new Uint16Array(buffer);
    if (!LITTLE_ENDIAN) {
      const data = new DataView(buffer);
      depth = Uint16Array.from({ length: width * height }, (_, i) => data.getUint16(2 * i, true));
    }
    fitRange(depth);
    const number = Number(response.headers.get('X-Frame-Number'));
    if (view.frame && number > view.frame.number + 1) view.skipped += number - view.frame.number - 1;
    const capture = response.headers.get('X-Capture-Time-Ms');
    view.frame = { width, height, depth, number, captureMs: capture === null ? null : Number(capture) };
    view.frameError = null;
    drawFrame();
    const now = performance.now();
    view.draws.push(now);
    while (view.draws.length > 2 && now - view.draws[0] > FPS_WINDOW_MS) view.draws.shift();
    if (view.frame.captureMs !== null) {
      view.latencies.push(Date.now() - view.frame.captureMs);
      if (view.latencies.length > LATENCY_SAMPLES) view.latencies.shift();
    }
    render();
    await nextPaint();
  }
}

// ---- infrared and colour, beside depth ---------------------------------------------------------

// Infrared is shown in grey from 0 to this percentile of the picture's amplitudes: the strongest
// returns (a retro-reflector, a close surface) would otherwise leave the rest near black.
const IR_HIGH_FRACTION = 0.99;

function drawIr(width, height, amplitude) {
  const ir = $('ir');
  if (ir.width !== width || ir.height !== height) { ir.width = width; ir.height = height; }
  const sorted = amplitude.slice().sort();
  const high = Math.max(1, sorted[Math.floor((sorted.length - 1) * IR_HIGH_FRACTION)]);
  const irContext = ir.getContext('2d');
  const image = irContext.createImageData(width, height);
  const pixels = new Uint32Array(image.data.buffer);
  for (let i = 0; i < pixels.length; i++) {
    const grey = Math.min(255, Math.round(amplitude[i] / high * 255));
    pixels[i] = packRgba([grey, grey, grey]);
  }
  irContext.putImageData(image, 0, 0);
}

// Follows the selected sensor's `stream` ('ir' or 'color') like frameLoop follows depth; the
// figure stays hidden until the sensor sends an image (a depth-only sensor never does).
async function imageLoop(stream) {
  const figure = $(stream + '-view');
  let shown = null; // {source, number}
  let colourUrl = null;
  for (;;) {
    const source = view.source;
    if (!source) { await sleep(200); continue; }
    if (shown && !sameSource(shown.source, source)) { shown = null; figure.hidden = true; }
    const params = new URLSearchParams({ server: source.server, sensor: source.sensor, stream });
    if (shown) params.set('after', String(shown.number));
    let response;
    try {
      response = await fetch('/api/image?' + params, { cache: 'no-store' });
    } catch (error) {
      await sleep(RETRY_MS); // frameLoop reports an unreachable viewer
      continue;
    }
    if (!sameSource(source, view.source)) continue;
    if (response.status === 204) {
      // Without an image yet the viewer answers at once (the sensor may not stream this at
      // all): ask again later rather than hold a connection.
      if (!shown) await sleep(RETRY_MS);
      continue;
    }
    if (response.status !== 200) { await sleep(RETRY_MS); continue; }
    const width = Number(response.headers.get('X-Width'));
    const height = Number(response.headers.get('X-Height'));
    const number = Number(response.headers.get('X-Frame-Number'));
    const sequence = response.headers.get('X-Sensor-Sequence');
    if (stream === 'ir') {
      const buffer = await response.arrayBuffer();
      if (!(width > 0 && height > 0 && buffer.byteLength === width * height * 2)) {
        await sleep(RETRY_MS);
        continue;
      }
      const data = new DataView(buffer);
      drawIr(width, height, Uint16Array.from({ length: width * height }, (_, i) => data.getUint16(2 * i, true)));
    } else {
      const blob = await response.blob();
      const url = URL.createObjectURL(blob);
      const img = $('color');
      await new Promise((resolve) => { img.onload = resolve; img.onerror = resolve; img.src = url; });
      if (colourUrl) URL.revokeObjectURL(colourUrl);
      colourUrl = url;
    }
    $(stream + '-info').textContent = `${width}×${height} #${sequence}`;
    figure.hidden = false;
    shown = { source, number };
    await nextPaint();
  }
}

async function stateLoop() {
  for (;;) {
    try {
      const response = await fetch('/api/state', { cache: 'no-store' });
      const state = await response.json();
      view.sensors = state.sensors;
      view.servers = state.servers;
      view.notices = state.notices;
      view.preferredSensor = state.preferred_sensor;
      view.web = state.web;
      updateSelector();
      view.stateMessage = stateMessage();
    } catch (error) {
      view.stateMessage = `Cannot reach kinect-view (${error.message}); retrying\u2026`;
    }
    render();
    await sleep(STATE_POLL_MS);
  }
}

function stateMessage() {
  if (view.notices.length) return view.notices.join(' \u2014 ');
  const failing = view.servers.filter((s) => s.error);
  if (view.source) {
    const server = view.servers.find((s) => s.key === view.source.server);
    if (server && server.error) return `Server ${server.name} (${server.endpoint}): ${server.error}`;
    const sensor = view.sensors.find((s) => sameSource(s, view.source));
    if (sensor && sensor.error) return `Sensor ${sensor.sensor}: ${sensor.error}`;
  }
  if (failing.length) return failing.map((s) => `Server ${s.name} (${s.endpoint}): ${s.error}`).join(' \u2014 ');
  if (!view.sensors.length) return 'No sensors found yet; still looking for servers\u2026';
  return null;
}

// A server as the list names it: its name, and its endpoint too when another server has that name.
function serverLabel(key, name) {
  const namesakes = view.servers.filter((s) => s.name === name);
  const endpoint = (view.servers.find((s) => s.key === key) || {}).endpoint;
  return namesakes.length > 1 && endpoint ? `${name} (${endpoint})` : name;
}

function updateSelector() {
  const select = $('source');
  const options = view.sensors.map((s) => ({
    value: JSON.stringify([s.server, s.sensor]),
    text: `${serverLabel(s.server, s.server_name)} / ${shortId(s.sensor)} (${s.codec})`,
  }));
  if (view.source && !view.sensors.some((s) => sameSource(s, view.source))) {
    options.push({ value: JSON.stringify([view.source.server, view.source.sensor]), text: `${view.source.server} / ${shortId(view.source.sensor)} (not found)` });
  }
  const current = [...select.options].map((o) => o.value + '\u0000' + o.text).join('\n');
  const wanted = options.map((o) => o.value + '\u0000' + o.text).join('\n');
  if (current !== wanted) {
    select.replaceChildren(...options.map((o) => new Option(o.text, o.value)));
    if (!options.length) select.append(new Option('searching\u2026', ''));
    fitCanvas(); // the header may have changed height
  }
  if (!view.source && view.sensors.length) {
    const preferred = view.sensors.find((s) => s.sensor === view.preferredSensor);
    if (preferred || !view.preferredSensor) {
      const first = preferred || view.sensors[0];
      selectSource({ server: first.server, sensor: first.sensor });
    }
  }
  if (view.source) select.value = JSON.stringify([view.source.server, view.source.sensor]);
}

// ---- controls --------------------------------------------------------------------------------

$('source').addEventListener('change', (event) => {
  if (!event.target.value) return;
  const [server, sensor] = JSON.parse(event.target.value);
  selectSource({ server, sensor });
});

// Typing a near or far value means the user wants that range: it switches to the fixed range.
function readRange() {
  if (view.rangeMode !== 'fixed') {
    view.rangeMode = 'fixed';
    $('range-mode').value = 'fixed';
  }
  const near = Number($('near').value);
  const far = Number($('far').value);
  if (Number.isFinite(near) && Number.isFinite(far) && near >= 0 && far > near) {
    view.near = near;
    view.far = far;
    $('near').setCustomValidity('');
    $('far').setCustomValidity('');
  } else {
    $('far').setCustomValidity('far must be above near');
  }
  drawLegend();
  drawFrame();
}
$('near').addEventListener('input', readRange);
$('far').addEventListener('input', readRange);

$('range-mode').addEventListener('change', (event) => {
  if (event.target.value === 'fixed') {
    readRange(); // the fields hold the last automatic range: it stays, now fixed
    return;
  }
  view.rangeMode = 'auto';
  $('near').setCustomValidity('');
  $('far').setCustomValidity('');
  useAutoRange();
  drawLegend();
  drawFrame();
});

canvas.addEventListener('mousemove', (event) => {
  const rect = canvas.getBoundingClientRect();
  const x = Math.floor((event.clientX - rect.left) / rect.width * canvas.width);
  const y = Math.floor((event.clientY - rect.top) / rect.height * canvas.height);
  view.pointer = (x >= 0 && y >= 0) ? { x, y } : null;
  renderReadout();
});
canvas.addEventListener('mouseleave', () => { view.pointer = null; renderReadout(); });
window.addEventListener('hashchange', () => { const s = sourceFromHash(); if (s) selectSource(s); });

const initial = sourceFromHash();
if (initial) selectSource(initial);
$('range-mode').value = view.rangeMode;
drawLegend();
render();
fitCanvas();
stateLoop();
frameLoop();
imageLoop('ir');
imageLoop('color');
