// An emulated ESP32 camera board for hwtest and `alpr bench firmware`.
//
//   node board.mjs [--serial PORT] [--control PORT] [--images DIR] [--log FILE]
//
// The serial port speaks MicroPython's REPL on TCP, so `mpremote connect socket://127.0.0.1:PORT`
// drives it like a USB board; opening it while the board sleeps resets the board (as the auto-reset
// circuit of an ESP32-CAM-MB does). The control port takes one JSON object per line and answers one:
// the test's hand on the trigger, the ADC pins, the Wi-Fi access point and the power switch.
// Each boot is a fresh interpreter in a fresh worker thread; flash and RTC memory live here.
import { Worker } from "node:worker_threads";
import net from "node:net";
import { readdirSync, readFileSync, appendFileSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";

const here = dirname(fileURLToPath(import.meta.url));
const argv = process.argv.slice(2);
const opt = (name, dflt) => { const i = argv.indexOf(name); return i >= 0 ? argv[i + 1] : dflt; };

// Reset causes and wake reasons as MicroPython's esp32 port numbers them.
const PWRON_RESET = 1, HARD_RESET = 2, WDT_RESET = 3, DEEPSLEEP_RESET = 4, SOFT_RESET = 5;
const EXT0_WAKE = 2, EXT1_WAKE = 3, TIMER_WAKE = 4;

const board = {
  files: {}, rtc: "", adc: {}, pins: {}, wifi: "up", rssi: -62, images: opt("--images", ""),
  imageIndex: 0, asleep: false, sleepMs: null, wakeCfg: {}, boots: 0, sleeps: 0, wdtResets: 0,
  lastCause: null, lastWake: null, timeSet: null, awakeSince: 0, awakeMs: [], cut: null, powerCuts: 0,
  off: false, cutPath: null, clockOffsetS: 0,
};
const logFile = opt("--log", "");
const ring = new SharedArrayBuffer(8 + (1 << 20));
const ringHead = new Int32Array(ring, 0, 2);
const ringData = new Uint8Array(ring, 8);
let pending = [];
let worker = null, rpcBuf = null, wakeTimer = null, wdt = null, serialClient = null;
let rawMode = false;
const sockets = new Map();
let nextSocket = 1;

function emit(bytes) {
  if (serialClient) serialClient.write(bytes);
  if (logFile) appendFileSync(logFile, bytes);
}

function pushInput(bytes) {
  for (const b of bytes) {
    if (b === 1) rawMode = true;
    if (b === 2) rawMode = false;
    pending.push(b);
  }
  flushInput();
}
function flushInput() {
  const w = Atomics.load(ringHead, 0), r = Atomics.load(ringHead, 1);
  const n = Math.min(pending.length, ringData.length - (w - r));
  for (let i = 0; i < n; i++) ringData[(w + i) % ringData.length] = pending[i];
  pending = pending.slice(n);
  Atomics.store(ringHead, 0, w + n);
  Atomics.notify(ringHead, 0);
  if (pending.length) setTimeout(flushInput, 5);
}

function answer(obj) {
  const data = new TextEncoder().encode(JSON.stringify(obj));
  const ctl = new Int32Array(rpcBuf, 0, 2);
  new Uint8Array(rpcBuf, 8).set(data);
  ctl[1] = data.length;
  Atomics.store(ctl, 0, 1);
  Atomics.notify(ctl, 0);
}

function boot(cause, wake = null, mode = "friendly") {
  clearTimeout(wakeTimer);
  if (worker) { const old = worker; worker = null; old.terminate(); }
  for (const s of sockets.values()) s.sock.destroy();
  sockets.clear();
  board.asleep = false; board.off = false; board.boots += 1; board.lastCause = cause; board.lastWake = wake;
  board.awakeSince = Date.now(); wdt = null;
  rpcBuf = new SharedArrayBuffer(8 + (8 << 20));
  const w = new Worker(join(here, "worker.mjs"), {
    workerData: { ring, rpcBuf, files: board.files, mode, cause, wake, heapsize: 4 << 20, cut: board.cut },
  });
  worker = w;
  w.on("message", (m) => { if (worker === w) onMessage(m); });
  w.on("error", (e) => {
    // an emulator fault, not a firmware one: stop, and say so, rather than boot-loop
    if (worker !== w) return;
    emit(`\r\nemulator: board stopped: ${e}\r\n`);
    worker = null; board.asleep = true; board.sleepMs = 0; board.wakeCfg = {}; board.crashed = String(e);
  });
}

function sleep(ms) {
  board.asleep = true; board.sleeps += 1; board.sleepMs = ms;
  board.awakeMs.push(Date.now() - board.awakeSince);
  if (board.awakeMs.length > 1000) board.awakeMs.shift();
  wdt = null;
  if (ms > 0) wakeTimer = setTimeout(() => wakeUp(TIMER_WAKE), ms);
}

function wakeUp(reason) {
  if (!board.asleep) return false;
  if (reason === TIMER_WAKE && !(board.sleepMs > 0)) return false;
  if (reason !== TIMER_WAKE) {
    const cfg = board.wakeCfg;
    if (cfg.ext0) reason = EXT0_WAKE; else if (cfg.ext1) reason = EXT1_WAKE; else return false;
  }
  boot(DEEPSLEEP_RESET, reason);
  return true;
}

function onMessage(m) {
  if (m.out) emit(Buffer.from(m.out));
  if (m.files) board.files = m.files;
  if ("end" in m) {
    const end = m.end;
    if (end && end.op === "power_cut") {
      // the board lost power mid-write: RTC memory is gone, nothing runs until power_cycle
      const dead = worker; worker = null; if (dead) dead.terminate();
      emit(`\r\nemulator: power cut while writing ${end.path}\r\n`);
      board.rtc = ""; board.cut = null; board.powerCuts += 1; board.cutPath = end.path; wdt = null;
      board.asleep = true; board.off = true; board.sleepMs = 0; board.wakeCfg = {};
      return;
    }
    worker = null;
    if (!end) { boot(HARD_RESET); return; } // main.py and the REPL returned: cannot happen on a board
    if (end.op === "deepsleep") {
      board.wakeCfg = end.arg.wake || {};
      sleep(end.arg.ms || 0);
    } else if (end.op === "soft") boot(SOFT_RESET, null, rawMode ? "raw" : "friendly");
    else { rawMode = false; boot(HARD_RESET); }
  }
  if (m.rpc) rpc(m.rpc, m.arg ? JSON.parse(m.arg) : {});
}

function rpc(op, a) {
  switch (op) {
    case "deepsleep": case "reset": return answer({});
    case "idle": setTimeout(() => answer({}), Math.min(a.ms ?? 1, 100)); return;
    case "adc": return answer({ v: board.adc[String(a.pin)] ?? 0 });
    case "pin": return answer({ v: board.pins[String(a.pin)] ?? 0 });
    case "wdt": wdt = { timeout: a.timeout, deadline: Date.now() + a.timeout }; return answer({});
    case "feed": if (wdt) wdt.deadline = Date.now() + wdt.timeout; return answer({});
    case "rtc_get": return answer({ mem: board.rtc });
    case "rtc_set": board.rtc = a.mem; return answer({});
    case "time_set":
      // the RTC keeps the time it was set to across deep sleep: as an offset from the host clock
      board.timeSet = a.t;
      if (typeof a.unix === "number") board.clockOffsetS = a.unix - Date.now() / 1000;
      return answer({});
    case "clock": return answer({ offset: board.clockOffsetS });
    case "wifi": return answer({ state: board.wifi, rssi: board.rssi });
    case "frame": {
      const names = board.images ? readdirSync(board.images).filter((n) => /\.jpe?g$/i.test(n)).sort() : [];
      if (!names.length) return answer({ error: "no JPEGs in the emulator's image folder" });
      const data = readFileSync(join(board.images, names[board.imageIndex++ % names.length]));
      return answer({ jpeg: data.toString("hex") });
    }
    case "sconnect": {
      if (board.wifi !== "up") return answer({ errno: 113 });
      const sock = net.connect({ host: a.host, port: a.port });
      const id = nextSocket++;
      const s = { sock, buf: [], ended: false, waiter: null };
      let done = false;
      const timer = setTimeout(() => { if (!done) { done = true; sock.destroy(); answer({ errno: 110 }); } }, a.timeout || 10000);
      sock.on("connect", () => { if (!done) { done = true; clearTimeout(timer); sockets.set(id, s); answer({ id }); } });
      sock.on("error", (e) => {
        s.ended = true;
        if (!done) { done = true; clearTimeout(timer); answer({ errno: e.code === "ECONNREFUSED" ? 111 : 104 }); }
        if (s.waiter) s.waiter();
      });
      sock.on("data", (d) => { s.buf.push(d); if (s.waiter) s.waiter(); });
      sock.on("end", () => { s.ended = true; if (s.waiter) s.waiter(); });
      sock.on("close", () => { s.ended = true; if (s.waiter) s.waiter(); });
      return;
    }
    case "ssend": {
      const s = sockets.get(a.id);
      if (!s || s.ended || board.wifi !== "up") return answer({ errno: 104 });
      const data = Buffer.from(a.data, "hex");
      s.sock.write(data);
      return answer({ n: data.length });
    }
    case "srecv": {
      const s = sockets.get(a.id);
      if (!s) return answer({ errno: 9 });
      const give = () => {
        s.waiter = null;
        const all = Buffer.concat(s.buf);
        const part = all.subarray(0, a.n);
        s.buf = all.length > a.n ? [all.subarray(a.n)] : [];
        answer({ data: part.toString("hex") });
      };
      if (s.buf.length || s.ended) return give();
      const timer = setTimeout(() => { s.waiter = null; answer({ errno: 110 }); }, a.timeout || 10000);
      s.waiter = () => { clearTimeout(timer); give(); };
      return;
    }
    case "sclose": { const s = sockets.get(a.id); if (s) s.sock.destroy(); sockets.delete(a.id); return answer({}); }
    default: return answer({ error: `unknown op ${op}` });
  }
}

setInterval(() => {
  if (worker && wdt && Date.now() > wdt.deadline) {
    emit("\r\nemulator: watchdog reset\r\n");
    board.wdtResets += 1;
    rawMode = false;
    boot(WDT_RESET);
  }
}, 50).unref();

function state() {
  const { files, rtc, awakeMs, ...rest } = board;
  return { ...rest, files: Object.keys(files), awake: worker !== null, rtcBytes: Buffer.from(rtc, "hex").length, awakeMs: awakeMs.slice(-50) };
}

async function control(req) {
  switch (req.op) {
    case "state": return state();
    case "set":
      for (const key of ["wifi", "images", "rssi"]) if (key in req) board[key] = req[key];
      // a wrong RTC, as a board set by hand or to local time has: seconds ahead (+) or behind (-)
      if ("clock_offset_s" in req) board.clockOffsetS = Number(req.clock_offset_s);
      Object.assign(board.adc, req.adc || {});
      Object.assign(board.pins, req.pins || {});
      return state();
    case "trigger": return { woke: wakeUp(EXT0_WAKE) };
    case "timer": return { woke: wakeUp(TIMER_WAKE) };
    case "power_cut":
      // arm: the next write(s) to a flash file whose path contains req.path die after req.after bytes
      board.cut = { path: req.path ?? "", after: req.after ?? 0 };
      return state();
    case "power_cycle":
      board.rtc = ""; rawMode = false;
      if (req.erase) board.files = {};
      boot(PWRON_RESET);
      return state();
    case "wait_asleep": {
      const deadline = Date.now() + (req.timeout ?? 30) * 1000;
      while (!board.asleep && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      return state();
    }
    default: return { error: `unknown op ${req.op}` };
  }
}

const serial = net.createServer((c) => {
  if (serialClient) serialClient.destroy();
  serialClient = c;
  c.setNoDelay(true);
  if (board.asleep) boot(HARD_RESET); // opening the port pulls EN through DTR/RTS
  c.on("data", (d) => pushInput(d));
  c.on("error", () => {});
  c.on("close", () => { if (serialClient === c) serialClient = null; });
});
const ctl = net.createServer((c) => {
  let buf = "";
  c.on("data", async (d) => {
    buf += d.toString();
    let i;
    while ((i = buf.indexOf("\n")) >= 0) {
      const line = buf.slice(0, i); buf = buf.slice(i + 1);
      let reply;
      try { reply = await control(JSON.parse(line)); } catch (e) { reply = { error: String(e) }; }
      c.write(JSON.stringify(reply) + "\n");
    }
  });
  c.on("error", () => {});
});

const listen = (srv, port) => new Promise((res) => srv.listen(port, "127.0.0.1", () => res(srv.address().port)));
const sp = await listen(serial, Number(opt("--serial", "0")));
const cp = await listen(ctl, Number(opt("--control", "0")));
process.stdout.write(`READY serial=${sp} control=${cp}\n`);
boot(PWRON_RESET);
