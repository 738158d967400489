// One emulated ESP32 boot: one MicroPython interpreter in this worker thread (a second interpreter in
// the same JS context breaks the first). The board's flash lives in the main thread between boots;
// serial input arrives through a SharedArrayBuffer ring so that Ctrl-C reaches running firmware.
import { parentPort, workerData } from "node:worker_threads";
import { readFileSync, readdirSync } from "node:fs";
import { join, dirname } from "node:path";
import { fileURLToPath } from "node:url";
import { loadMicroPython } from "@micropython/micropython-webassembly-pyscript";

const here = dirname(fileURLToPath(import.meta.url));
const { ring, rpcBuf, files, mode, cause, wake, heapsize, cut } = workerData;
const ringHead = new Int32Array(ring, 0, 2); // [write index, read index], monotonically growing
const ringData = new Uint8Array(ring, 8);
const rpcCtl = new Int32Array(rpcBuf, 0, 2); // [state 0 idle / 1 answered, answer length]
const rpcData = new Uint8Array(rpcBuf, 8);
const FLASH = "/flash";

// Emscripten's errno numbers are not Linux's (ENOENT is 44), and Emscripten itself compares them, so
// they are mapped where they leave the board: in "OSError: 44" on the console, which mpremote parses.
const ERRNO = { 2: 13, 8: 9, 10: 16, 20: 17, 28: 22, 29: 5, 31: 21, 33: 24, 43: 19, 44: 2,
  51: 28, 54: 20, 55: 39, 63: 1, 69: 30, 70: 29, 75: 18, 6: 11 };

let out = [];
const ERRNO_NAME = { 1: "EPERM", 2: "ENOENT", 5: "EIO", 9: "EBADF", 11: "EAGAIN", 13: "EACCES",
  16: "EBUSY", 17: "EEXIST", 18: "EXDEV", 19: "ENODEV", 20: "ENOTDIR", 21: "EISDIR", 22: "EINVAL",
  24: "EMFILE", 28: "ENOSPC", 29: "ESPIPE", 30: "EROFS", 39: "ENOTEMPTY" };
function flushOut() {
  if (!out.length) return;
  let bytes = Uint8Array.from(out);
  out = [];
  const text = Buffer.from(bytes).toString("latin1");
  if (text.includes("OSError: ")) {
    const mapped = text.replace(/OSError: (\d+)(?=\r?\n)/g, (m, n) => {
      const e = ERRNO[Number(n)];
      return e ? `OSError: [Errno ${e}] ${ERRNO_NAME[e] ?? ""}`.trimEnd() : m;
    });
    bytes = Buffer.from(mapped, "latin1");
  }
  parentPort.postMessage({ out: bytes });
}
let quiet = false;
const mp = await loadMicroPython({
  heapsize, linebuffer: false, pystack: 4096,
  stdout: (b) => { if (!quiet) { out.push(b[0]); if (out.length > 4096) flushOut(); } },
  stderr: (b) => { if (!quiet) { out.push(b[0]); } },
});
const FS = mp.FS;
const stat = FS.stat.bind(FS);
FS.stat = (p, ...rest) => stat(p === "" ? FS.cwd() : p, ...rest); // os.stat('') is the cwd

// The flash, as the last boot left it.
FS.mkdir(FLASH);
for (const [path, data] of Object.entries(files)) {
  const full = FLASH + path;
  const parts = full.split("/").slice(1, -1);
  let dir = "";
  for (const p of parts) { dir += "/" + p; try { FS.mkdir(dir); } catch { /* exists */ } }
  if (data === null) { try { FS.mkdir(full); } catch { /* exists */ } } else FS.writeFile(full, data);
}
// Flash writes last as they happen, as on the chip: after each change (a written file closed, a
// rename, a removal) the main thread gets the flash, so that a watchdog reset keeps what was written
// before it.
const onFlash = (p) => typeof p === "string" && (p.startsWith(FLASH + "/") || (!p.startsWith("/") && FS.cwd().startsWith(FLASH)));
for (const name of ["rename", "unlink", "mkdir", "rmdir", "close"]) {
  const orig = FS[name].bind(FS);
  FS[name] = (...args) => {
    const result = orig(...args);
    const changed = name === "close" ? onFlash(args[0].path) && (args[0].flags & 3) !== 0 : onFlash(args[0]);
    if (changed) parentPort.postMessage({ files: snapshot() });
    return result;
  };
}

// A power cut in the middle of a file write, armed by the test (control op "power_cut"): writes to
// flash files whose path contains cut.path land byte for byte until cut.after bytes have been
// written; then the flash is frozen as it is and the board dies mid-call, as on a brown-out.
if (cut) {
  const write = FS.write.bind(FS);
  let left = cut.after;
  FS.write = (stream, buffer, offset, length, position, canOwn) => {
    const path = stream.path || "";
    if (path.startsWith(FLASH + "/") && path.includes(cut.path)) {
      if (length >= left) {
        if (left > 0) write(stream, buffer, offset, left, position, false);
        flushOut();
        parentPort.postMessage({ files: snapshot(), end: { op: "power_cut", path: path.slice(FLASH.length) } });
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0); // until the main thread ends this worker
      }
      left -= length;
    }
    return write(stream, buffer, offset, length, position, canOwn);
  };
}
FS.mkdir("/hw");
for (const name of readdirSync(join(here, "fakes"))) {
  if (name.endsWith(".py")) FS.writeFile("/hw/" + name, readFileSync(join(here, "fakes", name)));
}

function snapshot() {
  const result = {};
  const walk = (dir, rel) => {
    for (const name of FS.readdir(dir)) {
      if (name === "." || name === "..") continue;
      const full = dir + "/" + name;
      if (FS.isDir(FS.stat(full).mode)) { result[rel + "/" + name] = null; walk(full, rel + "/" + name); }
      else result[rel + "/" + name] = FS.readFile(full);
    }
  };
  walk(FLASH, "");
  return result;
}

// Ring access: pending Ctrl-C interrupts running code, as on a board.
function available() { return Atomics.load(ringHead, 0) - Atomics.load(ringHead, 1); }
function readByte(timeoutMs) {
  while (available() === 0) {
    flushOut();
    const w = Atomics.load(ringHead, 0);
    if (Atomics.wait(ringHead, 0, w, timeoutMs) === "timed-out" && available() === 0) return null;
  }
  const r = Atomics.load(ringHead, 1);
  const b = ringData[r % ringData.length];
  Atomics.store(ringHead, 1, r + 1);
  return b;
}
function takeInterrupt() {
  const w = Atomics.load(ringHead, 0);
  for (let r = Atomics.load(ringHead, 1); r < w; r++) {
    if (ringData[r % ringData.length] === 3) { Atomics.store(ringHead, 1, r + 1); return true; }
  }
  return false;
}

let ending = null; // {sleep_ms} or {reset: cause}
function rpc(op, arg) {
  flushOut();
  Atomics.store(rpcCtl, 0, 0);
  parentPort.postMessage({ rpc: op, arg });
  Atomics.wait(rpcCtl, 0, 0);
  const n = rpcCtl[1];
  return new TextDecoder().decode(rpcData.slice(0, n));
}
mp.registerJsModule("_board", {
  // Every hardware call goes through here: one JSON request, one JSON answer, synchronously.
  call: (op, arg) => {
    if (takeInterrupt()) return '{"interrupt": true}';
    if (op === "deepsleep" || op === "reset") ending = { op, arg: JSON.parse(arg) };
    if (op === "boot") return JSON.stringify({ cause, wake });
    return rpc(op, arg);
  },
});

function endBoot() {
  flushOut();
  parentPort.postMessage({ end: ending, files: snapshot() });
}

mp.runPython(`
import sys, os
sys.path.insert(0, '/hw')
sys.path.append('/flash/lib')
os.chdir('/flash')
`);

function runFile(name) {
  try { FS.stat(FLASH + "/" + name); } catch { return true; }
  mp.runPython(`
import sys
try:
    exec(compile(open('${name}').read(), '${name}', 'exec'), {'__name__': '__main__'})
except SystemExit:
    pass
except BaseException as e:
    sys.print_exception(e)
`);
  return ending === null;
}

if (runFile("boot.py") && (mode !== "friendly" || runFile("main.py"))) {
  quiet = mode === "raw"; // after a soft reset in raw mode the board comes back in raw mode
  mp.replInit();
  quiet = false;
  if (mode === "raw") mp.replProcessChar(1);
  flushOut();
  // Raw-paste mode (Ctrl-E A Ctrl-A) hangs this port: answer "not supported" and mpremote falls back.
  let esc = 0;
  let sinceInput = 0;
  for (;;) {
    const b = readByte(sinceInput === 1 ? 40 : 1000);
    if (b === null) {
      if (sinceInput === 1) parentPort.postMessage({ files: snapshot() });
      sinceInput = 0;
      continue;
    }
    sinceInput = 1;
    if (esc === 0 && b === 5) { esc = 1; continue; }
    if (esc === 1 && b === 65) { esc = 2; continue; }
    if (esc === 2 && b === 1) { esc = 0; out.push(0x52, 0x00); flushOut(); continue; }
    if (esc) { const held = esc === 1 ? [5] : [5, 65]; esc = 0; for (const c of held) mp.replProcessChar(c); }
    const done = mp.replProcessChar(b);
    if (ending) break;
    if (done) { out.push(...new TextEncoder().encode("MPY: soft reboot\r\n")); ending = { op: "soft" }; break; }
  }
}
endBoot();
