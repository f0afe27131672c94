// client.mjs: the official SDKs (openai, @anthropic-ai/sdk, @google/genai) as real clients of relayd,
// used unmodified: only the base URL and the API key point at relay. tests/bats/16-sdk*.bats run it.
//
//   node client.mjs SDK SCENARIO MODEL        SDK: openai | anthropic | gemini | responses
//                                             (responses: the openai SDK's client.responses)
//
// Environment: RELAY_URL (http://127.0.0.1:PORT), RELAY_KEY (a relay token).
// Scenarios:
//   text          one non-streaming call
//   stream        one streaming call
//   tools         a function tool round trip, non-streaming: the model asks for the tool "lookup",
//                 the client sends its result ("42") back and gets the final answer
//   tools-stream  the same round trip with both calls streamed
//   error         a call expected to fail (non-streaming)
//   stream-error  a streaming call expected to fail, possibly after some text
//   embed         embeddings of two texts in 4 dimensions (openai: embeddings.create with the SDK's
//                 default encoding, base64; gemini: models.embedContent): {"vectors", "usage"?}
// Prints one JSON object on stdout:
//   {"text", "finish", "usage": {"input", "output"}, "model"?, "events"?: [names], "call"?: {"id",
//    "name", "args"}, "final"?: {...}, "error"?: {"class", "status", "message", "type"?}}
// Exit status 0 whenever the SDK behaved (an expected error is reported in "error"), 1 on a
// scenario the SDK could not run (the message on stderr).
import OpenAI from 'openai';
import Anthropic from '@anthropic-ai/sdk';
import { GoogleGenAI } from '@google/genai';

const [sdk, scenario, model] = process.argv.slice(2);
const base = process.env.RELAY_URL;
const key = process.env.RELAY_KEY;
if (!sdk || !scenario || !model || !base || !key) {
  console.error('usage: RELAY_URL=... RELAY_KEY=... node client.mjs openai|anthropic|gemini SCENARIO MODEL');
  process.exit(2);
}

const PROMPT = 'say hello';
const TOOL_PROMPT = 'please use tool lookup';
const TOOL_RESULT = '42';
const toolSchema = { type: 'object', properties: { q: { type: 'string' } }, required: ['q'] };

function errorInfo(e) {
  const info = { class: e?.constructor?.name ?? typeof e, status: e?.status ?? null, message: String(e?.message ?? e) };
  // Anthropic: e.error = {type:"error", error:{type, message}}; OpenAI: e.type / e.code
  if (e?.error?.error?.type) info.type = e.error.error.type;
  else if (e?.type) info.type = e.type;
  if (e?.code) info.code = e.code;
  return info;
}

// ---------------------------------------------------------------- OpenAI
async function openaiRun() {
  const client = new OpenAI({ apiKey: key, baseURL: `${base}/v1`, maxRetries: 0, timeout: 30000 });
  const tools = [{ type: 'function', function: { name: 'lookup', description: 'looks q up', parameters: toolSchema } }];

  async function call(messages, stream, withTools) {
    const req = { model, messages, max_tokens: 64 };
    if (withTools) req.tools = tools;
    if (!stream) {
      const r = await client.chat.completions.create(req);
      const m = r.choices[0].message;
      return {
        text: m.content ?? '', finish: r.choices[0].finish_reason, model: r.model,
        usage: { input: r.usage?.prompt_tokens, output: r.usage?.completion_tokens },
        calls: (m.tool_calls ?? []).map((c) => ({ id: c.id, name: c.function.name, args: c.function.arguments })),
        reasoning: m.reasoning_content,
      };
    }
    const s = await client.chat.completions.create({ ...req, stream: true, stream_options: { include_usage: true } });
    const out = { text: '', finish: null, usage: null, calls: [], chunks: 0, reasoning: '' };
    for await (const chunk of s) {
      out.chunks++;
      if (chunk.usage) out.usage = { input: chunk.usage.prompt_tokens, output: chunk.usage.completion_tokens };
      const ch = chunk.choices?.[0];
      if (!ch) continue;
      out.model = chunk.model;
      if (ch.delta?.content) out.text += ch.delta.content;
      if (ch.delta?.reasoning_content) out.reasoning += ch.delta.reasoning_content;
      for (const tc of ch.delta?.tool_calls ?? []) {
        const c = (out.calls[tc.index] ??= { id: '', name: '', args: '' });
        if (tc.id) c.id = tc.id;
        if (tc.function?.name) c.name += tc.function.name;
        if (tc.function?.arguments) c.args += tc.function.arguments;
      }
      if (ch.finish_reason) out.finish = ch.finish_reason;
    }
    return out;
  }

  const user = [{ role: 'user', content: PROMPT }];
  switch (scenario) {
    case 'text': return call(user, false, false);
    case 'stream': return call(user, true, false);
    case 'embed': {
      const r = await client.embeddings.create({ model, input: ['hello', 'world'], dimensions: 4 });
      return { vectors: r.data.map((d) => Array.from(d.embedding)), usage: r.usage, model: r.model };
    }
    case 'tools':
    case 'tools-stream': {
      const stream = scenario === 'tools-stream';
      const msgs = [{ role: 'user', content: TOOL_PROMPT }];
      const first = await call(msgs, stream, true);
      if (first.calls.length !== 1) throw new Error(`expected one tool call, got ${JSON.stringify(first)}`);
      const c = first.calls[0];
      msgs.push({ role: 'assistant', content: null, tool_calls: [{ id: c.id, type: 'function', function: { name: c.name, arguments: c.args } }] });
      msgs.push({ role: 'tool', tool_call_id: c.id, content: TOOL_RESULT });
      const final = await call(msgs, stream, true);
      return { call: { id: c.id, name: c.name, args: JSON.parse(c.args) }, first, final, text: final.text, finish: final.finish };
    }
    case 'error':
      try { return { unexpected: await call(user, false, false) }; } catch (e) { return { error: errorInfo(e) }; }
    case 'stream-error': {
      const out = { text: '' };
      try {
        const s = await client.chat.completions.create({ model, messages: user, stream: true });
        for await (const chunk of s) out.text += chunk.choices?.[0]?.delta?.content ?? '';
        out.unexpected = 'the stream ended without an error';
      } catch (e) { out.error = errorInfo(e); }
      return out;
    }
  }
  throw new Error(`unknown scenario ${scenario}`);
}

// ---------------------------------------------------------------- Anthropic
async function anthropicRun() {
  const client = new Anthropic({ apiKey: key, baseURL: base, maxRetries: 0, timeout: 30000 });
  const tools = [{ name: 'lookup', description: 'looks q up', input_schema: toolSchema }];

  function summary(m) {
    const text = m.content.filter((b) => b.type === 'text').map((b) => b.text).join('');
    const thinking = m.content.filter((b) => b.type === 'thinking').map((b) => b.thinking).join('');
    const calls = m.content.filter((b) => b.type === 'tool_use').map((b) => ({ id: b.id, name: b.name, args: b.input }));
    return { text, thinking, finish: m.stop_reason, model: m.model, usage: { input: m.usage?.input_tokens, output: m.usage?.output_tokens }, calls, content: m.content };
  }
  async function call(messages, stream, withTools) {
    const req = { model, max_tokens: 64, messages };
    if (withTools) req.tools = tools;
    if (!stream) return summary(await client.messages.create(req));
    const s = client.messages.stream(req);
    const events = [];
    s.on('streamEvent', (ev) => events.push(ev.type));
    const msg = await s.finalMessage();
    return { ...summary(msg), events };
  }

  const user = [{ role: 'user', content: PROMPT }];
  switch (scenario) {
    case 'text': return call(user, false, false);
    case 'stream': return call(user, true, false);
    case 'tools':
    case 'tools-stream': {
      const stream = scenario === 'tools-stream';
      const msgs = [{ role: 'user', content: TOOL_PROMPT }];
      const first = await call(msgs, stream, true);
      if (first.calls.length !== 1) throw new Error(`expected one tool_use, got ${JSON.stringify(first)}`);
      const c = first.calls[0];
      msgs.push({ role: 'assistant', content: first.content });
      msgs.push({ role: 'user', content: [{ type: 'tool_result', tool_use_id: c.id, content: TOOL_RESULT }] });
      const final = await call(msgs, stream, true);
      return { call: c, first, final, text: final.text, finish: final.finish };
    }
    case 'error':
      try { return { unexpected: await call(user, false, false) }; } catch (e) { return { error: errorInfo(e) }; }
    case 'stream-error': {
      const out = { text: '', events: [] };
      try {
        const s = await client.messages.create({ model, max_tokens: 64, messages: user, stream: true });
        for await (const ev of s) {
          out.events.push(ev.type);
          if (ev.type === 'content_block_delta' && ev.delta.type === 'text_delta') out.text += ev.delta.text;
        }
        out.unexpected = 'the stream ended without an error';
      } catch (e) { out.error = errorInfo(e); }
      return out;
    }
  }
  throw new Error(`unknown scenario ${scenario}`);
}

// ---------------------------------------------------------------- Gemini
async function geminiRun() {
  const ai = new GoogleGenAI({ apiKey: key, httpOptions: { baseUrl: base, timeout: 30000 } });
  const config = { maxOutputTokens: 64 };
  const toolConfig = { ...config, tools: [{ functionDeclarations: [{ name: 'lookup', description: 'looks q up', parameters: toolSchema }] }] };

  function summary(r) {
    const parts = r.candidates?.[0]?.content?.parts ?? [];
    return {
      text: parts.filter((p) => p.text && !p.thought).map((p) => p.text).join(''),
      thought: parts.filter((p) => p.text && p.thought).map((p) => p.text).join(''),
      finish: r.candidates?.[0]?.finishReason ?? null,
      model: r.modelVersion,
      usage: r.usageMetadata ? { input: r.usageMetadata.promptTokenCount, output: r.usageMetadata.candidatesTokenCount } : null,
      calls: parts.filter((p) => p.functionCall).map((p) => ({ id: p.functionCall.id, name: p.functionCall.name, args: p.functionCall.args })),
    };
  }
  async function call(contents, stream, cfg) {
    if (!stream) return summary(await ai.models.generateContent({ model, contents, config: cfg }));
    const s = await ai.models.generateContentStream({ model, contents, config: cfg });
    const out = { text: '', thought: '', finish: null, usage: null, calls: [], frames: 0 };
    for await (const r of s) {
      out.frames++;
      const p = summary(r);
      out.text += p.text;
      out.thought += p.thought;
      out.calls.push(...p.calls);
      if (p.finish) out.finish = p.finish;
      if (p.usage) out.usage = p.usage;
      if (p.model) out.model = p.model;
    }
    return out;
  }

  const user = [{ role: 'user', parts: [{ text: PROMPT }] }];
  switch (scenario) {
    case 'text': return call(user, false, config);
    case 'stream': return call(user, true, config);
    case 'embed': {
      const r = await ai.models.embedContent({ model, contents: ['hello', 'world'], config: { outputDimensionality: 4 } });
      return { vectors: r.embeddings.map((e) => e.values) };
    }
    case 'tools':
    case 'tools-stream': {
      const stream = scenario === 'tools-stream';
      const contents = [{ role: 'user', parts: [{ text: TOOL_PROMPT }] }];
      const first = await call(contents, stream, toolConfig);
      if (first.calls.length !== 1) throw new Error(`expected one functionCall, got ${JSON.stringify(first)}`);
      const c = first.calls[0];
      contents.push({ role: 'model', parts: [{ functionCall: { name: c.name, args: c.args, ...(c.id ? { id: c.id } : {}) } }] });
      contents.push({ role: 'user', parts: [{ functionResponse: { name: c.name, response: { result: TOOL_RESULT }, ...(c.id ? { id: c.id } : {}) } }] });
      const final = await call(contents, stream, toolConfig);
      return { call: c, first, final, text: final.text, finish: final.finish };
    }
    case 'error':
      try { return { unexpected: await call(user, false, config) }; } catch (e) { return { error: errorInfo(e) }; }
    case 'stream-error': {
      const out = { text: '' };
      try {
        const s = await ai.models.generateContentStream({ model, contents: user, config });
        for await (const r of s) out.text += summary(r).text;
        out.unexpected = 'the stream ended without an error';
      } catch (e) { out.error = errorInfo(e); }
      return out;
    }
  }
  throw new Error(`unknown scenario ${scenario}`);
}

// ---------------------------------------------------------------- OpenAI Responses
async function responsesRun() {
  const client = new OpenAI({ apiKey: key, baseURL: `${base}/v1`, maxRetries: 0, timeout: 30000 });
  const tools = [{ type: 'function', name: 'lookup', description: 'looks q up', parameters: toolSchema, strict: false }];

  function summary(r) {
    const out = r.output ?? [];
    return {
      text: r.output_text ?? '', finish: r.status, model: r.model, id: r.id,
      usage: { input: r.usage?.input_tokens, output: r.usage?.output_tokens, cached: r.usage?.input_tokens_details?.cached_tokens, reasoning: r.usage?.output_tokens_details?.reasoning_tokens },
      calls: out.filter((i) => i.type === 'function_call').map((i) => ({ id: i.call_id, name: i.name, args: i.arguments })),
      items: out.map((i) => i.type),
      output: out,
    };
  }
  async function call(input, stream, withTools) {
    const req = { model, input, max_output_tokens: 64 };
    if (withTools) req.tools = tools;
    if (!stream) return summary(await client.responses.create(req));
    const s = client.responses.stream(req);
    const events = [];
    let seq = -1, ordered = true;
    for await (const ev of s) {
      events.push(ev.type);
      if (typeof ev.sequence_number !== 'number' || ev.sequence_number <= seq) ordered = false;
      seq = ev.sequence_number;
    }
    return { ...summary(await s.finalResponse()), events, ordered };
  }

  switch (scenario) {
    case 'text': return call(PROMPT, false, false);
    case 'stream': return call(PROMPT, true, false);
    case 'tools':
    case 'tools-stream': {
      const stream = scenario === 'tools-stream';
      const input = [{ role: 'user', content: TOOL_PROMPT }];
      const first = await call(input, stream, true);
      if (first.calls.length !== 1) throw new Error(`expected one function_call, got ${JSON.stringify(first)}`);
      const c = first.calls[0];
      // turn 2: the output items sent back as they came (the SDK's own types), then the result
      input.push(...first.output);
      input.push({ type: 'function_call_output', call_id: c.id, output: TOOL_RESULT });
      const final = await call(input, stream, true);
      return { call: { id: c.id, name: c.name, args: JSON.parse(c.args) }, first, final, text: final.text, finish: final.finish };
    }
    case 'error':
      try { return { unexpected: await call(PROMPT, false, false) }; } catch (e) { return { error: errorInfo(e) }; }
    case 'stream-error': {
      const out = { text: '', events: [] };
      try {
        const s = await client.responses.create({ model, input: PROMPT, stream: true });
        for await (const ev of s) {
          out.events.push(ev.type);
          if (ev.type === 'response.output_text.delta') out.text += ev.delta;
          // the SDK yields the Responses API's error event ({"type":"error","code","message"}) as an event
          if (ev.type === 'error') out.error_event = { code: ev.code, message: ev.message };
        }
        if (!out.error_event) out.unexpected = 'the stream ended without an error';
      } catch (e) { out.error = errorInfo(e); }
      return out;
    }
  }
  throw new Error(`unknown scenario ${scenario}`);
}

const runners = { openai: openaiRun, anthropic: anthropicRun, gemini: geminiRun, responses: responsesRun };
if (!runners[sdk]) {
  console.error(`unknown SDK ${sdk}`);
  process.exit(2);
}
try {
  const out = await runners[sdk]();
  process.stdout.write(JSON.stringify(out) + '\n');
} catch (e) {
  console.error(`${sdk} ${scenario}: ${e?.constructor?.name}: ${e?.stack ?? e}`);
  process.exit(1);
}
