// Reference server for herald's benchmarks: the seed's NestJS gateway reduced to plain socket.io v4.
// Same contract as herald: JWT (HS256) from handshake.auth.token or ?token=, room user:<sub>,
// `authenticated` on connect, and the backend HTTP API POST /v1/emit and GET /v1/stats.
//
// With REDIS_URL set, several of these processes form one cluster the standard way socket.io users
// scale: @socket.io/redis-adapter over the `redis` client (a pub client and its duplicate for sub).
// GET /metrics then says how many messages this process received from Redis
// (redis_adapter_messages_received_total: every message of the adapter's subscriptions, its own
// broadcasts echoed back included), to compare with herald_cluster_messages_received_total.
'use strict';

const http = require('node:http');
const { Server } = require('socket.io');
const jwt = require('jsonwebtoken');

const port = Number(process.env.PORT || 3000);
const secret = process.env.JWT_SECRET || 'dev-secret';
const apiKey = process.env.HERALD_API_KEY || '';
const maxBody = 1 << 20;
const redisURL = process.env.REDIS_URL || '';

// redisReceived counts the messages the adapter's sub client handed to this process: broadcasts
// (onmessage, every node's, this one's echoed back included) and requests between nodes (onrequest).
let redisReceived = 0;
let redisClients = [];

const httpServer = http.createServer(handleAPI);
const io = new Server(httpServer, {
  path: '/socket.io/',
  transports: ['websocket', 'polling'],
  cors: { origin: (process.env.CORS_ORIGIN || 'http://localhost:3000,http://localhost:5173').split(','), credentials: true },
});

if (redisURL) {
  const { createAdapter, RedisAdapter } = require('@socket.io/redis-adapter');
  const { createClient } = require('redis');
  // The adapter binds these two at construction: counting is wrapped around them before it exists.
  for (const name of ['onmessage', 'onrequest']) {
    const orig = RedisAdapter.prototype[name];
    RedisAdapter.prototype[name] = function (...args) {
      redisReceived++;
      return orig.apply(this, args);
    };
  }
  const pub = createClient({ url: redisURL });
  const sub = pub.duplicate();
  for (const c of [pub, sub]) c.on('error', (err) => console.error('redis:', err.message));
  redisClients = [pub, sub];
  io.adapter(createAdapter(pub, sub));
}

// userSockets counts the sockets of each connected user, for /v1/stats.
const userSockets = new Map();

io.use((socket, next) => {
  const token = socket.handshake.auth?.token || socket.handshake.query?.token;
  if (!token) return next(errorWithCode('missing token', 'token_missing'));
  jwt.verify(token, secret, { algorithms: ['HS256'] }, (err, claims) => {
    if (err) {
      const code = err.name === 'TokenExpiredError' ? 'token_expired' : 'token_invalid';
      return next(errorWithCode(err.message, code));
    }
    if (!claims.sub) return next(errorWithCode('token has no sub', 'token_invalid'));
    socket.data.user = { userId: String(claims.sub), email: claims.email };
    next();
  });
});

io.on('connection', (socket) => {
  const { userId, email } = socket.data.user;
  socket.join(`user:${userId}`);
  userSockets.set(userId, (userSockets.get(userId) || 0) + 1);
  socket.emit('authenticated', { success: true, userId, email, socketId: socket.id });
  socket.on('disconnect', () => {
    const n = userSockets.get(userId) - 1;
    if (n > 0) userSockets.set(userId, n);
    else userSockets.delete(userId);
  });
});

function errorWithCode(message, code) {
  const err = new Error(message);
  err.data = { code };
  return err;
}

function handleAPI(req, res) {
  if (req.url === '/v1/stats' && req.method === 'GET') {
    if (!authorized(req)) return reply(res, 401, { error: { code: 'unauthorized', message: 'bad API key' } });
    let sockets = 0;
    for (const n of userSockets.values()) sockets += n;
    return reply(res, 200, { connectedUsers: userSockets.size, sockets, redisMessagesReceived: redisReceived });
  }
  if (req.url === '/metrics' && req.method === 'GET') {
    const text = '# HELP redis_adapter_messages_received_total Messages this process received from Redis (adapter broadcasts and requests, its own echoes included).\n' +
      '# TYPE redis_adapter_messages_received_total counter\n' +
      `redis_adapter_messages_received_total ${redisReceived}\n`;
    res.writeHead(200, { 'Content-Type': 'text/plain; version=0.0.4', 'Content-Length': Buffer.byteLength(text) });
    return res.end(text);
  }
  if (req.url === '/v1/emit' && req.method === 'POST') {
    if (!authorized(req)) return reply(res, 401, { error: { code: 'unauthorized', message: 'bad API key' } });
    return readJSON(req, res, (body) => {
      if (!body || typeof body.event !== 'string' || body.event === '') {
        return reply(res, 400, { error: { code: 'invalid', message: 'event is required' } });
      }
      let target;
      if (body.broadcast === true) target = io;
      else if (body.room) target = io.to(String(body.room));
      else if (body.userId) target = io.to(`user:${body.userId}`);
      else if (Array.isArray(body.userIds) && body.userIds.length > 0) target = io.to(body.userIds.map((id) => `user:${id}`));
      else return reply(res, 400, { error: { code: 'invalid', message: 'one of userId, userIds, room, broadcast is required' } });
      target.emit(body.event, { ...body.data, timestamp: new Date().toISOString() });
      reply(res, 202, { accepted: true });
    });
  }
  if (req.url === '/healthz') return reply(res, 200, { ok: true });
  // socket.io answers /socket.io/ itself and hands every other request here.
  reply(res, 404, { error: { code: 'not_found', message: 'not found' } });
}

function authorized(req) {
  return apiKey === '' || req.headers.authorization === `Bearer ${apiKey}`;
}

function readJSON(req, res, fn) {
  const chunks = [];
  let size = 0;
  req.on('data', (c) => {
    size += c.length;
    if (size > maxBody) {
      reply(res, 413, { error: { code: 'too_large', message: 'body too large' } });
      req.destroy();
    } else chunks.push(c);
  });
  req.on('end', () => {
    if (res.writableEnded) return;
    let body;
    try {
      body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    } catch {
      return reply(res, 400, { error: { code: 'invalid', message: 'body is not JSON' } });
    }
    fn(body);
  });
}

function reply(res, status, body) {
  const data = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) });
  res.end(data);
}

// start listens once the Redis clients (if any) are connected, so that a ready server is a cluster member.
async function start() {
  await Promise.all(redisClients.map((c) => c.connect()));
  httpServer.listen(port, () => console.log(`node reference listening on :${port}${redisURL ? ' (redis adapter)' : ''}`));
}

function stop() {
  io.close(() => {
    Promise.allSettled(redisClients.map((c) => c.quit())).then(() => process.exit(0));
  });
  setTimeout(() => process.exit(0), 5000).unref();
}

start().catch((err) => {
  console.error('start:', err.message);
  process.exit(1);
});
process.on('SIGTERM', stop);
process.on('SIGINT', stop);
