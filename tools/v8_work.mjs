// A path's own work timed in V8 itself, without Envoy: the built filter and the path's twin
// (`tools/noop-filter` replaying the host calls `make bench` recorded under target/twins/)
// each hosted by this script in Node's V8, the host calls answered at once, the two timed in
// alternating rounds of many requests. Filter − twin is the filter's logic in V8, with none of
// Envoy's work around it and none of the scheduling two loaded proxies share.
//
//   make bench-v8                        (mints, builds and records what it needs, then this)
//   node tools/v8_work.mjs [path …]      (paths: public, repeated-HS256, … as in target/twins/)
//
// `ROUNDS`, `PER_ROUND`: how long. `TWINS=<dir>`: the recordings and their scenarios.json
// (default target/twins/, where `make bench`, `bench-row` and `bench-v8` leave them).
// `FILTER=<.wasm>`: another build than the release one; `AGAINST=<.wasm>`: a second build of
// the filter in the twin's place, to compare two builds; `FILTER_CONFIG`, `AGAINST_CONFIG`:
// their configurations instead of the path's (JSON, e.g. `tools/noop-filter`'s synthetic code,
// or `@path`: a file's text, e.g. a twin's recording with `FILTER` the empty filter: the control).
// `CODE_EVICT=<n>`: n other functions run after each request (below). `LOG_LEVEL=<n>`: the
// filter's log lines from that level up (proxy-wasm's: 2 info, 3 warn, the default).
// `HOST_WORK=1`: each `verify_signature` after configuration also checks a real RSA-2048
// signature with Node's crypto, for filter and twin alike, as Envoy's host does between the
// filter's code before the call and after it (the host's work evicts the filter's from the caches).
// `AWAY=<µs>,<µs>,…`: at each `verify_signature` after configuration the host keeps the core
// that long, for filter and twin alike, in a loop of arithmetic that touches no memory (as long
// as Envoy's check of that algorithm's signature, without its work); each round runs every
// length, and the table gives own work at each and its difference from the first length's, round
// by round: what the filter's code after the call pays for the time alone.
import { readFileSync, readdirSync } from "node:fs";
import { createPublicKey, generateKeyPairSync, randomFillSync, sign, verify } from "node:crypto";

const ROOT = new URL("..", import.meta.url).pathname;
const FILTER = process.env.FILTER ?? ROOT + "target/wasm32-wasip1/release/oauth_filter.wasm";
const TWIN = ROOT + "target/noop/wasm32-wasip1/release/noop_filter.wasm";
const TWINS = process.env.TWINS ? process.env.TWINS.replace(/\/?$/, "/") : ROOT + "target/twins/";
const enc = new TextEncoder();
const dec = new TextDecoder();
const LOG_LEVEL = Number(process.env.LOG_LEVEL ?? 3);

/** One VM: the module, its memory, and a host that answers every call at once. */
class Vm {
  constructor(file, config, headers) {
    this.headers = headers;
    this.config = enc.encode(config);
    this.metrics = 0;
    this.replaced = 0;
    this.answered = 0;
    const module = new WebAssembly.Module(readFileSync(file));
    const env = {}, wasi = {};
    for (const i of WebAssembly.Module.imports(module)) {
      if (i.kind !== "function") continue;
      (i.module === "env" ? env : wasi)[i.name] = () => 0;
    }
    Object.assign(env, this.env());
    Object.assign(wasi, this.wasi());
    this.x = new WebAssembly.Instance(module, { env, wasi_snapshot_preview1: wasi }).exports;
    this.x._initialize?.();
    this.x.proxy_on_context_create(1, 0);
    this.x.proxy_on_vm_start(1, 0);
    if (!this.x.proxy_on_configure(1, this.config.length)) throw new Error(`${file}: configuration refused`);
    this.ready = true;
    this.next = 2;
  }

  view() {
    return new DataView(this.x.memory.buffer);
  }

  /** `bytes` copied into the VM's memory (its allocator), its address and size written out. */
  give(bytes, dataPtr, sizePtr) {
    const at = this.x.malloc ? this.x.malloc(bytes.length) : this.x.proxy_on_memory_allocate(bytes.length);
    new Uint8Array(this.x.memory.buffer, at, bytes.length).set(bytes);
    const v = this.view();
    v.setUint32(dataPtr, at, true);
    v.setUint32(sizePtr, bytes.length, true);
    return 0;
  }

  env() {
    const vm = this;
    return {
      proxy_get_buffer_bytes(kind, start, max, dataPtr, sizePtr) {
        return kind === 7 ? vm.give(vm.config.subarray(start, start + (max >>> 0)), dataPtr, sizePtr) : 1;
      },
      proxy_get_header_map_pairs(map, dataPtr, sizePtr) {
        return vm.give(map === 0 ? vm.headers[vm.next % vm.headers.length] : pairs([[":status", "200"]]), dataPtr, sizePtr);
      },
      proxy_get_header_map_value(map, k, ks, dataPtr, sizePtr) {
        return map === 2 ? vm.give(enc.encode("200"), dataPtr, sizePtr) : 1;
      },
      proxy_get_current_time_nanoseconds(ptr) {
        vm.view().setBigUint64(ptr, BigInt(Date.now()) * 1000000n, true);
        return 0;
      },
      proxy_define_metric(kind, name, len, idPtr) {
        vm.view().setUint32(idPtr, ++vm.metrics, true);
        return 0;
      },
      proxy_register_shared_queue(name, len, idPtr) {
        vm.view().setUint32(idPtr, 1, true);
        return 0;
      },
      proxy_replace_header_map_value() {
        vm.replaced++;
        return 0;
      },
      proxy_send_local_response() {
        vm.answered++;
        return 0;
      },
      proxy_get_property: () => 1,
      proxy_call_foreign_function(name, nameSize, args, argsSize, dataPtr, sizePtr) {
        const called = dec.decode(new Uint8Array(vm.x.memory.buffer, name, nameSize));
        if (called !== "verify_signature") return 1;
        // While configuring, the filter's probe asks for known good and bad signatures:
        // checked for real (Node's crypto), so the algorithms Envoy checks are the host's here
        // too. Afterwards every signature is answered good at once: the host's work is not
        // the filter's, and the twin's recorded arguments are no real signature.
        const good = vm.ready || verifies(new Uint8Array(vm.x.memory.buffer, args, argsSize).slice());
        if (vm.ready && hostWork && !verify("sha256", hostWork.text, hostWork.key, hostWork.signature)) return 1;
        if (vm.ready && away.iterations) awaySink += spin(away.iterations);
        return vm.give(new Uint8Array([8, good ? 1 : 0]), dataPtr, sizePtr);
      },
      proxy_get_shared_data: () => 1,
      proxy_log(level, ptr, len) {
        if (level >= LOG_LEVEL) process.stderr.write(dec.decode(new Uint8Array(vm.x.memory.buffer, ptr, len)) + "\n");
        return 0;
      },
    };
  }

  wasi() {
    const vm = this;
    return {
      random_get(ptr, len) {
        randomFillSync(new Uint8Array(vm.x.memory.buffer, ptr, len));
        return 0;
      },
      clock_time_get(id, precision, ptr) {
        vm.view().setBigUint64(ptr, process.hrtime.bigint(), true);
        return 0;
      },
      environ_sizes_get(countPtr, sizePtr) {
        vm.view().setUint32(countPtr, 0, true);
        vm.view().setUint32(sizePtr, 0, true);
        return 0;
      },
      fd_write(fd, iovs, n, writtenPtr) {
        vm.view().setUint32(writtenPtr, 0, true);
        return 0;
      },
      proc_exit(code) {
        throw new Error(`proc_exit ${code}`);
      },
    };
  }

  /** One request through every callback Envoy makes for a request answered by its route. */
  request() {
    const id = this.next++;
    const x = this.x;
    x.proxy_on_context_create(id, 1);
    const action = x.proxy_on_request_headers(id, 7, 1);
    x.proxy_on_response_headers(id, 1, 1);
    x.proxy_on_log(id);
    x.proxy_on_done(id);
    x.proxy_on_delete(id);
    return action;
  }
}

// `HOST_WORK=1`: a key and a signature for the host's work at each `verify_signature`.
const hostWork = process.env.HOST_WORK === "1" ? (() => {
  const { publicKey, privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const text = randomFillSync(Buffer.alloc(400));
  return { key: publicKey, text, signature: sign("sha256", text, privateKey) };
})() : null;

// `AWAY`: the lengths, and the loop's iterations for the one the current round runs.
const away = { lengths: (process.env.AWAY ?? "").split(",").filter(Boolean).map(Number), iterations: 0, perMicro: 0 };
let awaySink = 0;
function spin(n) {
  let x = 1;
  for (let i = 0; i < n; i++) x = (Math.imul(x, 1103515245) + 12345) | 0;
  return x;
}
if (away.lengths.length) {
  for (let i = 0; i < 50; i++) awaySink += spin(100000);
  const n = 20000000, t0 = process.hrtime.bigint();
  awaySink += spin(n);
  away.perMicro = n / (Number(process.hrtime.bigint() - t0) / 1000);
}

/** Envoy's `verify_signature` on its protobuf arguments (hash_function=1, public_key=2 as
 * DER, signature=3, text=4; the filter's `crypto::proto`), with Node's crypto. */
function verifies(message) {
  const fields = {};
  let at = 0;
  const varint = () => {
    let v = 0;
    for (let shift = 0; ; shift += 7) {
      const b = message[at++];
      v += (b & 0x7f) * 2 ** shift;
      if (!(b & 0x80)) return v;
    }
  };
  while (at < message.length) {
    const field = varint() >> 3, size = varint();
    fields[field] = message.subarray(at, at + size);
    at += size;
  }
  try {
    const key = createPublicKey({ key: Buffer.from(fields[2]), format: "der", type: "spki" });
    const hash = dec.decode(fields[1]);
    return verify(hash, fields[4], key.asymmetricKeyType === "ec" ? { key, dsaEncoding: "der" } : key, fields[3]);
  } catch {
    return false;
  }
}

/** A header map as the ABI serializes it: count, each pair's sizes, then each name and value
 * with a NUL after it. */
function pairs(list) {
  const parts = list.map(([k, v]) => [enc.encode(k), enc.encode(v)]);
  const size = 4 + parts.length * 8 + parts.reduce((n, [k, v]) => n + k.length + v.length + 2, 0);
  const out = new Uint8Array(size);
  const v = new DataView(out.buffer);
  v.setUint32(0, parts.length, true);
  let at = 4;
  for (const [k, val] of parts) {
    v.setUint32(at, k.length, true);
    v.setUint32(at + 4, val.length, true);
    at += 8;
  }
  for (const [k, val] of parts) {
    out.set(k, at);
    at += k.length + 1;
    out.set(val, at);
    at += val.length + 1;
  }
  return out;
}

/** The request `wrk` sends, as Envoy hands it to a filter. */
function requestHeaders(token) {
  const list = [[":authority", "127.0.0.1:10000"], [":path", "/"], [":method", "GET"], [":scheme", "http"]];
  if (token) list.push(["authorization", `Bearer ${token}`]);
  list.push(["x-forwarded-proto", "http"], ["x-request-id", "5f0c2e8a-1b7e-4c1f-9a43-2d6b8e0f7c11"]);
  return pairs(list);
}

function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)];
}

// `CODE_EVICT=<n>`: after each request, also run n other functions of about 40 operators
// each (a module made here), as Envoy's own code between two requests evicts the filter's
// code from the instruction caches.
let evictCode = null;
if (Number(process.env.CODE_EVICT ?? 0) > 0) {
  const n = Number(process.env.CODE_EVICT);
  let wat = "(module\n";
  for (let k = 0; k < n; k++) {
    let body = "local.get 0\n";
    for (let j = 0; j < 10; j++) body += `i32.const ${(k * 7919 + j * 104729) & 0xffff}\ni32.add\ni32.const ${(k * 31 + j) & 31}\ni32.rotl\n`;
    wat += `(func $f${k} (param i32) (result i32)\n${body})\n`;
  }
  wat += "(func (export \"run\") (param i32) (result i32)\nlocal.get 0\n";
  for (let k = 0; k < n; k++) wat += `call $f${k}\n`;
  wat += "))\n";
  const { writeFileSync, mkdtempSync } = await import("node:fs");
  const { execFileSync } = await import("node:child_process");
  const dir = mkdtempSync("/tmp/v8-work-");
  writeFileSync(dir + "/bank.wat", wat);
  execFileSync(ROOT + "tools/binaryen/node_modules/.bin/wasm-as", [dir + "/bank.wat", "-o", dir + "/bank.wasm"]);
  evictCode = new WebAssembly.Instance(new WebAssembly.Module(readFileSync(dir + "/bank.wasm"))).exports.run;
}
let codeSum = 0;

/** A `FILTER_CONFIG` or `AGAINST_CONFIG`: as given, or `@path`: that file's text (a twin's
 * recording, too long for the environment). */
function configOf(value) {
  return value?.startsWith("@") ? readFileSync(value.slice(1), "utf8") : value;
}

/** `AWAY`: each round runs every length (in turn reversed), filter and twin at each. */
function awayTable(name, filter, twin) {
  const each = away.lengths.map(() => ({ filter: [], twin: [] }));
  for (let r = 0; r < ROUNDS; r++) {
    const order = away.lengths.map((_, i) => i);
    for (const l of r % 2 ? order.reverse() : order) {
      away.iterations = Math.round(away.lengths[l] * away.perMicro);
      add(each[l], round(r, filter, twin));
    }
  }
  away.iterations = 0;
  const own = each.map(ownOf);
  away.lengths.forEach((us, l) => {
    const less = l ? spread(own[l].map((x, i) => x - own[0][i])) : "";
    console.log(`| ${name}, host away ${us} µs | ${f1(median(each[l].filter))} | ${f1(median(each[l].twin))} | ${spread(own[l])} | ${less} |`);
  });
}

/** Round `r`: the filter and its twin each run PER_ROUND requests, which one first alternating
 * from round to round; ns per request of each. */
function round(r, filter, twin) {
  const t = {};
  for (const [k, vm] of r % 2 ? [["twin", twin], ["filter", filter]] : [["filter", filter], ["twin", twin]]) {
    const t0 = process.hrtime.bigint();
    if (evictCode) for (let i = 0; i < PER_ROUND; i++) vm.request(), (codeSum += evictCode(i));
    else for (let i = 0; i < PER_ROUND; i++) vm.request();
    t[k] = Number(process.hrtime.bigint() - t0) / PER_ROUND;
  }
  return t;
}

/** Filter and twin times of one more round, kept round by round ({ filter: [], twin: [] }). */
function add(times, t) {
  times.filter.push(t.filter);
  times.twin.push(t.twin);
}

/** Own work round by round: filter − twin. */
const ownOf = (times) => times.filter.map((f, i) => f - times.twin[i]);

const f1 = (x) => x.toFixed(0);
/** Median [min–max] in whole ns. */
const spread = (xs) => `${f1(median(xs))} [${f1(Math.min(...xs))}–${f1(Math.max(...xs))}]`;

const ROUNDS = Number(process.env.ROUNDS ?? 15), PER_ROUND = Number(process.env.PER_ROUND ?? 20000);
const scenarios = JSON.parse(readFileSync(TWINS + "scenarios.json", "utf8")).scenarios;
const wanted = process.argv.slice(2).length ? process.argv.slice(2) : ["public", "repeated-HS256"];
if (away.lengths.length) {
  console.log(`| path | filter ns/request | twin ns/request | own ns (filter − twin), median [min–max] of ${ROUNDS} rounds | own − own at ${away.lengths[0]} µs, round by round |`);
  console.log("| --- | --- | --- | --- | --- |");
} else {
  console.log(`| path | filter ns/request | twin ns/request | own ns (filter − twin), median [min–max] of ${ROUNDS} rounds |`);
  console.log("| --- | --- | --- | --- |");
}
for (const name of wanted) {
  const s = scenarios.find((s) => s.name === name);
  if (!s) throw new Error(`no scenario ${name} in ${TWINS}scenarios.json`);
  // A first-seen path cycles through its distinct tokens (EdDSA's signatures are checked
  // in the filter, the others' by the host's `verify_signature`, answered at once here).
  // Its 4000 tokens kept under build/ by `make bench`, more than the caches hold.
  const alg = name.split("-").pop();
  const kept = s.variants && readdirSync(ROOT + "build/bench-tokens").find((f) => f.startsWith(`${alg}-4000-`));
  if (s.variants && !kept) throw new Error(`${name}: no ${alg}-4000-*.json under build/bench-tokens (make bench-v8 mints them)`);
  const tokens = kept ? JSON.parse(readFileSync(ROOT + "build/bench-tokens/" + kept, "utf8")).fresh : [s.token];
  const headers = tokens.map(requestHeaders);
  const filter = new Vm(FILTER, configOf(process.env.FILTER_CONFIG) ?? JSON.stringify(s.config), headers);
  // `AGAINST=<.wasm>`: another build of the filter in the twin's place (two builds compared).
  const twin = process.env.AGAINST
    ? new Vm(process.env.AGAINST, configOf(process.env.AGAINST_CONFIG) ?? JSON.stringify(s.config), headers)
    : new Vm(TWIN, readFileSync(TWINS + name + ".twin", "utf8"), headers);
  for (const vm of [filter, twin]) {
    for (let i = 0; i < PER_ROUND * 2; i++) vm.request();
    vm.replaced = vm.answered = 0;
    if (vm.request() !== 0 || vm.answered) throw new Error(`${name}: a request was not let through`);
  }
  if (filter.replaced !== twin.replaced) throw new Error(`${name}: the filter set ${filter.replaced} headers, its twin ${twin.replaced}`);
  if (away.lengths.length) {
    awayTable(name, filter, twin);
    continue;
  }
  const times = { filter: [], twin: [] };
  for (let r = 0; r < ROUNDS; r++) {
    add(times, round(r, filter, twin));
  }
  const own = ownOf(times);
  console.log(`| ${name} | ${f1(median(times.filter))} | ${f1(median(times.twin))} | ${spread(own)} |`);
}
