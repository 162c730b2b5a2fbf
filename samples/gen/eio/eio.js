#!/usr/bin/env node
// Socket.IO peers for samples/generate-engineio.sh: a socket.io 4.x server and a
// socket.io-client 4.x (or 2.x, Engine.IO v3) client. Every run is bounded by --hold and a
// hard timer; the client logs what the library reported (connect, upgrade, errors) as lines
// "event: detail" on stdout, which the generator keeps next to the expected outputs.
//
//   node eio.js server --port P [--ping-interval MS] [--ping-timeout MS] [--allow-eio3]
//                      [--reject-auth] [--no-upgrades] [--drop-probe MS]
//                      [--tls CERT,KEY] [--lifetime S]
//   node eio.js client --url URL [--transports polling,websocket] [--v2] [--token T]
//                      [--hold MS] [--no-reconnect] [--ca CERT]
//
//   node eio.js h2server --port P --cert CERT --key KEY --page DIR [--ping-interval MS]
//                      [--ping-timeout MS] [--connect-protocol] [--lifetime S]
//
// h2server attaches socket.io to node's HTTP/2 server, http2.createSecureServer({allowHTTP1:
// true}) (ALPN h2 and http/1.1), as socket.io's documentation shows, serving DIR's page and
// socket.io-client's bundle at / for a browser. engine.io takes a WebSocket only from an
// HTTP/1.1 `upgrade` event; --connect-protocol also sends SETTINGS_ENABLE_CONNECT_PROTOCOL
// (RFC 8441), so a browser asks for its WebSocket as an extended CONNECT on the h2
// connection. The requests engine.io leaves to others (the page) and the HTTP/1.1 upgrade
// requests are logged with their HTTP version.
//
// --drop-probe patches the server's upgrade step: the WebSocket opens (101) but the client's
// 2probe is never answered, and the server closes that WebSocket after MS as engine.io's
// upgradeTimeout does, so the session stays on polling. With --tls the server is https/wss;
// run the client under `node --tls-keylog=FILE` for the key log.
'use strict';

function arg(name, dflt) {
  const i = process.argv.indexOf('--' + name);
  if (i < 0) return dflt;
  const v = process.argv[i + 1];
  return v === undefined || v.startsWith('--') ? true : v;
}

const mode = process.argv[2];

if (mode === 'server') {
  const { Server } = require('socket.io');
  const port = Number(arg('port'));
  const opts = {
    pingInterval: Number(arg('ping-interval', 25000)),
    pingTimeout: Number(arg('ping-timeout', 20000)),
    allowEIO3: !!arg('allow-eio3', false),
    cors: { origin: '*' },
  };
  if (arg('no-upgrades', false)) opts.transports = ['polling'];
  const tag = `server:${port}`;
  const dropProbe = arg('drop-probe', false);
  if (dropProbe) {
    // engine.io's Socket#_maybeUpgrade (4.x) answers 2probe with 3probe; this one reads the
    // upgrade's packets and answers none.
    const { Socket } = require('engine.io');
    Socket.prototype._maybeUpgrade = function (transport) {
      console.log(`${tag} probe: not answered (patched), transport=${transport.name} sid=${this.id}`);
      transport.on('packet', (p) => console.log(`${tag} probe: read ${p.type} ${p.data || ''}`));
      setTimeout(() => {
        console.log(`${tag} probe: closing the unanswered ${transport.name} after ${dropProbe} ms`);
        transport.close();
      }, Number(dropProbe));
    };
  }
  let io;
  const tls = arg('tls', false);
  if (tls) {
    const [cert, key] = String(tls).split(',');
    const fs = require('fs');
    const srv = require('https').createServer({ cert: fs.readFileSync(cert), key: fs.readFileSync(key) });
    io = new Server(srv, opts);
    srv.listen(port, '127.0.0.1');
  } else {
    io = new Server(port, opts);
  }
  if (arg('reject-auth', false)) {
    io.use((socket, next) => next(new Error('not authorized')));
  }
  io.on('connection', (socket) => {
    console.log(`${tag} connection: sid=${socket.conn.id} transport=${socket.conn.transport.name}`);
    socket.conn.on('upgrade', (t) => console.log(`${tag} upgrade: ${t.name}`));
    socket.on('hello', (msg, ack) => {
      console.log(`${tag} hello: ${JSON.stringify(msg)}`);
      if (typeof ack === 'function') ack({ ok: true });
    });
    socket.on('disconnect', (reason) => console.log(`${tag} disconnect: ${reason}`));
  });
  io.engine.on('connection_error', (err) => {
    console.log(`${tag} connection_error: code=${err.code} message=${err.message}`);
  });
  console.log(`${tag} listening`);
  setTimeout(() => process.exit(0), Number(arg('lifetime', 60)) * 1000);
} else if (mode === 'h2server') {
  const fs = require('fs');
  const path = require('path');
  const http2 = require('http2');
  const { Server } = require('socket.io');
  const port = Number(arg('port'));
  const tag = `server:${port}`;
  const page = String(arg('page'));
  const files = { '/': 'index.html', '/socket.io.min.js': 'socket.io.min.js', '/favicon.ico': 'favicon.ico' };
  const types = { '.html': 'text/html; charset=utf-8', '.js': 'text/javascript', '.ico': 'image/x-icon' };
  const srv = http2.createSecureServer({
    allowHTTP1: true,
    cert: fs.readFileSync(String(arg('cert'))),
    key: fs.readFileSync(String(arg('key'))),
    settings: { enableConnectProtocol: !!arg('connect-protocol', false) },
  });
  // Before socket.io's listener (engine.io's attach keeps it for paths not its own).
  srv.on('request', (req, res) => {
    console.log(`${tag} request: HTTP/${req.httpVersion} ${req.method} ${req.url}`);
    if (req.url.startsWith('/socket.io/')) return;
    const name = files[req.url.split('?')[0]];
    if (!name) { res.writeHead(404); res.end(); return; }
    res.writeHead(200, { 'content-type': types[path.extname(name)] });
    res.end(fs.readFileSync(path.join(page, name)));
  });
  srv.on('upgrade', (req) => console.log(`${tag} upgrade request: HTTP/${req.httpVersion} ${req.url}`));
  const io = new Server(srv, {
    pingInterval: Number(arg('ping-interval', 25000)),
    pingTimeout: Number(arg('ping-timeout', 20000)),
    serveClient: false,
  });
  io.on('connection', (socket) => {
    console.log(`${tag} connection: sid=${socket.conn.id} transport=${socket.conn.transport.name}`);
    socket.conn.on('upgrade', (t) => console.log(`${tag} upgrade: ${t.name}`));
    socket.on('hello', (msg, ack) => {
      console.log(`${tag} hello: ${JSON.stringify(msg)} transport=${socket.conn.transport.name}`);
      if (typeof ack === 'function') ack({ ok: true });
    });
    socket.on('disconnect', (reason) => console.log(`${tag} disconnect: ${reason}`));
  });
  io.engine.on('connection_error', (err) => {
    console.log(`${tag} connection_error: code=${err.code} message=${err.message}`);
  });
  srv.listen(port, '127.0.0.1', () => console.log(`${tag} listening`));
  setTimeout(() => process.exit(0), Number(arg('lifetime', 60)) * 1000);
} else if (mode === 'client') {
  const v2 = !!arg('v2', false);
  const io = v2 ? require('socket.io-client-v2') : require('socket.io-client');
  const url = arg('url');
  const transports = String(arg('transports', 'polling,websocket')).split(',');
  const hold = Number(arg('hold', 1500));
  const opts = { transports, reconnection: !arg('no-reconnect', false), reconnectionAttempts: 2,
                 reconnectionDelay: 200, reconnectionDelayMax: 400, timeout: 3000 };
  if (arg('token', false)) opts.auth = { token: String(arg('token')) };
  if (arg('ca', false)) opts.ca = require('fs').readFileSync(String(arg('ca')));
  const socket = io(url, opts);
  const engine = () => (v2 ? socket.io.engine : socket.io.engine);
  socket.io.on('open', () => {
    const e = engine();
    console.log(`client open: transport=${e.transport.name} sid=${e.id}`);
    e.on('upgrade', (t) => console.log(`client upgrade: ${t.name}`));
    e.on('upgradeError', (err) => console.log(`client upgradeError: ${err.message}`));
  });
  socket.io.on('error', (err) => console.log(`client manager error: ${err && err.message}`));
  socket.on('connect', () => {
    console.log(`client connect: transport=${engine().transport.name}`);
    socket.emit('hello', { n: 1 }, (answer) => console.log(`client ack: ${JSON.stringify(answer)}`));
  });
  socket.on('connect_error', (err) => console.log(`client connect_error: ${err.message}`));
  socket.on('error', (err) => console.log(`client error: ${err && err.message ? err.message : err}`));
  socket.on('disconnect', (reason) => console.log(`client disconnect: ${reason}`));
  setTimeout(() => {
    const e = engine();
    console.log(`client final: connected=${socket.connected} transport=${e ? e.transport && e.transport.name : 'none'}`);
    socket.close();
    setTimeout(() => process.exit(0), 300);
  }, hold);
} else {
  console.error('usage: eio.js server|client ...');
  process.exit(2);
}
