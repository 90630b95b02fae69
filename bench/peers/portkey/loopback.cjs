// Preloaded into Portkey's gateway with `node --require`: its start script has no
// host option and listens on every interface, while the bench stays on loopback.
// A listen() call that names a port but no host gets 127.0.0.1.
const net = require("node:net");

const listen = net.Server.prototype.listen;

net.Server.prototype.listen = function (port, host, ...rest) {
  const namesNoHost = host === undefined || typeof host === "function";
  if (typeof port === "number" && namesNoHost) {
    const tail = host === undefined ? rest : [host, ...rest];
    return listen.call(this, port, "127.0.0.1", ...tail);
  }
  return listen.call(this, port, host, ...rest);
};
