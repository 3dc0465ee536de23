"""Acceptance: Canonical's own MAAS client (python-libmaas) works against `kubemaas sim`.

Run by tests/sim_libmaas.rs with MAAS_URL and MAAS_API_KEY set to a running simulator whose clock
is manual; time is moved with the simulator's control endpoint, so nothing here sleeps.
"""

import json
import os
import sys
import urllib.request

from maas.client import connect
from maas.client.enum import NodeStatus

url = os.environ["MAAS_URL"]
key = os.environ["MAAS_API_KEY"]
control = url.rstrip("/").rsplit("/MAAS", 1)[0] + "/_sim"


def advance(seconds):
    req = urllib.request.Request(f"{control}/clock/advance?seconds={seconds}", method="POST")
    with urllib.request.urlopen(req) as resp:
        assert resp.status in (200, 204), resp.status


def check(name, cond, detail=""):
    if not cond:
        print(f"FAILED: {name} {detail}", file=sys.stderr)
        sys.exit(1)
    print(f"ok: {name}")


client = connect(url, apikey=key)

me = client.users.whoami()
check("whoami", bool(me.username), me)

version = client.version.get()
check("version", bool(version.version), version)

zones = client.zones.list()
check("zones", len(zones) > 0, zones)

machines = client.machines.list()
ready = [m for m in machines if m.status == NodeStatus.READY]
check("machines.list", len(ready) > 0, f"{len(machines)} machines, {len(ready)} ready")

machine = client.machines.allocate(
    cpus=1, memory=1024, agent_name="libmaas-acceptance", comment="kubemaas acceptance test"
)
check("allocate", machine.status == NodeStatus.ALLOCATED, machine.status)

machine.deploy(distro_series="jammy", user_data=b"#cloud-config\n{}\n", wait=False)
check("deploy starts", machine.status == NodeStatus.DEPLOYING, machine.status)

advance(3600)
machine.refresh()
check("deployed", machine.status == NodeStatus.DEPLOYED, machine.status)
check("deployed has addresses", len(machine.ip_addresses) > 0, machine.ip_addresses)
check("deployed series", machine.distro_series == "jammy", machine.distro_series)

mine = client.machines.list(hostnames=[machine.hostname])
check("list by hostname", [m.system_id for m in mine] == [machine.system_id])
same = client.machines.get(machine.system_id)
check("get by system id", same.hostname == machine.hostname)

machine.release(comment="kubemaas acceptance done", wait=False)
advance(3600)
machine.refresh()
check("released", machine.status == NodeStatus.READY, machine.status)
check("owner cleared", machine.owner is None, machine.owner)

# Catalogues parse into libmaas's objects.
for name, listing in [
    ("resource_pools", client.resource_pools.list),
    ("tags", client.tags.list),
    ("subnets", client.subnets.list),
    ("fabrics", client.fabrics.list),
    ("spaces", client.spaces.list),
    ("domains", client.domains.list),
    ("boot_resources", client.boot_resources.list),
]:
    items = listing()
    check(name, len(items) > 0, items)
check("interfaces", len(machine.interfaces) > 0, machine.interfaces)
check("block devices", len(machine.block_devices) > 0, machine.block_devices)
check("default series", client.maas.get_default_distro_series() == "jammy")

# Operations whose requests carry no fields: libmaas still sends a (nameless) multipart body.
other = client.machines.allocate(memory=1, comment="ops")
other.power_on(wait=False)
check("power on", other.query_power_state().value == "on", other.power_state)
other.power_off(wait=False)
check("power off", other.query_power_state().value == "off")
other.mark_broken(comment="bad disk")
check("mark broken", other.status == NodeStatus.BROKEN, other.status)
other.mark_fixed(comment="disk replaced")
check("mark fixed", other.status == NodeStatus.READY, other.status)
other = client.machines.allocate(hostname=other.hostname)
other.deploy(wait=False)
other.abort(comment="changed my mind")
check("abort", other.status == NodeStatus.ALLOCATED, other.status)
other.release(erase=True, quick_erase=True, wait=False)
check("erasing", other.status == NodeStatus.DISK_ERASING, other.status)
advance(600)
other.refresh()
check("erased", other.status == NodeStatus.READY, other.status)

tag = client.tags.create("acceptance", comment="made by libmaas")
check("tag create", tag.name == "acceptance", tag)
zone = client.zones.create("acceptance-zone", description="made by libmaas")
check("zone create", zone.name == "acceptance-zone", zone)
creds = client.account.create_credentials()
check("new credentials", len(creds.token_secret) == 32)
events = list(client.events.query(system_ids=[machine.system_id], limit=50))
check("events", any(e.event_type == "Deployed" for e in events), [e.event_type for e in events][:10])
check("event times", all(e.created.year >= 2000 for e in events))

print(json.dumps({"libmaas": "accepted", "system_id": machine.system_id}))
