// A fake OpenAI-compatible upstream for the gateway tests and benchmark:
// a Node http server on 127.0.0.1 speaking OpenAI's JSON and SSE formats for
// POST /v1/chat/completions and POST /v1/images/generations.
//
//   import { startFakeUpstream } from "./fake-upstream.mjs";
//   const up = await startFakeUpstream();      // { url, port, requests, ... }
//   up.url                                     // "http://127.0.0.1:<port>/v1"
//   up.requests                                // what it received, in order
//   await up.close();
//
// Behaviour, chosen per request by the body (the gateway forwards the body;
// the client's headers are not forwarded) or by the model name:
//
//   model "fail-500" / "fail-<status>"   answer <status> with an OpenAI error body
//   body.fake.fail = <status>            the same
//   body.fake.chunks = N                 N content chunks (default 5; capped by max_tokens)
//   body.fake.delay_ms = D               D ms before each chunk (default: opts.delayMs, 0)
//   body.fake.head_delay_ms = H          H ms before anything (status line, headers) is sent
//   body.fake.break_after = K            streams only: destroy the connection after K content chunks
//   body.fake.end_after = K              streams only: end the body cleanly after K content chunks,
//                                        without finish_reason, usage or [DONE] (a truncated answer)
//   body.fake.stall_after = K            streams only: after K content chunks, send nothing for
//   body.fake.stall_ms = S               S ms (no keep-alive either), then go on
//   body.fake.error_event = true         streams only: send an error event instead of content
//   body.fake.cost = USD                 add usage.cost (OpenRouter's field); also opts.cost
//   body.fake.answer_model = "id"        answer as another model than the one asked for (the
//                                        `model` of the JSON answer and of every chunk)
//   header x-fake-fail: <status>         the same as fake.fail (for direct calls)
//
// The gateway must forward only the fields it allows: `fake` reaches this
// fake only when the config lists it in `gateway.allow_fields`, as the tests'
// configs do. Every request is recorded (`requests`: method, path, headers,
// body as parsed) unless opts.record is false.
//
// Usage it reports (deterministic, and different from the gateway's estimate
// so tests can tell exact settlement from estimates):
//   prompt_tokens     = 7 + Σ over messages of ⌈len(JSON of content) / 5⌉
//   completion_tokens = the number of content chunks sent ("tok0 ", "tok1 ", …)
// A final usage-only chunk ({"choices": [], "usage": {...}}) is sent on
// streams only when stream_options.include_usage is true, as OpenAI does.

import http from "node:http";

/** prompt_tokens the fake reports for a chat body. */
export function promptTokens(body) {
  let t = 7;
  for (const m of body?.messages ?? []) {
    t += Math.ceil(JSON.stringify(m?.content ?? "").length / 5);
  }
  return t;
}

/** The content chunk texts the fake sends for a chat body. */
export function chunkTexts(body, defaults = {}) {
  const fake = body?.fake ?? {};
  let n = fake.chunks ?? defaults.chunks ?? 5;
  const cap = body?.max_completion_tokens ?? body?.max_tokens;
  if (Number.isInteger(cap)) n = Math.min(n, cap);
  return Array.from({ length: n }, (_, i) => `tok${i} `);
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

function readBody(req) {
  return new Promise((resolve, reject) => {
    const parts = [];
    req.on("data", (c) => parts.push(c));
    req.on("end", () => resolve(Buffer.concat(parts).toString("utf8")));
    req.on("error", reject);
  });
}

function errorBody(status, message) {
  return JSON.stringify({
    error: { message, type: status >= 500 ? "server_error" : "invalid_request_error", param: null, code: `fake_${status}` },
  });
}

/**
 * Start the fake upstream.
 * @param {object} [opts]
 * @param {number} [opts.delayMs]  default delay before each chunk
 * @param {number} [opts.chunks]   default number of content chunks
 * @param {number} [opts.cost]     default usage.cost (USD) to report
 * @param {boolean} [opts.comment] start streams with ": OPENROUTER PROCESSING"
 * @param {boolean} [opts.record]  keep requests in `requests` (default true; the benchmark turns it off)
 */
export async function startFakeUpstream(opts = {}) {
  const requests = [];
  const record = opts.record !== false;
  let seq = 0;

  const server = http.createServer(async (req, res) => {
    const raw = await readBody(req);
    let body;
    try {
      body = raw ? JSON.parse(raw) : {};
    } catch {
      body = undefined;
    }
    const entry = {
      seq: ++seq,
      method: req.method,
      path: req.url,
      headers: { ...req.headers },
      body,
      aborted: false,
      completed: false,
      chunksSent: 0,
      status: 200,
    };
    if (record) requests.push(entry);
    let finished = false;
    res.on("close", () => {
      if (!finished) entry.aborted = true;
    });
    const end = (status, text, type = "application/json") => {
      entry.status = status;
      res.writeHead(status, { "content-type": type });
      res.end(text);
      finished = true;
      entry.completed = true;
    };

    if (req.method !== "POST") return end(404, errorBody(404, "not found"));
    if (body === undefined) return end(400, errorBody(400, "invalid JSON"));
    const fake = body.fake ?? {};
    const failHeader = Number(req.headers["x-fake-fail"]);
    const failModel = /^fail-(\d{3})$/.exec(body.model ?? "");
    const fail = fake.fail ?? (failHeader || (failModel ? Number(failModel[1]) : 0));
    if (fail) return end(fail, errorBody(fail, `fake upstream failure ${fail}`));
    const delay = fake.delay_ms ?? opts.delayMs ?? 0;
    const cost = fake.cost ?? opts.cost;
    if (fake.head_delay_ms) await sleep(fake.head_delay_ms);

    if (req.url === "/v1/images/generations") {
      if (delay) await sleep(delay);
      const n = body.n ?? 1;
      const usage = { input_tokens: 10, output_tokens: 100 * n, total_tokens: 10 + 100 * n };
      if (cost !== undefined) usage.cost = cost;
      return end(
        200,
        JSON.stringify({
          created: Math.floor(Date.now() / 1000),
          data: Array.from({ length: n }, () => ({ b64_json: "iVBORw0KGgo=" })),
          usage,
        }),
      );
    }
    if (req.url !== "/v1/chat/completions") return end(404, errorBody(404, `no route ${req.url}`));

    const id = `chatcmpl-fake-${entry.seq}`;
    const created = Math.floor(Date.now() / 1000);
    const model = fake.answer_model ?? body.model;
    const texts = chunkTexts(body, opts);
    const usage = {
      prompt_tokens: promptTokens(body),
      completion_tokens: texts.length,
      total_tokens: promptTokens(body) + texts.length,
    };
    if (cost !== undefined) usage.cost = cost;
    entry.usage = usage;

    if (!body.stream) {
      if (delay) await sleep(delay * Math.max(1, texts.length));
      return end(
        200,
        JSON.stringify({
          id,
          object: "chat.completion",
          created,
          model,
          choices: [
            {
              index: 0,
              message: { role: "assistant", content: texts.join(""), refusal: null },
              logprobs: null,
              finish_reason: "stop",
            },
          ],
          usage,
        }),
      );
    }

    // Streaming.
    entry.status = 200;
    res.writeHead(200, {
      "content-type": "text/event-stream; charset=utf-8",
      "cache-control": "no-cache",
      connection: "keep-alive",
    });
    res.flushHeaders();
    const send = (obj) => res.write(`data: ${typeof obj === "string" ? obj : JSON.stringify(obj)}\n\n`);
    const chunk = (delta, finish = null) => ({
      id,
      object: "chat.completion.chunk",
      created,
      model,
      choices: [{ index: 0, delta, logprobs: null, finish_reason: finish }],
      usage: null,
    });
    if (opts.comment) res.write(": OPENROUTER PROCESSING\n\n");
    send(chunk({ role: "assistant", content: "", refusal: null }));
    if (fake.error_event) {
      send({ error: { message: "fake mid-stream error", code: 502 } });
      send("[DONE]");
      res.end();
      finished = true;
      entry.completed = true;
      return;
    }
    for (let i = 0; i < texts.length; i++) {
      if (delay) await sleep(delay);
      if (fake.stall_after === i && fake.stall_ms) await sleep(fake.stall_ms);
      if (res.destroyed || entry.aborted) return; // the client went away
      if (fake.break_after !== undefined && i >= fake.break_after) {
        res.socket?.destroy();
        return;
      }
      if (fake.end_after !== undefined && i >= fake.end_after) {
        res.end();
        finished = true;
        entry.completed = true;
        return;
      }
      send(chunk({ content: texts[i] }));
      entry.chunksSent++;
    }
    if (res.destroyed || entry.aborted) return;
    send(chunk({}, "stop"));
    if (body.stream_options?.include_usage) {
      send({ id, object: "chat.completion.chunk", created, model, choices: [], usage });
    }
    send("[DONE]");
    res.end();
    finished = true;
    entry.completed = true;
  });
  server.keepAliveTimeout = 5000;

  await new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const { port } = server.address();
  const sockets = new Set();
  server.on("connection", (s) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  });

  return {
    port,
    /** The base URL, as UPSTREAM_URL and as an OpenAI client's baseURL. */
    url: `http://127.0.0.1:${port}/v1`,
    requests,
    /** Forget what was received. */
    reset() {
      requests.length = 0;
    },
    /** The last request to a path ending with `suffix`. */
    last(suffix = "") {
      return [...requests].reverse().find((r) => r.path.endsWith(suffix));
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise((r) => server.close(r));
    },
  };
}

// `node tests/gateway/fake-upstream.mjs [port]`: run it by hand.
if (import.meta.url === `file://${process.argv[1]}`) {
  const up = await startFakeUpstream({ comment: true, record: false });
  console.log(`fake upstream on ${up.url}`);
}
