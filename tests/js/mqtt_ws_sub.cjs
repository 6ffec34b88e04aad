// An MQTT.js subscriber over WebSocket for the cross-transport test:
// subscribes to FILTER, prints "READY" once the SUBACK is in, then one
// "MSG <topic> <payload>" line per message until one arrives on END_TOPIC,
// then "OK".
// Usage: node mqtt_ws_sub.cjs URL FILTER END_TOPIC
'use strict';

const { connectAsync, TIMEOUT_MS, fail } = require('./mqtt_common.cjs');

const [url, filter, endTopic] = process.argv.slice(2);

async function main() {
  const client = await connectAsync(url, { protocolVersion: 5, clientId: 'js-ws-sub' });
  const done = new Promise((resolve) => {
    client.on('message', (topic, payload) => {
      console.log(`MSG ${topic} ${payload.toString()}`);
      if (topic === endTopic) resolve();
    });
  });
  await client.subscribeAsync(filter, { qos: 1 });
  console.log('READY');
  const timer = setTimeout(() => fail(`nothing on ${endTopic}`), TIMEOUT_MS);
  await done;
  clearTimeout(timer);
  await client.endAsync();
  console.log('OK subscriber');
}

main().catch((e) => fail(e.stack || String(e)));
