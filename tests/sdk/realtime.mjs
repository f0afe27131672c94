// realtime.mjs: the openai SDK's realtime client (OpenAIRealtimeWS from openai/realtime/ws, on the
// `ws` package) as a client of relayd, for tests/bats/16-sdk-realtime.bats.
// Usage: node realtime.mjs SCENARIO MODEL   (RELAY_URL, RELAY_KEY in the environment)
// The SDK always builds a wss:// URL; relayd in the tests speaks plain HTTP, so the one thing given
// to the SDK besides base URL and key is ws's createConnection option: the same request over a
// plain TCP socket. Everything else (URL, headers, events, framing) is the SDK's and ws's own.
// Prints one JSON object: what the session saw (texts, response.done usages, error events, the
// close code).
// SCENARIO: text N   N responses, then a normal close
//           quota    responses until relayd closes the session
//           updrop   a response whose upstream drops the connection
//           clientdrop  a response that hangs, then the TCP connection is cut (no close frame)
//           drain    waits, after printing {"ready":true}, until relayd closes the session
//           audio    2 MiB of base64 audio in input_audio_buffer.append, then one response
//           azure    one response through AzureOpenAI's realtime client
//           subproto the browser clients' way: key in the subprotocol, no Authorization (raw ws)
import net from 'node:net';
import OpenAI, { AzureOpenAI } from 'openai';
import { OpenAIRealtimeWS } from 'openai/realtime/ws';
import { WebSocket } from 'ws';

const [scenario, model = 'rt-model', arg = '1'] = process.argv.slice(2);
const relay = process.env.RELAY_URL, key = process.env.RELAY_KEY;
const plain = (opts) => net.connect({ host: opts.host, port: Number(opts.port) });
const out = { texts: [], usages: [], errors: [], events: [], close: null };
const done = (extra = {}) => { console.log(JSON.stringify({ ...out, ...extra })); process.exit(0); };
// RT_IDLE_S: the session idles this long before its first response (an idle session must stay open)
const idle = Number(process.env.RT_IDLE_S || 0);
setTimeout(() => done({ timeout: true }), 30000 + idle * 1000).unref();

function watch(rt, socket) {
  let text = '';
  rt.on('error', (e) => out.errors.push({ message: e.message, code: e.error?.code ?? null, type: e.error?.type ?? null }));
  rt.on('event', (ev) => {
    out.events.push(ev.type);
    if (ev.type === 'response.output_text.delta') text += ev.delta;
    if (ev.type === 'response.done') { out.texts.push(text); text = ''; out.usages.push(ev.response.usage); }
  });
  socket.on('close', (code, reason) => { out.close = { code, reason: reason.toString() }; done(); });
}

const next = (rt, type) => new Promise((resolve) => {
  const f = (ev) => { if (ev.type === type) { rt.off('event', f); resolve(ev); } };
  rt.on('event', f);
});

if (scenario === 'subproto') {
  const ws = new WebSocket(`${relay.replace('http', 'ws')}/v1/realtime?model=${encodeURIComponent(model)}`,
    ['realtime', `openai-insecure-api-key.${key}`]);
  ws.on('message', (d) => {
    const ev = JSON.parse(d.toString());
    out.events.push(ev.type);
    if (ev.type === 'session.created') { out.protocol = ws.protocol; ws.close(1000, 'bye'); }
  });
  ws.on('unexpected-response', (req, res) => done({ status: res.statusCode }));
  ws.on('error', (e) => out.errors.push({ message: e.message }));
  ws.on('close', (code) => { out.close = { code }; done(); });
} else {
  let rt;
  if (scenario === 'azure') {
    const client = new AzureOpenAI({ endpoint: relay, apiKey: key, apiVersion: '2025-04-01-preview', deployment: model });
    rt = await OpenAIRealtimeWS.azure(client, { deploymentName: model, options: { createConnection: plain } });
  } else {
    const client = new OpenAI({ baseURL: `${relay}/v1`, apiKey: key });
    rt = new OpenAIRealtimeWS({ model, options: { createConnection: plain } }, client);
  }
  const socket = rt.socket;
  socket.on('unexpected-response', (req, res) => {
    let body = '';
    res.on('data', (c) => { body += c; });
    res.on('end', () => done({ status: res.statusCode, body: (() => { try { return JSON.parse(body); } catch { return body; } })() }));
  });
  watch(rt, socket);
  await next(rt, 'session.created');
  const ask = (instructions) => rt.send({ type: 'response.create', response: instructions ? { instructions } : {} });
  if (scenario === 'text' || scenario === 'azure') {
    if (idle) await new Promise((r) => setTimeout(r, idle * 1000));
    for (let i = 0; i < Number(arg); i++) {
      ask();
      await next(rt, 'response.done');
    }
    rt.close({ code: 1000, reason: 'done' });
  } else if (scenario === 'audio') {
    const pcm = Buffer.alloc(1536 * 1024, 7);       /* 1.5 MiB of PCM16 -> 2 MiB of base64 */
    rt.send({ type: 'input_audio_buffer.append', audio: pcm.toString('base64') });
    ask();
    await next(rt, 'response.done');
    rt.close({ code: 1000, reason: 'done' });
  } else if (scenario === 'quota') {
    for (let i = 0; i < 50; i++) {
      ask();
      await next(rt, 'response.done');
    }
    rt.close({ code: 1000, reason: 'done' });
  } else if (scenario === 'updrop') {
    ask('drop');
  } else if (scenario === 'clientdrop') {
    ask('hang');
    setTimeout(() => { socket._socket.destroy(); done({ dropped: true }); }, 200);
  } else if (scenario === 'drain') {
    console.log(JSON.stringify({ ready: true }));
  }
}
