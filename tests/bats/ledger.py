#!/usr/bin/env python3
"""ledger.py: the driver of tests/bats/45-ledger.bats (issue #17, "money you can audit").

Python 3 standard library only. It provisions users, tokens, prices, groups, channels and limits
with gwctl, sends mixed load to a running relayd over real sockets, makes admin changes during the
load, and checks the books at the end. What it granted is kept in a JSON state file between the
steps; the bats file starts and stops relayd (SIGTERM drain, kill -9) between them.

Subcommands (the environment carries RELAY_BIN, RELAY_DB, RELAY_SOCKET as helpers.bash sets them):
  setup STATE --seed S --mock URL1,URL2      provision; write STATE
  load STATE --port P --count N [--phase NAME] [--admin] [--seconds S]
            [--ready FILE --streams K --stop FILE]
      N requests from 8 threads (mixed: see KINDS), spread over at least S seconds. --admin:
      reloads, user top-ups and token quota edits from a ninth thread while the load runs.
      --ready/--stop: K long streams are kept open; FILE --ready is written once they stream and
      300 requests are done; the load then runs until relayd is gone and the --stop file exists
      (the drain and kill -9 steps).
  offline STATE                              absolute quota edits while relayd is stopped
  check STATE DIR [--crashed]                the invariants, from the query results in DIR
                                             (--crashed: right after kill -9, all but R2)

What "granted" means (gwctl's semantics, gwctl/cmd_user.c and cmd_token.c):
  - user add --quota Q: granted = Q.  user topup U A: relative, granted += A.
  - user edit --quota Q and token edit --quota Q: absolute, they set the balance (users.quota,
    tokens.remain_quota) to Q while used_quota stays; the writer's later charges are relative
    (remain -= c, used += c). So after the edit, remain + used = Q + used_at_the_edit, and granted
    becomes Q + used_at_the_edit. used_quota only grows, so reading it before and after the edit
    and finding the same value gives used_at_the_edit exactly; otherwise the edit is repeated.
  - token create --quota Q: granted = Q. Unlimited tokens have no granted amount (remain stays 0).

The invariants checked (charged rows = logs of type consume (2) or error (5); topup and manage rows
carry no charge):
  I1 limited token:  remain_quota + used_quota = granted
  I2 every token:    used_quota = sum(logs.quota) of its charged rows
  I3 limited token:  remain_quota >= 0 (the bound for an honest upstream, which never reports more
                     input than the request's text holds nor more output than max_tokens)
  I4 unlimited token: remain_quota = 0 (never moved)
  U1 user:           quota + used_quota = granted
  U2 user:           used_quota = sum(logs.quota) of its charged rows
  U3 user:           quota >= 0
  C1 channel:        used_quota = sum(logs.quota) of its charged rows
  R1 no request_id appears twice among charged rows
  R2 no reservation is left open after a clean stop
"""
import http.client
import json
import os
import random
import socket
import subprocess
import sys
import threading
import time

MODELS = {  # name: (ratio, completion ratio)
    "m-cheap": ("0.075", "4"),
    "m-mid": ("1.25", "3"),
    "m-dear": ("7.5", "2"),
}
UNPRICED = "m-unpriced"       # served by a channel, no price: 403 before any reservation
GROUPS = {"default": None, "vip": "0.5", "bulk": "1.5"}
N_USERS, N_TOKENS, N_UNLIMITED = 12, 40, 6
LONG_OPEN = [0]               # long streams that have received their first event and not ended


def gwctl(*args, check=True):
    r = subprocess.run([os.path.join(os.environ["RELAY_BIN"], "gwctl")] + list(args),
                       capture_output=True, text=True)
    if check and r.returncode != 0:
        raise RuntimeError("gwctl %s: exit %d: %s" % (" ".join(args), r.returncode, r.stderr.strip()))
    return r


def load_state(path):
    with open(path) as f:
        return json.load(f)


def save_state(path, st):
    with open(path + ".tmp", "w") as f:
        json.dump(st, f, indent=1, sort_keys=True)
    os.replace(path + ".tmp", path)


# ------------------------------------------------------------------------------------ setup

def cmd_setup(path, seed, mocks):
    rnd = random.Random(seed)
    for k, v in (("breaker_failures", "0"), ("channel_auto_disable", "0")):
        gwctl("config", "set", k, v)
    for g, ratio in GROUPS.items():
        if ratio:
            gwctl("group", "set", g, "--ratio", ratio)
    for m, (ratio, cr) in MODELS.items():
        gwctl("price", "set", m, "--ratio", ratio, "--completion-ratio", cr)
    models = ",".join(list(MODELS) + [UNPRICED])
    # two channels on the first mock, one on the second; every group reaches every model
    for name, url in (("c1", mocks[0]), ("c2", mocks[0]), ("c3", mocks[-1])):
        subprocess.run([os.path.join(os.environ["RELAY_BIN"], "gwctl"), "channel", "add", "--name", name,
                        "--type", "openai", "--base-url", url, "--models", models,
                        "--group", ",".join(GROUPS)], input="sk-up-%s\n" % name, text=True, check=True,
                       capture_output=True)
    st = {"seed": seed, "users": {}, "tokens": {}, "requests": 0, "kinds": {}, "outcomes": {},
          "admin": {}, "phases": []}
    for i in range(N_USERS):
        name = "u%02d" % i
        q = rnd.choice([10 ** 9, 5 * 10 ** 6, 400000, 60000, 8000]) if i >= 2 else rnd.randint(3000, 15000)
        group = rnd.choice(list(GROUPS))
        gwctl("user", "add", name, "--quota", str(q), "--group", group)
        st["users"][name] = {"granted": q, "group": group}
    users = sorted(st["users"])
    for i in range(N_TOKENS):
        name = "t%02d" % i
        user = users[i % N_USERS]
        unlimited = i >= N_TOKENS - N_UNLIMITED
        args = ["token", "create", "--user", user, "--name", name]
        if unlimited:
            q = 0
            args.append("--unlimited")
        else:
            q = rnd.choice([300, 1500, 6000, 40000, 250000, 2 * 10 ** 6, 2 * 10 ** 7]) if i % 3 else rnd.randint(500, 5000)
            args += ["--quota", str(q)]
        key = gwctl(*args).stdout.strip()
        st["tokens"][name] = {"user": user, "key": key, "unlimited": unlimited, "granted": q}
    # rate limits: two hot tokens by requests per window, one user by tokens per window
    gwctl("limit", "set", "--token", "t00", "--rpm", "10")
    gwctl("limit", "set", "--token", "t01", "--rpm", "8", "--model", "m-cheap")
    gwctl("limit", "set", "--user", users[3], "--tpm", "8000")
    st["limited_by_rate"] = ["t00", "t01", users[3]]
    save_state(path, st)
    print("setup: seed %d, %d users, %d tokens (%d unlimited), %d models, 3 channels"
          % (seed, N_USERS, N_TOKENS, N_UNLIMITED, len(MODELS)))


# ------------------------------------------------------------------------------------ load

# kind: weight. Every kind sets mock behaviour the upstream honours; the usage it reports is honest:
# prompt_tokens at most PROMPT_PER_CHAR per byte of the messages' text (which is at least 40 bytes a
# message, so the mock's own count, 10 + messages, is within that too), completion_tokens at most
# max_tokens, or at most 16 when the request sets no max_tokens (relayd reserves
# preconsume_completion_tokens, 256, then). A stream that ends early is counted by relayd from its
# text: at most 150 words of 6 bytes under a max_tokens of 600 (long) or 200.
PROMPT_PER_CHAR = 0.5
KINDS = {
    "ok": 34,             # non-stream success
    "ok_stream": 22,      # stream success
    "up_4xx": 10,         # upstream answers 400/404/422: charged nothing
    "up_5xx": 8,          # upstream answers 500/502/503 on every channel tried: charged nothing
    "up_cut": 3,          # upstream ends the stream after a few chunks without [DONE]
    "client_gone": 6,     # client closes its socket after the first events of a stream
    "unpriced": 1,        # a model without a price: refused before billing
}
WORDS = "alpha beta gamma delta epsilon zeta theta kappa lambda sigma omega quota ledger audit".split()


def text(rnd, lo, hi):
    out = []
    n = rnd.randint(lo, hi)
    while sum(len(w) + 1 for w in out) < n:
        out.append(rnd.choice(WORDS) + str(rnd.randint(0, 999)))
    return " ".join(out)


def make_body(rnd, kind, long_stream=False):
    msgs = [{"role": rnd.choice(["user", "system", "assistant"]) if i else "user",
             "content": text(rnd, 40, 400)} for i in range(rnd.randint(1, 3))]
    msgs[-1]["role"] = "user"
    chars = sum(len(m["content"]) for m in msgs)
    model = UNPRICED if kind == "unpriced" else rnd.choice(list(MODELS))
    body = {"model": model, "messages": msgs}
    mock = {}
    has_max = rnd.random() < 0.7
    if has_max:
        mt = rnd.choice([8, 16, 64, 200, 600])
        if rnd.random() < 0.5:
            body["max_tokens"] = mt
        else:
            body["max_completion_tokens"] = mt
        cap = mt
    else:
        cap = 16
    if rnd.random() < 0.6:
        mock["prompt_tokens"] = rnd.randint(10 + len(msgs), max(10 + len(msgs), int(chars * PROMPT_PER_CHAR)))
    mock["completion_tokens"] = rnd.randint(1, cap)
    stream = kind in ("ok_stream", "up_cut", "client_gone") or (kind in ("up_4xx", "up_5xx")
                                                                 and rnd.random() < 0.3)
    if stream:
        body["stream"] = True
        if rnd.random() < 0.5:
            body["stream_options"] = {"include_usage": True}
        mock["chunks"] = rnd.randint(2, 6)
        mock["chunk_gap_ms"] = rnd.choice([0, 0, 1, 3])
    else:
        mock["chunks"] = rnd.randint(1, 6)
    if kind in ("up_cut", "client_gone") or long_stream:
        # relayd counts what was sent itself when a stream ends early: keep that under max_tokens
        # (each content word is "hello ", 6 characters, about 1.5 tokens counted locally)
        mt = 600 if long_stream else 200
        body.pop("max_completion_tokens", None)
        body["max_tokens"] = mt
        mock["completion_tokens"] = rnd.randint(1, 100)
    if kind == "up_4xx":
        mock["status"] = rnd.choice([400, 404, 422])
    elif kind == "up_5xx":
        mock["status"] = rnd.choice([500, 502, 503])
    elif kind == "up_cut":
        mock["chunks"] = 8
        mock["disconnect_after"] = rnd.randint(1, 5)
    elif kind == "client_gone":
        mock["chunks"] = 40
        mock["chunk_gap_ms"] = 15
    if long_stream:
        body["model"] = "m-cheap"       # any token with some quota left can hold one
        mock["chunks"] = 150
        mock["chunk_gap_ms"] = 40
    if not stream and rnd.random() < 0.3:
        mock["delay_ms"] = rnd.randint(1, 20)
    body["mock"] = mock
    return body


class Load:
    def __init__(self, st, port, seed, admin, phase):
        self.st, self.port, self.admin, self.phase = st, port, admin, phase
        self.rnd = random.Random(seed)
        self.lock = threading.Lock()
        self.inflight = {t: 0 for t in st["tokens"]}
        self.frozen = set()
        self.sent = 0
        self.outcomes = {}
        self.kinds = {}
        self.stop = threading.Event()
        self.gone = threading.Event()     # relayd stopped answering (drain, kill -9)
        self.errors = []
        names = sorted(st["tokens"])
        # a few hot tokens, so that successes and failures of one token share writer batches; the
        # tokens created with a tiny quota (every third) are hot less often
        self.weights = [(0.3 if i % 3 == 0 else 1.0) / (1 + i % 10) for i in range(len(names))]
        self.names = names
        # long streams (drain, kill -9) go to tokens that can pay for them
        self.rich = [t for t in names if st["tokens"][t]["unlimited"] or st["tokens"][t]["granted"] >= 40000]

    def pick_token(self, rnd, rich=False):
        with self.lock:
            for _ in range(20):
                t = rnd.choice(self.rich) if rich else rnd.choices(self.names, self.weights)[0]
                if t not in self.frozen:
                    self.inflight[t] += 1
                    return t
        return None

    def release(self, t):
        with self.lock:
            self.inflight[t] -= 1

    def count(self, kind, outcome):
        with self.lock:
            self.kinds[kind] = self.kinds.get(kind, 0) + 1
            self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1

    @staticmethod
    def classify(status, raw):
        if status == 200:
            return "200"
        code = ""
        try:
            d = json.loads(raw)
            e = d.get("error", d) if isinstance(d, dict) else {}
            code = (e.get("code") or e.get("type") or "") if isinstance(e, dict) else ""
        except ValueError:
            pass
        return "%d %s" % (status, code) if code else str(status)

    def one(self, rnd, conn, kind, long_stream=False):
        t = self.pick_token(rnd, rich=long_stream)
        if t is None:
            return conn, False
        try:
            body = make_body(rnd, kind, long_stream)
            data = json.dumps(body)
            hdr = {"Authorization": "Bearer " + self.st["tokens"][t]["key"],
                   "Content-Type": "application/json"}
            if kind == "client_gone":
                return conn, self.client_gone(data, hdr, kind)
            if conn is None:
                conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
            conn.request("POST", "/v1/chat/completions", data, hdr)
            r = conn.getresponse()
            if long_stream:
                return conn, self.long_read(r)
            rid = r.getheader("x-request-id")
            try:
                raw = r.read()
            except (OSError, http.client.HTTPException) as e:
                if not self.gone.is_set():
                    self.errors.append("%s %s (%s, token %s): answer cut or stalled: %r; body %s"
                                       % (kind, rid, r.status, t, e, json.dumps(body["mock"])))
                raise
            self.count(kind, self.classify(r.status, raw))
            if r.getheader("connection", "").lower() == "close":
                conn.close()
                conn = None
            return conn, True
        except (OSError, http.client.HTTPException):
            if conn is not None:
                conn.close()
            if long_stream:
                self.count("long_stream", "long cut")
            return None, False
        finally:
            self.release(t)

    def long_read(self, r):
        """a long stream: counted open (LONG_OPEN) from its first event until it ends"""
        opened = False
        try:
            while r.status == 200:
                line = r.readline()
                if not line:
                    break
                if line.startswith(b"data:") and not opened:
                    opened = True
                    with self.lock:
                        LONG_OPEN[0] += 1
            raw = r.read()
            self.count("long_stream", "long " + self.classify(r.status, raw))
            return True
        finally:
            if opened:
                with self.lock:
                    LONG_OPEN[0] -= 1

    def client_gone(self, data, hdr, kind):
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        try:
            req = ("POST /v1/chat/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n"
                   "Authorization: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n"
                   % (hdr["Authorization"], len(data.encode()))).encode() + data.encode()
            s.sendall(req)
            got = b""
            while got.count(b"data:") < 2 and len(got) < 65536:
                b = s.recv(4096)
                if not b:
                    break
                got += b
            status = got.split(b" ", 2)[1].decode() if got.startswith(b"HTTP/1.1 ") else "?"
            self.count(kind, "gone after events" if status == "200" and got.count(b"data:") >= 2
                       else "gone " + status)
            return True
        finally:
            s.close()

    def worker(self, idx, budget, seconds):
        rnd = random.Random(self.rnd.random() + idx)
        kinds, weights = list(KINDS), list(KINDS.values())
        conn = None
        t0 = time.time()
        while not self.stop.is_set():
            with self.lock:
                if self.sent >= budget:
                    return
                self.sent += 1
                ahead = self.sent * seconds / budget - (time.time() - t0)
            if ahead > 0:       # spread over --seconds, so that admin changes land all along
                time.sleep(ahead)
            conn, ok = self.one(rnd, conn, rnd.choices(kinds, weights)[0])
            if not ok:
                with self.lock:
                    self.sent -= 1
                if self.gone.is_set() or self.stop.is_set():
                    time.sleep(0.05)
                else:
                    time.sleep(0.01)

    def long_streams(self, idx, ready):
        rnd = random.Random(self.rnd.random() + 1000 + idx)
        while not self.stop.is_set():
            conn, ok = self.one(rnd, None, "ok_stream", long_stream=True)
            if conn:
                conn.close()
            if not ok:
                time.sleep(0.05)

    # --- admin changes during the load

    def freeze(self, t, timeout=10):
        with self.lock:
            self.frozen.add(t)
        end = time.time() + timeout
        while time.time() < end:
            with self.lock:
                if self.inflight[t] == 0:
                    return True
            time.sleep(0.02)
        return False

    def thaw(self, t):
        with self.lock:
            self.frozen.discard(t)

    def admin_loop(self, budget):
        rnd = random.Random(self.rnd.random() + 7)
        st = self.st
        limited = [t for t in sorted(st["tokens"]) if not st["tokens"][t]["unlimited"]]
        deck = []
        while not self.stop.is_set():
            time.sleep(rnd.uniform(0.03, 0.15))
            with self.lock:
                if self.sent >= budget:
                    return
            if not deck:        # every kind of change in each round, in random order
                deck = ["reload", "topup", "topup", "edit", "edit"]
                rnd.shuffle(deck)
            what = deck.pop()
            try:
                if what == "reload":
                    gwctl("reload")
                elif what == "topup":
                    u = rnd.choice(sorted(st["users"]))
                    a = rnd.choice([500, 5000, 50000])
                    gwctl("user", "topup", u, str(a))
                    st["users"][u]["granted"] += a
                else:
                    t = rnd.choice(limited[:12] if rnd.random() < 0.6 else limited)
                    q = rnd.choice([800, 3000, 20000, 300000])
                    self.freeze(t)
                    # relayd settles a client that just left at once (EPOLLRDHUP); waiting a
                    # little more keeps a lowered balance from meeting a charge still in flight
                    # (which would put it below 0 by the admin's doing, not relayd's).
                    # Exactness does not depend on it (edit_absolute).
                    time.sleep(0.2)
                    try:
                        used = edit_absolute("token", t, q)
                    finally:
                        self.thaw(t)
                    st["tokens"][t]["granted"] = q + used
                st["admin"][what] = st["admin"].get(what, 0) + 1
            except Exception as e:          # noqa: BLE001 -- reported, fails the run
                self.errors.append("admin %s: %s" % (what, e))
                return


def show(noun, name):
    d = json.loads(gwctl(noun, "show", name, "--json").stdout)
    return d[0] if isinstance(d, list) else d


def edit_absolute(noun, name, q, tries=50):
    """gwctl NOUN edit NAME --quota Q; returns used_quota at the moment of the edit (read before and
    after it: equal means no charge was committed in between, as used_quota only grows)."""
    for _ in range(tries):
        before = int(show(noun, name)["used_quota"])
        gwctl(noun, "edit", name, "--quota", str(q))
        after = int(show(noun, name)["used_quota"])
        if before == after:
            return before
        time.sleep(0.1)
    raise RuntimeError("%s %s: used_quota kept moving across %d edits" % (noun, name, tries))


def cmd_load(path, port, count, phase, admin, ready, streams, stopfile, seconds):
    st = load_state(path)
    seed = st["seed"] * 1000 + len(st["phases"])
    ld = Load(st, port, seed, admin, phase)
    threads = [threading.Thread(target=ld.worker, args=(i, count, seconds), daemon=True) for i in range(8)]
    if admin:
        threads.append(threading.Thread(target=ld.admin_loop, args=(count,), daemon=True))
    for i in range(streams):
        threads.append(threading.Thread(target=ld.long_streams, args=(i, None), daemon=True))
    t0 = time.time()
    for t in threads:
        t.start()
    if ready:
        # ready once the long streams are open and the load is well under way; then run until the
        # bats side has stopped or killed relayd and touched the stop file
        deadline = time.time() + 60
        while time.time() < deadline:
            with ld.lock:
                n = ld.sent
            if n >= 300 and LONG_OPEN[0] >= streams:
                break
            time.sleep(0.05)
        # from now on relayd goes away: cut answers and refused connections are expected
        ld.gone.set()
        with open(ready, "w") as f:
            f.write("%d\n" % n)
        while not os.path.exists(stopfile) and time.time() < deadline + 60:
            time.sleep(0.05)
        ld.stop.set()
    for t in threads:
        t.join(timeout=60)
    ld.stop.set()
    dt = time.time() - t0
    st["requests"] += ld.sent
    for k, v in ld.kinds.items():
        st["kinds"][k] = st["kinds"].get(k, 0) + v
    for k, v in ld.outcomes.items():
        st["outcomes"][k] = st["outcomes"].get(k, 0) + v
    st["phases"].append({"phase": phase, "requests": ld.sent, "seconds": round(dt, 1)})
    save_state(path, st)
    print("load %s: %d requests in %.1f s (%.0f/s), total %d; outcomes %s" % (
        phase, ld.sent, dt, ld.sent / dt if dt else 0, st["requests"], json.dumps(ld.outcomes, sort_keys=True)))
    if ld.errors:
        sys.exit("load %s: %s" % (phase, "; ".join(ld.errors)))




def cmd_offline(path):
    """relayd is stopped: the database holds every committed charge and nothing moves it."""
    st = load_state(path)
    rnd = random.Random(st["seed"] * 7 + len(st["phases"]))
    limited = [t for t in sorted(st["tokens"]) if not st["tokens"][t]["unlimited"]]
    for t in rnd.sample(limited, 4):
        q = rnd.choice([1000, 50000])
        st["tokens"][t]["granted"] = q + edit_absolute("token", t, q, tries=1)
    for u in rnd.sample(sorted(st["users"]), 2):
        q = rnd.choice([20000, 2 * 10 ** 6])
        st["users"][u]["granted"] = q + edit_absolute("user", u, q, tries=1)
    st["admin"]["offline_edit"] = st["admin"].get("offline_edit", 0) + 6
    save_state(path, st)
    print("offline: 4 token and 2 user balances set while relayd was stopped")


# ------------------------------------------------------------------------------------ check

def rows(d, name):
    out = []
    with open(os.path.join(d, name)) as f:
        for line in f:
            line = line.rstrip("\n")
            if line:
                out.append(line.split("\t"))
    return out


def cmd_check(path, d, crashed=False):
    st = load_state(path)
    bad = []
    tok_logs = {int(r[0]): int(r[1]) for r in rows(d, "token_logs")}
    usr_logs = {int(r[0]): int(r[1]) for r in rows(d, "user_logs")}
    ch_logs = {int(r[0]): int(r[1]) for r in rows(d, "channel_logs")}
    for tid, name, remain, used, unl in rows(d, "tokens"):
        tid, remain, used = int(tid), int(remain), int(used)
        t = st["tokens"].get(name)
        if t is None:
            bad.append("token %s (id %d) is not one the driver made" % (name, tid))
            continue
        logged = tok_logs.get(tid, 0)
        if used != logged:
            bad.append("I2 token %s (id %d): used_quota %d != sum of charged log rows %d (off by %+d)"
                       % (name, tid, used, logged, used - logged))
        if t["unlimited"]:
            if remain != 0:
                bad.append("I4 unlimited token %s (id %d): remain_quota %d, expected 0" % (name, tid, remain))
            continue
        if remain + used != t["granted"]:
            bad.append("I1 token %s (id %d): remain %d + used %d = %d != granted %d (off by %+d)"
                       % (name, tid, remain, used, remain + used, t["granted"], remain + used - t["granted"]))
        if remain < 0:
            bad.append("I3 token %s (id %d): remain_quota %d < 0 (granted %d, used %d)"
                       % (name, tid, remain, t["granted"], used))
    for uid, name, quota, used in rows(d, "users"):
        uid, quota, used = int(uid), int(quota), int(used)
        u = st["users"].get(name)
        if u is None:
            bad.append("user %s (id %d) is not one the driver made" % (name, uid))
            continue
        logged = usr_logs.get(uid, 0)
        if used != logged:
            bad.append("U2 user %s (id %d): used_quota %d != sum of charged log rows %d (off by %+d)"
                       % (name, uid, used, logged, used - logged))
        if quota + used != u["granted"]:
            bad.append("U1 user %s (id %d): quota %d + used %d = %d != granted %d (off by %+d)"
                       % (name, uid, quota, used, quota + used, u["granted"], quota + used - u["granted"]))
        if quota < 0:
            bad.append("U3 user %s (id %d): quota %d < 0 (granted %d, used %d)" % (name, uid, quota, u["granted"], used))
    for cid, name, used in rows(d, "channels"):
        cid, used = int(cid), int(used)
        if used != ch_logs.get(cid, 0):
            bad.append("C1 channel %s (id %d): used_quota %d != sum of charged log rows %d (off by %+d)"
                       % (name, cid, used, ch_logs.get(cid, 0), used - ch_logs.get(cid, 0)))
    for rid, n in rows(d, "dup_ids"):
        bad.append("R1 request_id %s: %s charged log rows" % (rid, n))
    for rid, q in [] if crashed else rows(d, "reservations"):
        bad.append("R2 reservation %s (quota %s) still open after a clean stop" % (rid, q))
    charged = rows(d, "summary")[0]
    print("ledger: seed %d, %d requests; %s charged log rows, %s charged in all; admin %s"
          % (st["seed"], st["requests"], charged[0], charged[1], json.dumps(st["admin"], sort_keys=True)))
    print("ledger: kinds %s" % json.dumps(st["kinds"], sort_keys=True))
    print("ledger: outcomes %s" % json.dumps(st["outcomes"], sort_keys=True))
    print("ledger: phases %s" % json.dumps(st["phases"]))
    if bad:
        print("ledger: %d invariant violations (replay: RELAY_LEDGER_SEED=%d):" % (len(bad), st["seed"]))
        for b in bad:
            print("  " + b)
        sys.exit(1)
    print("ledger: every invariant holds for %d tokens, %d users" % (len(st["tokens"]), len(st["users"])))


def main(argv):
    import argparse
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("setup")
    s.add_argument("state")
    s.add_argument("--seed", type=int, required=True)
    s.add_argument("--mock", required=True)
    s = sub.add_parser("load")
    s.add_argument("state")
    s.add_argument("--port", type=int, required=True)
    s.add_argument("--count", type=int, required=True)
    s.add_argument("--phase", default="load")
    s.add_argument("--admin", action="store_true")
    s.add_argument("--ready")
    s.add_argument("--streams", type=int, default=0)
    s.add_argument("--stop")
    s.add_argument("--seconds", type=float, default=0)
    s = sub.add_parser("offline")
    s.add_argument("state")
    s = sub.add_parser("check")
    s.add_argument("state")
    s.add_argument("dir")
    s.add_argument("--crashed", action="store_true", help="relayd was killed: reservations may be open (no R2)")
    a = p.parse_args(argv)
    if a.cmd == "setup":
        cmd_setup(a.state, a.seed, a.mock.split(","))
    elif a.cmd == "load":
        cmd_load(a.state, a.port, a.count, a.phase, a.admin, a.ready, a.streams, a.stop, a.seconds)
    elif a.cmd == "offline":
        cmd_offline(a.state)
    else:
        cmd_check(a.state, a.dir, a.crashed)


if __name__ == "__main__":
    main(sys.argv[1:])
