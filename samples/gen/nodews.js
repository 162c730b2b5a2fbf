#!/usr/bin/env node
// node `ws` servers and clients used by samples/generate.sh.
//
//   node nodews.js server-deflate HOST PORT
//   node nodews.js client-deflate URL
//   node nodews.js server-app HOST PORT      (http app + ws noServer/handleUpgrade)
//   node nodews.js server-plain HOST PORT    (plain WebSocketServer)
//   node nodews.js server-auth HOST PORT     (verifyClient rejects with 401)
//   node nodews.js server-wrong-protocol HOST PORT
//                                            (handleProtocols picks graphql-ws whatever was offered)
//   node nodews.js client-expect-fail-chat URL (offers subprotocol chat, expects a failure)
//
// Servers exit by themselves after LIFETIME seconds (env, default 60); clients
// after 5 s at the latest.
'use strict';

const http = require('http');
const { WebSocket, WebSocketServer } = require('ws');

const log = (...a) => console.error('[nodews]', ...a);
const [mode, a1, a2] = process.argv.slice(2);
const lifetime = Number(process.env.LIFETIME || 60) * 1000;

function echo(ws) {
  ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
  ws.on('error', (e) => log('ws error', e.message));
}

function serverLifetime() {
  setTimeout(() => process.exit(0), lifetime);
}

switch (mode) {
  case 'server-deflate': {
    const wss = new WebSocketServer({
      host: a1,
      port: Number(a2),
      perMessageDeflate: { threshold: 0 },
      handleProtocols: (protocols) => (protocols.has('chat') ? 'chat' : false),
    });
    wss.on('connection', (ws) => {
      let n = 0;
      ws.on('message', (data, isBinary) => {
        n += 1;
        log('server got', isBinary ? 'binary' : 'text', String(data));
        ws.send(`ack ${n}: ${data}`);
        if (n === 2) {
          setTimeout(() => ws.close(1001, 'going away'), 100);
        }
      });
    });
    wss.on('listening', () => log('server-deflate listening', a1, a2));
    serverLifetime();
    break;
  }

  case 'client-deflate': {
    const ws = new WebSocket(a1, ['chat', 'superchat'], {
      perMessageDeflate: { threshold: 0 },
      handshakeTimeout: 3000,
    });
    ws.on('open', () => {
      log('open, protocol', ws.protocol, 'extensions', ws.extensions);
      ws.send('hello hello hello hello');
      ws.send('frag-one ', { fin: false });
      setTimeout(() => ws.send('frag-two', { fin: true }), 50);
    });
    ws.on('message', (data) => log('client got', String(data)));
    ws.on('close', (code, reason) => {
      log('closed', code, String(reason));
      process.exit(0);
    });
    ws.on('error', (e) => {
      log('error', e.message);
      process.exit(1);
    });
    setTimeout(() => process.exit(2), 5000);
    break;
  }

  case 'server-app': {
    // A typical app: /ws also answers plain HTTP, WebSocket upgrades are
    // handed to ws in noServer mode.
    const wss = new WebSocketServer({ noServer: true });
    wss.on('connection', echo);
    const server = http.createServer((req, res) => {
      const body = req.url === '/health' ? 'ok\n' : 'hello from app\n';
      res.writeHead(200, { 'Content-Type': 'text/plain', 'Content-Length': body.length });
      res.end(body);
    });
    server.keepAliveTimeout = 5000;
    server.on('upgrade', (req, socket, head) => {
      wss.handleUpgrade(req, socket, head, (ws) => wss.emit('connection', ws, req));
    });
    server.listen(Number(a2), a1, () => log('server-app listening', a1, a2));
    serverLifetime();
    break;
  }

  case 'server-plain': {
    const wss = new WebSocketServer({ host: a1, port: Number(a2) });
    wss.on('connection', echo);
    wss.on('listening', () => log('server-plain listening', a1, a2));
    serverLifetime();
    break;
  }

  case 'server-auth': {
    const wss = new WebSocketServer({
      host: a1,
      port: Number(a2),
      verifyClient: (info, cb) => {
        if (info.req.headers.authorization === 'Bearer good-token') return cb(true);
        cb(false, 401, 'Unauthorized', { 'WWW-Authenticate': 'Basic realm="wssniff"' });
      },
    });
    wss.on('connection', echo);
    wss.on('listening', () => log('server-auth listening', a1, a2));
    serverLifetime();
    break;
  }

  case 'server-wrong-protocol': {
    // An application hook that answers with its own protocol name instead of one the client
    // offered (ws does not check the hook's answer against the offer).
    const wss = new WebSocketServer({
      host: a1,
      port: Number(a2),
      handleProtocols: () => 'graphql-ws',
    });
    wss.on('connection', echo);
    wss.on('listening', () => log('server-wrong-protocol listening', a1, a2));
    serverLifetime();
    break;
  }

  case 'client-expect-fail':
  case 'client-expect-fail-chat': {
    const protocols = mode === 'client-expect-fail-chat' ? ['chat'] : [];
    const ws = new WebSocket(a1, protocols, { handshakeTimeout: 3000 });
    ws.on('open', () => {
      log('unexpected: open');
      ws.close();
    });
    ws.on('unexpected-response', (req, res) => {
      log('rejected as expected:', res.statusCode);
      req.destroy();
      process.exit(0);
    });
    ws.on('error', (e) => {
      log('failed as expected:', e.message);
      process.exit(0);
    });
    setTimeout(() => process.exit(2), 5000);
    break;
  }

  default:
    log('unknown mode', mode);
    process.exit(64);
}
