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

print(json.dumps({"libmaas": "accepted", "system_id": machine.system_id}))
