// node `ws` over `https`, with the TLS key log written from node's `keylog` events, for
// samples/generate-tls.sh. Bounded: the server exits after 60 s, the client after 5 s.
//
//   node nodetls.js server PORT CERT KEY KEYLOG [ALPN,...]
//   node nodetls.js client URL CA KEYLOG [ALPN,...] [expect-fail]
'use strict';
const fs = require('fs');
const https = require('https');
const { WebSocketServer, WebSocket } = require('ws');

const [mode, ...args] = process.argv.slice(2);
const log = (...a) => console.error('[nodetls]', ...a);

if (mode === 'server') {
  const [port, cert, key, keylog, alpn] = args;
  const opts = { cert: fs.readFileSync(cert), key: fs.readFileSync(key) };
  if (alpn) opts.ALPNProtocols = alpn.split(',');
  const server = https.createServer(opts, (req, res) => { res.writeHead(404); res.end(); });
  server.on('keylog', (line) => fs.appendFileSync(keylog, line));
  const wss = new WebSocketServer({ server });
  wss.on('connection', (ws) => ws.on('message', (m, binary) => ws.send(m, { binary })));
  server.listen(Number(port), '127.0.0.1', () => log('wss server on', port));
  setTimeout(() => process.exit(0), 60000);
} else if (mode === 'client') {
  const [url, ca, keylog, alpn, expect] = args;
  const opts = { ca: fs.readFileSync(ca), handshakeTimeout: 3000 };
  if (alpn) opts.ALPNProtocols = alpn.split(',');
  const ws = new WebSocket(url, opts);
  ws.on('upgrade', () => {});
  ws._req && ws._req.on('socket', (s) => s.on('keylog', (line) => fs.appendFileSync(keylog, line)));
  ws.on('open', () => { ws.send('hello over tls'); });
  ws.on('message', (m) => { log('echo:', String(m)); ws.close(1000, 'done'); });
  ws.on('close', () => process.exit(expect === 'expect-fail' ? 1 : 0));
  ws.on('error', (e) => { log('client error', e.code || e.message); process.exit(expect === 'expect-fail' ? 0 : 1); });
  setTimeout(() => process.exit(1), 5000);
} else {
  log('usage: nodetls.js server|client ...');
  process.exit(2);
}
