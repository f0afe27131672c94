// realtime_mock.mjs: a realtime upstream for tests/bats/16-sdk-realtime.bats (node `ws`, pinned in
// package.json). Usage: node realtime_mock.mjs PORTFILE RECORDFILE [KEY]
// It accepts GET /v1/realtime?model=M with "Authorization: Bearer KEY" and Azure's
// GET /openai/realtime?api-version=V&deployment=D with "api-key: KEY" (default KEY sk-provider);
// anything else gets HTTP 401 before the upgrade. A session starts with session.created; each
// response.create is answered with the GA event sequence of a text response (response.created,
// response.output_item.added, response.content_part.added, two response.output_text.delta,
// response.output_text.done, response.content_part.done, response.output_item.done, response.done)
// and response.done carries the usage below. Shapes follow OpenAI's Realtime API reference
// (platform.openai.com/docs/api-reference/realtime-server-events) and the openai node SDK's types
// (openai-node: src/resources/realtime/realtime.ts, RealtimeServerEvent, ResponseDoneEvent).
// Faults by the response's instructions: "drop" ends the TCP connection after response.created
// (no close frame); "hang" answers nothing.
// RECORDFILE gets one JSON line per happening: {"ev":"open",path,auth}, {"ev":"msg",type},
// {"ev":"close",code}.
import { WebSocketServer } from 'ws';
import http from 'node:http';
import fs from 'node:fs';

const [portFile, recordFile, key = 'sk-provider'] = process.argv.slice(2);
const rec = (o) => fs.appendFileSync(recordFile, JSON.stringify(o) + '\n');
export const USAGE = {
  total_tokens: 150, input_tokens: 120, output_tokens: 30,
  input_token_details: { text_tokens: 100, audio_tokens: 20, cached_tokens: 64,
                         cached_tokens_details: { text_tokens: 64, audio_tokens: 0 } },
  output_token_details: { text_tokens: 10, audio_tokens: 20 },
};

let seq = 0;
const eid = () => `event_mock_${++seq}`;
const server = http.createServer((req, res) => { res.writeHead(404); res.end(); });
const wss = new WebSocketServer({ noServer: true });

server.on('upgrade', (req, socket, head) => {
  const u = new URL(req.url, 'http://x');
  let model = null, ok = false;
  if (u.pathname === '/v1/realtime') {
    model = u.searchParams.get('model');
    ok = req.headers.authorization === `Bearer ${key}`;
  } else if (u.pathname === '/openai/realtime') {
    model = u.searchParams.get('deployment');
    ok = req.headers['api-key'] === key && !!u.searchParams.get('api-version');
  }
  rec({ ev: 'upgrade', path: u.pathname, model, ok });
  if (!ok || !model) {
    socket.end('HTTP/1.1 401 Unauthorized\r\nContent-Type: application/json\r\nConnection: close\r\n\r\n' +
      JSON.stringify({ error: { message: 'Incorrect API key provided', type: 'invalid_request_error', code: 'invalid_api_key' } }));
    return;
  }
  wss.handleUpgrade(req, socket, head, (ws) => session(ws, model, u.pathname));
});

function session(ws, model, path) {
  rec({ ev: 'open', path, model });
  const send = (o) => ws.send(JSON.stringify({ event_id: eid(), ...o }));
  send({ type: 'session.created', session: { id: 'sess_mock1', object: 'realtime.session', type: 'realtime', model,
    output_modalities: ['text'], instructions: '', tools: [] } });
  let n = 0;
  ws.on('message', (data) => {
    let ev;
    try { ev = JSON.parse(data.toString()); } catch { rec({ ev: 'bad_json' }); return; }
    rec({ ev: 'msg', type: ev.type, bytes: data.length, audio: ev.audio ? ev.audio.length : undefined });
    if (ev.type === 'session.update') {
      send({ type: 'session.updated', session: { id: 'sess_mock1', object: 'realtime.session', model, ...(ev.session || {}) } });
      return;
    }
    if (ev.type !== 'response.create') return;
    const how = ev.response?.instructions || '';
    if (how === 'hang') return;
    const id = `resp_mock${++n}`, item = `item_mock${n}`;
    const base = { id, object: 'realtime.response', conversation_id: 'conv_mock1', output_modalities: ['text'] };
    send({ type: 'response.created', response: { ...base, status: 'in_progress', output: [], usage: null } });
    if (how === 'drop') { ws._socket.destroy(); return; }
    const text = `Hello ${n}`;
    send({ type: 'response.output_item.added', response_id: id, output_index: 0,
      item: { id: item, object: 'realtime.item', type: 'message', status: 'in_progress', role: 'assistant', content: [] } });
    send({ type: 'response.content_part.added', response_id: id, item_id: item, output_index: 0, content_index: 0,
      part: { type: 'text', text: '' } });
    send({ type: 'response.output_text.delta', response_id: id, item_id: item, output_index: 0, content_index: 0, delta: 'Hello' });
    send({ type: 'response.output_text.delta', response_id: id, item_id: item, output_index: 0, content_index: 0, delta: ` ${n}` });
    send({ type: 'response.output_text.done', response_id: id, item_id: item, output_index: 0, content_index: 0, text });
    send({ type: 'response.content_part.done', response_id: id, item_id: item, output_index: 0, content_index: 0,
      part: { type: 'text', text } });
    const done = { id: item, object: 'realtime.item', type: 'message', status: 'completed', role: 'assistant',
      content: [{ type: 'output_text', text }] };
    send({ type: 'response.output_item.done', response_id: id, output_index: 0, item: done });
    send({ type: 'response.done', response: { ...base, status: 'completed', output: [done], usage: USAGE } });
  });
  ws.on('close', (code) => rec({ ev: 'close', code }));
}

server.listen(0, '127.0.0.1', () => {
  fs.writeFileSync(portFile + '.tmp', String(server.address().port));
  fs.renameSync(portFile + '.tmp', portFile);
});
process.on('SIGTERM', () => process.exit(0));
