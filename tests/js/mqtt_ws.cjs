// MQTT.js over WebSocket against the broker: connect to URL with the
// `mqtt` subprotocol, subscribe, publish at QoS 0, 1 and 2, and receive
// each message back with its QoS. Exits 0 with a last line "OK ..." only
// if every check held.
// Usage: node mqtt_ws.cjs URL PROTOCOL_VERSION(4|5)
'use strict';

const { connectAsync, fail, inbox } = require('./mqtt_common.cjs');

const [url, version] = process.argv.slice(2);

async function main() {
  const client = await connectAsync(url, { protocolVersion: Number(version), clientId: `js-ws-${version}` });
  const messages = inbox(client);
  const granted = await client.subscribeAsync('js/t', { qos: 2 });
  if (granted.length !== 1 || granted[0].qos !== 2) fail(`SUBACK ${JSON.stringify(granted)}`);
  for (const qos of [0, 1, 2]) {
    const payload = `qos ${qos} over websocket`;
    await client.publishAsync('js/t', payload, { qos });
    const got = JSON.stringify(await messages.next(`QoS ${qos}`));
    const want = JSON.stringify({ topic: 'js/t', payload, qos });
    if (got !== want) fail(`got ${got}, want ${want}`);
  }
  await client.endAsync();
  console.log(`OK mqtt.js over websocket, protocol version ${version}`);
}

main().catch((e) => fail(e.stack || String(e)));
