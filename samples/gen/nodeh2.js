#!/usr/bin/env node
// WebSockets over cleartext HTTP/2 (RFC 8441) with node's own `http2` module, for
// samples/generate-h2.sh. No dependencies: the RFC 6455 framing is done here.
//
//   node nodeh2.js server --port 18205 [--lifetime 30]   # enableConnectProtocol: true; echo
//   node nodeh2.js client --port 18205                   # extended CONNECT, a text message,
//                                                        # Close 1000, END_STREAM after the echo
//
// The server answers an extended CONNECT (:protocol websocket) with 200, echoes each text
// frame unmasked, answers a Close with a Close and ends its side. Each process is bounded.
'use strict';
const http2 = require('http2');
const crypto = require('crypto');

const args = process.argv.slice(2);
const mode = args[0];
const opt = (name, dflt) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : dflt;
};
const port = Number(opt('port', '18205'));
const log = (...a) => console.error('[nodeh2]', ...a);

function frame(opcode, payload, mask) {
  const head = [0x80 | opcode];
  const n = payload.length;
  if (n >= 126) throw new Error('short frames only');
  head.push((mask ? 0x80 : 0) | n);
  if (!mask) return Buffer.concat([Buffer.from(head), payload]);
  const key = crypto.randomBytes(4);
  const body = Buffer.from(payload.map((b, i) => b ^ key[i % 4]));
  return Buffer.concat([Buffer.from(head), key, body]);
}

// Whole frames at the front of buf: [{opcode, payload}], and the bytes left over.
function parse(buf) {
  const out = [];
  let at = 0;
  while (buf.length - at >= 2) {
    const opcode = buf[at] & 0x0f;
    const masked = (buf[at + 1] & 0x80) !== 0;
    const len = buf[at + 1] & 0x7f;
    const need = 2 + (masked ? 4 : 0) + len;
    if (len >= 126 || buf.length - at < need) break;
    let payload = buf.subarray(at + 2 + (masked ? 4 : 0), at + need);
    if (masked) {
      const key = buf.subarray(at + 2, at + 6);
      payload = Buffer.from(payload.map((b, i) => b ^ key[i % 4]));
    }
    out.push({ opcode, payload });
    at += need;
  }
  return [out, buf.subarray(at)];
}

if (mode === 'server') {
  const server = http2.createServer({ settings: { enableConnectProtocol: true } });
  server.on('stream', (stream, headers) => {
    if (headers[':method'] !== 'CONNECT' || headers[':protocol'] !== 'websocket') {
      stream.respond({ ':status': 404 });
      stream.end();
      return;
    }
    stream.respond({ ':status': 200 });
    let rest = Buffer.alloc(0);
    stream.on('data', (chunk) => {
      let frames;
      [frames, rest] = parse(Buffer.concat([rest, chunk]));
      for (const f of frames) {
        if (f.opcode === 0x1) stream.write(frame(0x1, f.payload, false));
        if (f.opcode === 0x8) stream.end(frame(0x8, f.payload, false));
      }
    });
    stream.on('error', (e) => log('stream', e.code || e.message));
  });
  server.listen(port, '127.0.0.1');
  setTimeout(() => server.close(), Number(opt('lifetime', '30')) * 1000).unref();
  setTimeout(() => process.exit(0), Number(opt('lifetime', '30')) * 1000 + 500);
} else if (mode === 'client') {
  setTimeout(() => { log('timed out'); process.exit(2); }, 8000);
  const session = http2.connect(`http://127.0.0.1:${port}`);
  session.on('remoteSettings', (settings) => {
    log('server enableConnectProtocol =', settings.enableConnectProtocol);
    if (session.ws) return;
    const req = session.request({
      ':method': 'CONNECT',
      ':protocol': 'websocket',
      ':scheme': 'http',
      ':path': '/chat',
      ':authority': `127.0.0.1:${port}`,
      'sec-websocket-version': '13',
      'origin': `http://127.0.0.1:${port}`,
    }, { endStream: false });
    session.ws = req;
    let rest = Buffer.alloc(0);
    req.on('response', (h) => {
      log('status', h[':status']);
      req.write(frame(0x1, Buffer.from('hello from node'), true));
    });
    req.on('data', (chunk) => {
      let frames;
      [frames, rest] = parse(Buffer.concat([rest, chunk]));
      for (const f of frames) {
        if (f.opcode === 0x1) {
          const close = Buffer.concat([Buffer.from([0x03, 0xe8]), Buffer.from('bye')]);
          req.end(frame(0x8, close, true));
        }
      }
    });
    req.on('end', () => { session.close(); });
    req.on('error', (e) => { log('request', e.code || e.message); process.exit(1); });
  });
  session.on('close', () => process.exit(0));
  session.on('error', (e) => { log('session', e.code || e.message); process.exit(1); });
} else {
  log('usage: nodeh2.js server|client --port N');
  process.exit(2);
}
