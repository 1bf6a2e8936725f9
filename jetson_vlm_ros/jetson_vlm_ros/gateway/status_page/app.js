// Status page of vlm_node's gateway: polls /v1/status and the frame, streams answers.
'use strict';

const $ = (id) => document.getElementById(id);
let model = '';

function headers(extra) {
  const key = $('key').value.trim();
  const all = Object.assign({}, extra || {});
  if (key) all.Authorization = 'Bearer ' + key;
  return all;
}

function showError(text) { $('error').textContent = text || ''; }

async function errorText(response) {
  try { return (await response.json()).error.message; } catch (e) { return response.statusText; }
}

async function refreshStatus() {
  const response = await fetch('/v1/status', { headers: headers() });
  if (!response.ok) { showError(await errorText(response)); return; }
  showError('');
  const status = await response.json();
  model = status.model;
  const camera = status.camera;
  $('camera-info').textContent = (status.default_camera ? "'" + status.default_camera + "' " : '') +
    cameraText(camera);
  showCameras(status.cameras || {}, status.default_camera);
  $('summary').textContent = 'model ' + status.model + ', ' + status.requests_in_flight +
    ' request(s) in flight';
  const captions = status.captions.slice().reverse();
  $('frame-caption').textContent = captions.length ? captions[0].text : '';
  $('captions').replaceChildren(...captions.map((caption) => {
    const item = document.createElement('li');
    item.textContent = caption.text + ' ';
    const when = document.createElement('small');
    when.textContent = new Date(caption.time * 1000).toLocaleTimeString() + ', ' +
      caption.latency.toFixed(2) + ' s';
    item.appendChild(when);
    return item;
  }));
  const rules = status.alerts.rules || [];
  if (!rules.length) {
    $('alerts').innerHTML = '<li class="none">no alert rules</li>';
  } else {
    $('alerts').replaceChildren(...rules.map((rule) => {
      const item = document.createElement('li');
      item.className = rule.active ? 'active' : '';
      item.textContent = (rule.active ? 'ACTIVE: ' : '') + rule.rule;
      return item;
    }));
  }
}

function cameraText(camera) {
  return camera.age_s === null ? '(no frame yet on ' + camera.topic + ')'
    : camera.topic + ', frame ' + camera.age_s.toFixed(1) + ' s old';
}

// A tile per named camera but the default one (shown above); the ask form's camera choice.
function showCameras(cameras, defaultName) {
  const names = Object.keys(cameras);
  const tiles = $('cameras');
  for (const tile of Array.from(tiles.children)) {
    if (!(tile.dataset.camera in cameras)) tile.remove();
  }
  for (const name of names.filter((n) => n !== defaultName)) {
    let tile = tiles.querySelector('[data-camera="' + CSS.escape(name) + '"]');
    if (!tile) {
      tile = document.createElement('figure');
      tile.className = 'camera-tile';
      tile.dataset.camera = name;
      const image = document.createElement('img');
      image.alt = 'latest frame of camera ' + name;
      tile.append(image, document.createElement('figcaption'));
      tiles.appendChild(tile);
    }
    tile.querySelector('figcaption').textContent = name + ': ' + cameraText(cameras[name]);
  }
  const select = $('ask-camera');
  select.hidden = names.length === 0;
  if (Array.from(select.options).map((o) => o.value).join('\n') !== names.join('\n')) {
    select.replaceChildren(...names.map((name) => new Option(name, name)));
  }
}

async function showFrame(image, path) {
  const response = await fetch(path, { headers: headers() });
  if (!response.ok) return;
  const url = URL.createObjectURL(await response.blob());
  const old = image.src;
  image.onload = () => { if (old.startsWith('blob:')) URL.revokeObjectURL(old); };
  image.src = url;
}

async function refreshFrame() {
  await showFrame($('frame'), '/v1/frame.jpg');
  for (const tile of Array.from($('cameras').children)) {
    await showFrame(tile.querySelector('img'),
      '/v1/frame.jpg?camera=' + encodeURIComponent(tile.dataset.camera));
  }
}

async function ask(event) {
  event.preventDefault();
  const answer = $('answer');
  answer.textContent = '';
  $('send').disabled = true;
  try {
    const response = await fetch('/v1/chat/completions', {
      method: 'POST',
      headers: headers({ 'Content-Type': 'application/json' }),
      // <model>+<camera name> for a named camera, <model>+camera for the unnamed one.
      body: JSON.stringify({ model: model + '+' + ($('ask-camera').value || 'camera'), stream: true,
        messages: [{ role: 'user', content: $('prompt').value }] }),
    });
    if (!response.ok) { answer.textContent = 'error: ' + await errorText(response); return; }
    const reader = response.body.getReader();
    const decoder = new TextDecoder();
    let buffer = '';
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += decoder.decode(value, { stream: true });
      const events = buffer.split('\n\n');
      buffer = events.pop();
      for (const event of events) {
        const data = event.replace(/^data: /, '').trim();
        if (!data || data === '[DONE]') continue;
        const chunk = JSON.parse(data);
        if (chunk.error) { answer.textContent += '\n[error: ' + chunk.error.message + ']'; }
        for (const choice of chunk.choices || []) {
          answer.textContent += (choice.delta && choice.delta.content) || '';
        }
      }
    }
  } catch (error) {
    answer.textContent += '\n[error: ' + error + ']';
  } finally {
    $('send').disabled = false;
  }
}

$('key').value = localStorage.getItem('vlm_gateway_key') || '';
$('key').addEventListener('change', () => localStorage.setItem('vlm_gateway_key', $('key').value));
$('ask').addEventListener('submit', ask);

async function tick() {
  try { await refreshStatus(); await refreshFrame(); } catch (error) { showError(String(error)); }
  setTimeout(tick, 1000);
}
tick();
