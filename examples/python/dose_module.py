"""A dose module of our own for verger, in Python with Autobahn: docs/write-your-own-module.md.
Our rule: 0.03 L per metre of canopy height on each side of a tree, 0.02 L at least;
a tree the survey did not measure counts as 3 m high. Needs: pip install autobahn. Run:
python3 examples/python/dose_module.py [ROUTER_URL] (or --router URL --realm NAME: verger run)"""
import sys
from datetime import datetime, timezone
from autobahn.asyncio.component import Component, run
from autobahn.wamp.exception import ApplicationError
from autobahn.wamp.types import CallResult

L_PER_M_OF_HEIGHT = 0.03  # litres per metre of canopy height, one side of the tree
MIN_L = 0.02  # never less (and never 0: the sprayer refuses a flow of 0)
UNMEASURED_HEIGHT_M = 3.0  # for a tree the survey did not measure
PRODUCT = {"name": "Exemplar 80 WG", "authorisation": "2990001",
           "target_pest": "apple scab (Venturia inaequalis)"}
argv = sys.argv[1:]  # a URL, or what verger run passes: --router URL --realm NAME --config FILE
opt = lambda name: argv[argv.index(name) + 1] if name in argv[:-1] else None
url = opt("--router") or next((a for a in argv if a.startswith("ws")), "ws://127.0.0.1:8080/ws")
component = Component(transports=[{"url": url, "max_retry_delay": 5}],
                      realm=opt("--realm") or "orchard")

def litres_for(tree):  # our rule
    height = tree["canopy_height_m"]  # None: the survey did not measure it
    return max(L_PER_M_OF_HEIGHT * (UNMEASURED_HEIGHT_M if height is None else height), MIN_L)

def decision(order, volume=0.0, flow=0.0, sprayer=None, cancelled=None):  # what the map gets back
    asked = None if order["window"] is None else volume  # "The decision" in docs/contract.md
    now = datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return CallResult(plan_id=order["plan_id"], revision=order["revision"],
                      tree_id=order["tree"]["id"], section=order["section"]["id"],
                      withdrawn=sprayer is None, withdraw_reason=order["withdraw_reason"],
                      model=None, model_volume_l=asked, intended_volume_l=asked, clamped="none",
                      volume_l=volume, flow_l_min=flow, under_dosed=False, window=order["window"],
                      sprayer=sprayer, cancelled=cancelled, decided_at=now)  # model None: ours

@component.on_join
async def joined(session, details):
    async def treat(**order):  # orchard.dose.treat; a refusal of the sprayer goes back as it is
        window = order["window"]
        if window is None:  # a withdrawal: always pass it on, a valve may be open for it
            answer = await session.call("orchard.sprayer.withdraw", plan_id=order["plan_id"],
                                        revision=order["revision"], reason=order["withdraw_reason"])
            return decision(order, cancelled=answer.kwresults["withdrawn"])
        volume = litres_for(order["tree"])
        # The window is in GNSS time: use its length, never compare it with this computer's clock.
        opens, closes = (datetime.fromisoformat(window[end]) for end in ("open", "close"))
        flow = volume / ((closes - opens).total_seconds() / 60)  # litres per MINUTE
        answer = await session.call("orchard.sprayer.apply", plan_id=order["plan_id"],
            revision=order["revision"], section=order["section"]["id"], tree_id=order["tree"]["id"],
            open=window["open"], close=window["close"], flow_l_min=flow, volume_l=volume,
            product=PRODUCT, parcel=None, crop=None)  # parcel and crop: unknown to us
        return decision(order, volume, flow, sprayer=answer.kwresults)
    try:
        await session.register(treat, "orchard.dose.treat")
    except ApplicationError as e:  # e.g. procedure_already_exists: verger-dose still runs
        raise SystemExit(f"cannot register orchard.dose.treat: {e.error}")
    print(f"dose module ready on {url}", flush=True)

run([component])
