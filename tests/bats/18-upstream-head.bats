#!/usr/bin/env bats
# The head of every upstream request relayd sends (relayd/attempt.c, the channel header lists of
# relayd/snapshot.c and relayd/keypool.c): each header once, Accept-Encoding: identity among them
# (a line of the channel's list, so libcurl adds none of its own), the channel's or the pool key's
# own key; with one worker, so the kept easy handles (worker_easy_get_kept: never reset between
# attempts) and the kept parsed URLs (worker_url) serve request after request, stream or not; an
# answer compressed anyway is still decoded on such a handle; a channel whose base URL changes is
# called at its new address. The mock upstream records only some headers (and MHD folds repeated
# ones), so the upstream here is a small HTTP/1.1 server that records every header line as sent.

load helpers

JGET="$BATS_TEST_DIRNAME/jget"

setup() {
  relay_env
  gwctl user add alice --quota 1000000000 > /dev/null
  KEY=$(gwctl token create --user alice --name t1 --quota 500000000)
}

# wire_start NAME: an OpenAI-like upstream on a free port that appends each request it gets (its
# request line, every header line in order, the body) to $BATS_TEST_TMPDIR/NAME.heads, a JSON
# object a line; it answers a chat (stream or not, "content": "wire ok", usage 5 + 2) with
# Content-Length on a kept-alive connection, gzip-compressed (Content-Encoding: gzip) whatever
# was asked while the file $BATS_TEST_TMPDIR/NAME.gzip exists. Sets WIRE_PORT.
wire_start() {
  local name=$1 pf="$BATS_TEST_TMPDIR/$1.port" i
  rm -f "$pf"
  _spawn "wire-$name" "$BATS_TEST_TMPDIR/wire-$name.log" python3 -c '
import gzip, http.server, json, os, sys
out, pf, flag = sys.argv[1], sys.argv[2], sys.argv[3]
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a):
        pass
    def do_POST(self):
        n = int(self.headers.get("Content-Length", "0"))
        raw = self.rfile.read(n)
        with open(out, "a") as f:
            f.write(json.dumps({"line": self.requestline, "headers": list(self.headers.items()),
                                "body": raw.decode("utf-8", "replace")}) + "\n")
        req = json.loads(raw)
        m = req.get("model", "?")
        usage = {"prompt_tokens": 5, "completion_tokens": 2, "total_tokens": 7}
        if req.get("stream"):
            ev = [{"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": m,
                   "choices": [{"index": 0, "delta": {"role": "assistant", "content": "wire ok"}, "finish_reason": None}]},
                  {"id": "c1", "object": "chat.completion.chunk", "created": 1, "model": m,
                   "choices": [{"index": 0, "delta": {}, "finish_reason": "stop"}], "usage": usage}]
            body = "".join("data: %s\n\n" % json.dumps(e) for e in ev) + "data: [DONE]\n\n"
            ctype = "text/event-stream"
        else:
            body = json.dumps({"id": "c1", "object": "chat.completion", "created": 1, "model": m,
                               "choices": [{"index": 0, "message": {"role": "assistant", "content": "wire ok"},
                                            "finish_reason": "stop"}], "usage": usage})
            ctype = "application/json"
        data = body.encode()
        self.send_response(200)
        self.send_header("Content-Type", ctype)
        if os.path.exists(flag):
            data = gzip.compress(data)
            self.send_header("Content-Encoding", "gzip")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
with open(pf + ".tmp", "w") as f:
    f.write(str(s.server_address[1]))
os.rename(pf + ".tmp", pf)
s.serve_forever()
' "$BATS_TEST_TMPDIR/$name.heads" "$pf" "$BATS_TEST_TMPDIR/$name.gzip"
  for ((i = 0; i < 100; i++)); do
    [ -s "$pf" ] && break
    sleep 0.05
  done
  WIRE_PORT=$(cat "$pf")
}

# chat MODEL STREAM [PATH]: one request (the OpenAI API, or with PATH /v1/messages the Anthropic
# API); sets code, body, hdrs
chat() {
  local out="$BATS_TEST_TMPDIR/resp"
  if [ "${3:-}" = /v1/messages ]; then
    code=$(curl -s -o "$out.body" -D "$out.hdrs" -w '%{http_code}' "$RELAY_URL/v1/messages" \
      -H "x-api-key: $KEY" -H 'anthropic-version: 2023-06-01' -H 'content-type: application/json' \
      --data-binary "{\"model\":\"$1\",\"max_tokens\":64,\"stream\":$2,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}")
  else
    code=$(curl -s -o "$out.body" -D "$out.hdrs" -w '%{http_code}' "$RELAY_URL/v1/chat/completions" \
      -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' \
      --data-binary "{\"model\":\"$1\",\"stream\":$2,\"messages\":[{\"role\":\"user\",\"content\":\"hi\"}]}")
  fi
  body=$(cat "$out.body")
  hdrs=$(cat "$out.hdrs")
}

# answered STREAM: the last answer is a 200 whose text is "wire ok" (from the stream's events or
# the whole answer), with no Content-Encoding
answered() {
  [ "$code" = 200 ] || { echo "status $code: $body" >&2; return 1; }
  ! echo "$hdrs" | grep -qi '^content-encoding'
  if [ "$1" = true ]; then
    [ "$(echo "$body" | python3 -c '
import json, sys
t = ""
for l in sys.stdin:
    l = l.strip()
    if l.startswith("data: ") and l != "data: [DONE]":
        for c in json.loads(l[6:]).get("choices", []):
            t += c.get("delta", {}).get("content") or ""
print(t)')" = "wire ok" ]
  else
    [ "$(echo "$body" | $JGET 'd["choices"][0]["message"]["content"]')" = "wire ok" ]
  fi
}

# heads_ok NAME PORT MODEL KEY...: every request upstream NAME got is a POST to
# /v1/chat/completions over HTTP/1.1 for MODEL, and its head holds each header name once (Host
# 127.0.0.1:PORT, Accept-Encoding: identity, Content-Type: application/json, Content-Length, an
# Authorization of one of KEYS), no Expect; with several KEYS, each was used. Prints the count.
heads_ok() {
  python3 - "$BATS_TEST_TMPDIR/$1.heads" "$2" "$3" "${@:4}" <<'PY'
import collections, json, sys
path, port, model, keys = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
n, used = 0, set()
for line in open(path):
    r = json.loads(line)
    n += 1
    assert r["line"] == "POST /v1/chat/completions HTTP/1.1", r["line"]
    assert json.loads(r["body"])["model"] == model, r["body"]
    names = collections.Counter(k.lower() for k, _ in r["headers"])
    dup = [k for k, c in names.items() if c > 1]
    assert not dup, ("repeated", dup, r["headers"])
    h = {k.lower(): v for k, v in r["headers"]}
    assert h.get("host") == "127.0.0.1:" + port, h
    assert h.get("accept-encoding") == "identity", h
    assert h.get("content-type") == "application/json", h
    assert int(h.get("content-length", "-1")) == len(r["body"].encode()), h
    assert "expect" not in h, h
    auth = h.get("authorization", "")
    assert auth.startswith("Bearer ") and auth[7:] in keys, auth
    used.add(auth[7:])
assert used == set(keys), ("keys used", used, keys)
print(n)
PY
}

@test "each upstream request head holds each header once, Accept-Encoding: identity and the key among them, on kept handles and URLs; gzip is still decoded; a new base URL is called" {
  wire_start a
  PORT_A=$WIRE_PORT
  wire_start b
  PORT_B=$WIRE_PORT
  wire_start c
  PORT_C=$WIRE_PORT
  printf '%s\n' sk-wire-a | gwctl channel add --name a --type openai --base-url "http://127.0.0.1:$PORT_A" \
    --models gpt-4o-mini > /dev/null
  printf '%s\n' sk-wire-pool-1 sk-wire-pool-2 | gwctl channel add --name p --type openai \
    --base-url "http://127.0.0.1:$PORT_B" --models gpt-4.1-mini --key-mode round-robin > /dev/null
  relayd_start --workers 1
  # stream and not in turns, two channels (two URLs), a converted client: every handle and URL
  # is reused by the one worker
  local i s
  for i in 1 2 3; do
    for s in false true; do
      chat gpt-4o-mini $s
      answered $s
      chat gpt-4.1-mini $s
      answered $s
    done
    chat gpt-4o-mini false /v1/messages
    [ "$code" = 200 ]
    [ "$(echo "$body" | $JGET 'd["content"][0]["text"]')" = "wire ok" ]
  done
  [ "$(heads_ok a "$PORT_A" gpt-4o-mini sk-wire-a)" = 9 ]
  [ "$(heads_ok b "$PORT_B" gpt-4.1-mini sk-wire-pool-1 sk-wire-pool-2)" = 6 ]
  # answers compressed without being asked, on the handles the identity answers used
  touch "$BATS_TEST_TMPDIR/a.gzip" "$BATS_TEST_TMPDIR/b.gzip"
  for s in false true false true; do
    chat gpt-4o-mini $s
    answered $s
    chat gpt-4.1-mini $s
    answered $s
  done
  [ "$(heads_ok a "$PORT_A" gpt-4o-mini sk-wire-a)" = 13 ]
  [ "$(heads_ok b "$PORT_B" gpt-4.1-mini sk-wire-pool-1 sk-wire-pool-2)" = 10 ]
  wait_until 5 sql_is 23 "SELECT count(*) FROM logs WHERE type = 2 AND prompt_tokens = 5 AND completion_tokens = 2"
  # the channel moves: its next requests go to the new address (a URL is kept by its text)
  gwctl channel edit a --base-url "http://127.0.0.1:$PORT_C" > /dev/null
  moved() { chat gpt-4o-mini false && [ -s "$BATS_TEST_TMPDIR/c.heads" ]; }
  wait_until 10 moved
  local at_a
  at_a=$(heads_ok a "$PORT_A" gpt-4o-mini sk-wire-a)
  for s in true false; do
    chat gpt-4o-mini $s
    answered $s
  done
  [ "$(heads_ok c "$PORT_C" gpt-4o-mini sk-wire-a)" -ge 3 ]
  [ "$(heads_ok a "$PORT_A" gpt-4o-mini sk-wire-a)" = "$at_a" ]
}
