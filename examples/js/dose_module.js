// A dose module of our own for verger, in JavaScript (Autobahn|JS): docs/write-your-own-module.md
// Our rule: 0.5 mL per fruit on each side of a tree, 0.12 L at most; a tree the survey did not
// count gets 0.08 L, a tree without fruit nothing (its order is withdrawn).
// Run: node examples/js/dose_module.js [ROUTER_URL] (or --router URL --realm NAME: verger run)
// on Node 22 (20: --experimental-websocket), after `npm install` in examples/js.
const autobahn = require('autobahn');
const L_PER_FRUIT = 0.0005; // litres per fruit, one side of the tree
const MAX_L = 0.12; // never more, however big the crop
const UNCOUNTED_L = 0.08; // for a tree the survey did not count
const PRODUCT = { name: 'Exemplar 80 WG', authorisation: '2990001',
  target_pest: 'apple scab (Venturia inaequalis)' };
const argv = process.argv.slice(2); // a URL, or what verger run passes: --router URL --realm NAME
const flag = (name) => (argv.includes(name) ? argv[argv.indexOf(name) + 1] : undefined);
const url = flag('--router') || argv.find((a) => a.startsWith('ws')) || 'ws://127.0.0.1:8080/ws';
const connection = new autobahn.Connection({ url, realm: flag('--realm') || 'orchard',
  max_retries: -1, max_retry_delay: 5 }); // reconnect for ever, every 5 s at most

function litresFor(tree) { // our rule; fruit_count null: the survey did not count the tree
  return tree.fruit_count === null ? UNCOUNTED_L : Math.min(L_PER_FRUIT * tree.fruit_count, MAX_L);
}

// What the map gets back: "The decision" in docs/contract.md (model null: none of verger's).
function decision(order, { volume = 0, flow = 0, sprayer = null, cancelled = null }) {
  const asked = order.window === null ? null : volume;
  return new autobahn.Result([], { plan_id: order.plan_id, revision: order.revision,
    tree_id: order.tree.id, section: order.section.id, withdrawn: sprayer === null,
    withdraw_reason: order.withdraw_reason, model: null, model_volume_l: asked,
    intended_volume_l: asked, clamped: 'none', volume_l: volume, flow_l_min: flow,
    under_dosed: false, window: order.window, sprayer, cancelled,
    decided_at: new Date().toISOString() });
}

// orchard.dose.treat; a refusal of the sprayer goes back to the map as it is.
async function treat(session, order) {
  const volume = order.window === null ? 0 : litresFor(order.tree);
  if (volume === 0) { // a withdrawal, or nothing to spray: always pass it on, a valve may be open
    const reason = order.window === null ? order.withdraw_reason : 'zero_dose';
    const answer = await session.call('orchard.sprayer.withdraw', [],
      { plan_id: order.plan_id, revision: order.revision, reason });
    return decision(order, { cancelled: answer.kwargs.withdrawn });
  }
  // The window is in GNSS time: use its length, never compare it with this computer's clock.
  const minutes = (Date.parse(order.window.close) - Date.parse(order.window.open)) / 60000;
  const flow = volume / minutes; // litres per MINUTE
  const answer = await session.call('orchard.sprayer.apply', [], { plan_id: order.plan_id,
    revision: order.revision, section: order.section.id, tree_id: order.tree.id,
    open: order.window.open, close: order.window.close, flow_l_min: flow, volume_l: volume,
    product: PRODUCT, parcel: null, crop: null }); // parcel and crop: unknown to us
  return decision(order, { volume, flow, sprayer: answer.kwargs });
}

connection.onopen = (session) => {
  session.register('orchard.dose.treat', (args, kwargs) => treat(session, kwargs)).then(
    () => console.log(`dose module ready on ${url}`),
    (e) => { console.error(`cannot register orchard.dose.treat: ${e.error}`); process.exit(1); });
};
// Autobahn|JS may give up (no router on Node 20, router shut down): say so, fail, be restarted.
process.on('beforeExit', () => { console.error(`not connected to ${url}`); process.exit(1); });
connection.open();
