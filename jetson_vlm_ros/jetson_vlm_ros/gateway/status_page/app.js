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
  $('camera-info').textContent = camera.age_s === null ? '(no frame yet on ' + camera.topic + ')'
    : camera.topic + ', frame ' + camera.age_s.toFixed(1) + ' s old';
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

async function refreshFrame() {
  const response = await fetch('/v1/frame.jpg', { headers: headers() });
  if (!response.ok) return;
  const url = URL.createObjectURL(await response.blob());
  const image = $('frame');
  const old = image.src;
  image.onload = () => { if (old.startsWith('blob:')) URL.revokeObjectURL(old); };
  image.src = url;
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
      body: JSON.stringify({ model: model + '+camera', stream: true,
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
