// Helpers shared by the MQTT.js scenarios run from tests/tests/e2e/mqtt_js.rs.
'use strict';

const mqtt = require('mqtt');

// Generous: only there so a broken broker fails the scenario instead of
// hanging it.
const TIMEOUT_MS = 30000;

function fail(why) {
  console.log(`FAIL ${why}`);
  process.exit(1);
}

// Connects and waits for the CONNACK; never reconnects by itself (a
// reconnect would hide a dropped connection).
async function connectAsync(url, opts) {
  return mqtt.connectAsync(url, {
    reconnectPeriod: 0,
    connectTimeout: TIMEOUT_MS,
    ...opts,
  });
}

// Queues the client's messages; next() resolves with the oldest one
// ({topic, payload (string), qos}) or fails after TIMEOUT_MS.
function inbox(client) {
  const queue = [];
  let waiter = null;
  client.on('message', (topic, payload, packet) => {
    queue.push({ topic, payload: payload.toString(), qos: packet.qos });
    if (waiter) waiter();
  });
  return {
    async next(what) {
      while (queue.length === 0) {
        await new Promise((resolve) => {
          const timer = setTimeout(() => fail(`no message: ${what}`), TIMEOUT_MS);
          waiter = () => { clearTimeout(timer); waiter = null; resolve(); };
        });
      }
      return queue.shift();
    },
  };
}

module.exports = { connectAsync, fail, inbox, TIMEOUT_MS };
