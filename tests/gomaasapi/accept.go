// Juju's MAAS client, gomaasapi (Debian's golang-github-juju-gomaasapi-dev), against
// `kubemaas sim`: the Controller API and the legacy MAASObject API, with 503 + Retry-After
// injected before the calls that matter so that every one of them goes through gomaasapi's
// retry (which re-signs with a second Authorization header).
//
// Reads MAAS_URL and MAAS_API_KEY (as `kubemaas sim --print-env` prints them). Prints
// {"gomaasapi": "accepted", ...} on success; exits non-zero with the failing step otherwise.
// Run by tests/sim_gomaasapi.rs in GOPATH mode.
package main

import (
	"encoding/json"
	"fmt"
	"io/ioutil"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/juju/gomaasapi"
)

var maasURL, apiKey, control string

func fail(step string, err error) {
	fmt.Fprintf(os.Stderr, "%s: %v\n", step, err)
	os.Exit(1)
}

func check(step string, ok bool, format string, args ...interface{}) {
	if !ok {
		fail(step, fmt.Errorf(format, args...))
	}
}

// sim calls the simulator's control API (no OAuth).
func sim(method, path string, query url.Values) []byte {
	req, err := http.NewRequest(method, control+path+"?"+query.Encode(), nil)
	if err != nil {
		fail("control "+path, err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		fail("control "+path, err)
	}
	defer resp.Body.Close()
	body, _ := ioutil.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		fail("control "+path, fmt.Errorf("%s: %s", resp.Status, body))
	}
	return body
}

// flaky makes the next `count` requests to the endpoint template answer 503 with
// Retry-After: 0, so gomaasapi retries at once (it sleeps for the Retry-After it is given).
func flaky(endpoint, method, op string, count int) {
	q := url.Values{"endpoint": {endpoint}, "method": {method}, "status": {"503"},
		"count": {fmt.Sprint(count)}, "retry_after": {"0"}}
	if op != "" {
		q.Set("op", op)
	}
	sim("POST", "faults/inject", q)
}

// retried checks that every injected 503 was served, i.e. gomaasapi did retry.
func retried(step string) {
	var faults struct {
		Injections []interface{} `json:"injections"`
	}
	if err := json.Unmarshal(sim("GET", "faults", nil), &faults); err != nil {
		fail(step, err)
	}
	check(step, len(faults.Injections) == 0, "injected 503s left unserved: %v", faults.Injections)
}

func main() {
	maasURL, apiKey = os.Getenv("MAAS_URL"), os.Getenv("MAAS_API_KEY")
	check("env", maasURL != "" && apiKey != "", "MAAS_URL and MAAS_API_KEY must be set")
	base, err := url.Parse(maasURL)
	if err != nil {
		fail("MAAS_URL", err)
	}
	control = base.Scheme + "://" + base.Host + "/_sim/"
	report := map[string]interface{}{}

	// NewController: version/, then users/?op=whoami (retried).
	flaky("users/", "GET", "whoami", 2)
	ctl, err := gomaasapi.NewController(gomaasapi.ControllerArgs{BaseURL: maasURL, APIKey: apiKey})
	if err != nil {
		fail("NewController", err)
	}
	retried("NewController")
	check("Capabilities", ctl.Capabilities().Contains("devices-management"), "capabilities %v", ctl.Capabilities())

	flaky("machines/", "GET", "", 2)
	machines, err := ctl.Machines(gomaasapi.MachinesArgs{})
	if err != nil {
		fail("Machines", err)
	}
	retried("Machines")
	check("Machines", len(machines) > 0, "no machines")
	report["machines"] = len(machines)

	zones, err := ctl.Zones()
	if err != nil {
		fail("Zones", err)
	}
	check("Zones", len(zones) > 0, "no zones")
	spaces, err := ctl.Spaces()
	if err != nil {
		fail("Spaces", err)
	}
	subnets := 0
	for _, s := range spaces {
		subnets += len(s.Subnets())
		for _, sub := range s.Subnets() {
			check("Subnets", sub.CIDR() != "" && sub.VLAN() != nil, "subnet %d without CIDR or VLAN", sub.ID())
		}
	}
	check("Spaces", len(spaces) > 0 && subnets > 0, "%d spaces, %d subnets", len(spaces), subnets)
	fabrics, err := ctl.Fabrics()
	if err != nil {
		fail("Fabrics", err)
	}
	check("Fabrics", len(fabrics) > 0 && len(fabrics[0].VLANs()) > 0, "no fabric with VLANs")
	if _, err := ctl.StaticRoutes(); err != nil {
		fail("StaticRoutes", err)
	}
	if _, err := ctl.Domains(); err != nil {
		fail("Domains", err)
	}
	if _, err := ctl.BootResources(); err != nil {
		fail("BootResources", err)
	}
	if _, err := ctl.Tags(); err != nil {
		fail("Tags", err)
	}
	// gomaasapi 2.0.0's Pools() asks for pools/, which MAAS has never served (its pools are
	// at resourcepools/): it fails against a real region and must fail here the same way.
	_, err = ctl.Pools()
	check("Pools", err != nil, "pools/ answered, but MAAS serves resourcepools/")
	report["zones"], report["spaces"], report["subnets"] = len(zones), len(spaces), subnets

	// Allocate with constraints, retried.
	flaky("machines/", "POST", "allocate", 2)
	m, _, err := ctl.AllocateMachine(gomaasapi.AllocateMachineArgs{MinCPUCount: 2, MinMemory: 1024, AgentName: "gomaasapi-accept"})
	if err != nil {
		fail("AllocateMachine", err)
	}
	retried("AllocateMachine")
	check("AllocateMachine", m.StatusName() == "Allocated" && m.CPUCount() >= 2 && m.Memory() >= 1024,
		"got %s (%s, %d CPUs, %d MiB)", m.SystemID(), m.StatusName(), m.CPUCount(), m.Memory())
	check("AllocateMachine", len(m.InterfaceSet()) > 0 && len(m.BlockDevices()) > 0, "machine without interfaces or disks")

	flaky("machines/{system_id}/", "POST", "set_owner_data", 1)
	if err := m.SetOwnerData(map[string]string{"juju-model-uuid": "accept", "claimed": "yes"}); err != nil {
		fail("SetOwnerData", err)
	}
	retried("SetOwnerData")
	owned, err := ctl.Machines(gomaasapi.MachinesArgs{SystemIDs: []string{m.SystemID()}, OwnerData: map[string]string{"claimed": "yes"}})
	if err != nil {
		fail("Machines(owner data)", err)
	}
	check("OwnerData", len(owned) == 1 && owned[0].OwnerData()["juju-model-uuid"] == "accept", "owner data not kept: %v", owned)

	flaky("machines/{system_id}/", "POST", "deploy", 1)
	if err := m.Start(gomaasapi.StartArgs{DistroSeries: "jammy", Comment: "gomaasapi acceptance"}); err != nil {
		fail("Start", err)
	}
	retried("Start")
	check("Start", m.StatusName() == "Deploying", "status after deploy: %s", m.StatusName())
	sim("POST", "clock/advance", url.Values{"seconds": {"3600"}})
	deployed, err := ctl.Machines(gomaasapi.MachinesArgs{SystemIDs: []string{m.SystemID()}})
	if err != nil {
		fail("Machines(deployed)", err)
	}
	check("Deployed", len(deployed) == 1 && deployed[0].StatusName() == "Deployed", "not deployed: %v", deployed)

	// A device hosted on the machine (what Juju does for containers), retried create.
	flaky("devices/", "POST", "", 1)
	dev, err := ctl.CreateDevice(gomaasapi.CreateDeviceArgs{Hostname: "accept-lxd-0", MACAddresses: []string{"52:54:00:aa:bb:01"}, Parent: m.SystemID()})
	if err != nil {
		fail("CreateDevice", err)
	}
	retried("CreateDevice")
	check("CreateDevice", dev.Parent() == m.SystemID() && len(dev.InterfaceSet()) == 1, "device %s parent %q", dev.SystemID(), dev.Parent())
	hosted, err := deployed[0].Devices(gomaasapi.DevicesArgs{})
	if err != nil {
		fail("Machine.Devices", err)
	}
	check("Machine.Devices", len(hosted) == 1 && hosted[0].Hostname() == "accept-lxd-0", "hosted devices: %v", hosted)
	flaky("devices/{system_id}/", "DELETE", "", 1)
	if err := dev.Delete(); err != nil {
		fail("Device.Delete", err)
	}
	retried("Device.Delete")
	left, err := ctl.Devices(gomaasapi.DevicesArgs{})
	if err != nil {
		fail("Devices", err)
	}
	check("Devices", len(left) == 0, "device still listed after delete")

	// Files: add (multipart, retried), list, get, read, delete.
	content := []byte("gomaasapi\x00binary\xffcontent\n")
	flaky("files/", "POST", "", 1)
	if err := ctl.AddFile(gomaasapi.AddFileArgs{Filename: "accept-state", Content: content}); err != nil {
		fail("AddFile", err)
	}
	retried("AddFile")
	files, err := ctl.Files("accept-")
	if err != nil {
		fail("Files", err)
	}
	check("Files", len(files) == 1 && files[0].Filename() == "accept-state", "files: %v", files)
	listed, err := files[0].ReadAll()
	if err != nil {
		fail("File.ReadAll (listed)", err)
	}
	check("File.ReadAll", string(listed) == string(content), "content %q", listed)
	f, err := ctl.GetFile("accept-state")
	if err != nil {
		fail("GetFile", err)
	}
	got, err := f.ReadAll()
	if err != nil {
		fail("File.ReadAll", err)
	}
	check("GetFile", string(got) == string(content), "content %q", got)
	anon, err := http.Get(f.AnonymousURL())
	if err != nil {
		fail("AnonymousURL", err)
	}
	anonBody, _ := ioutil.ReadAll(anon.Body)
	anon.Body.Close()
	check("AnonymousURL", anon.StatusCode == 200 && string(anonBody) == string(content), "%s %q", anon.Status, anonBody)
	if err := f.Delete(); err != nil {
		fail("File.Delete", err)
	}
	_, err = ctl.GetFile("accept-state")
	check("GetFile(deleted)", gomaasapi.IsNoMatchError(err), "expected no match, got %v", err)

	// Release, retried.
	flaky("machines/", "POST", "release", 1)
	if err := ctl.ReleaseMachines(gomaasapi.ReleaseMachinesArgs{SystemIDs: []string{m.SystemID()}, Comment: "done"}); err != nil {
		fail("ReleaseMachines", err)
	}
	retried("ReleaseMachines")
	sim("POST", "clock/advance", url.Values{"seconds": {"3600"}})
	released, err := ctl.Machines(gomaasapi.MachinesArgs{SystemIDs: []string{m.SystemID()}})
	if err != nil {
		fail("Machines(released)", err)
	}
	check("ReleaseMachines", len(released) == 1 && released[0].StatusName() == "Ready", "status %v", released[0].StatusName())

	// The legacy MAASObject API.
	client, err := gomaasapi.NewAuthenticatedClient(strings.TrimSuffix(maasURL, "/")+"/api/2.0/", apiKey)
	if err != nil {
		fail("NewAuthenticatedClient", err)
	}
	maas := gomaasapi.NewMAAS(*client)
	flaky("machines/", "GET", "", 1)
	list, err := maas.GetSubObject("machines").CallGet("", nil)
	if err != nil {
		fail("MAASObject machines", err)
	}
	retried("MAASObject machines")
	objs, err := list.GetArray()
	if err != nil {
		fail("MAASObject machines", err)
	}
	check("MAASObject machines", len(objs) == len(machines), "%d machines, Controller saw %d", len(objs), len(machines))
	first, err := objs[0].GetMAASObject()
	if err != nil {
		fail("MAASObject machine", err)
	}
	again, err := first.Get() // a GET on its resource_uri
	if err != nil {
		fail("MAASObject Get", err)
	}
	id1, _ := first.GetField("system_id")
	id2, _ := again.GetField("system_id")
	check("MAASObject Get", id1 != "" && id1 == id2, "%q vs %q", id1, id2)
	pools, err := maas.GetSubObject("resourcepools").CallGet("", nil)
	if err != nil {
		fail("MAASObject resourcepools", err)
	}
	poolList, err := pools.GetArray()
	check("MAASObject resourcepools", err == nil && len(poolList) > 0, "pools: %v", err)
	report["pools"] = len(poolList)

	// The rest of what kubemaas's own client calls (src/maas/ops.rs), through the legacy API,
	// so a second client agrees with the simulator on every endpoint kubemaas depends on.
	// MAAS powers on only machines someone holds ("Can't start node: it hasn't been
	// allocated."), and m was released above: take it again, by system_id.
	if _, _, err := ctl.AllocateMachine(gomaasapi.AllocateMachineArgs{SystemId: m.SystemID()}); err != nil {
		fail("AllocateMachine(system_id)", err)
	}
	node := maas.GetSubObject("machines").GetSubObject(m.SystemID())
	for _, op := range []string{"power_on", "power_off"} {
		if _, err := node.CallPost(op, nil); err != nil {
			fail("MAASObject "+op, err)
		}
	}
	power, err := node.CallGet("query_power_state", nil)
	if err != nil {
		fail("MAASObject query_power_state", err)
	}
	state, _ := power.GetMap()
	check("query_power_state", !state["state"].IsNil(), "no state in %v", state)
	if _, err := node.CallPost("deploy", nil); err != nil {
		fail("MAASObject deploy", err)
	}
	if _, err := node.CallPost("abort", nil); err != nil {
		fail("MAASObject abort", err)
	}
	if _, err := node.CallPost("release", nil); err != nil {
		fail("MAASObject release", err)
	}
	subnetID := spaces[0].Subnets()[0].ID()
	if _, err := maas.GetSubObject(fmt.Sprintf("subnets/%d", subnetID)).CallGet("unreserved_ip_ranges", nil); err != nil {
		fail("MAASObject unreserved_ip_ranges", err)
	}
	reserved, err := maas.GetSubObject("ipaddresses").CallPost("reserve", url.Values{"subnet": {fmt.Sprint(subnetID)}})
	if err != nil {
		fail("MAASObject ipaddresses reserve", err)
	}
	reservedMap, _ := reserved.GetMap()
	ip, _ := reservedMap["ip"].GetString()
	if _, err := maas.GetSubObject("ipaddresses").CallGet("", nil); err != nil {
		fail("MAASObject ipaddresses", err)
	}
	if _, err := maas.GetSubObject("ipaddresses").CallPost("release", url.Values{"ip": {ip}}); err != nil {
		fail("MAASObject ipaddresses release", err)
	}
	record, err := maas.GetSubObject("dnsresources").Post(url.Values{"fqdn": {"accept.maas"}, "ip_addresses": {"10.99.0.9"}})
	if err != nil {
		fail("MAASObject dnsresources create", err)
	}
	recordObj, err := record.GetMAASObject()
	if err != nil {
		fail("MAASObject dnsresource", err)
	}
	if err := recordObj.Delete(); err != nil {
		fail("MAASObject dnsresource delete", err)
	}
	if _, err := maas.GetSubObject("events").CallGet("query", url.Values{"id": {m.SystemID()}}); err != nil {
		fail("MAASObject events query", err)
	}

	report["gomaasapi"] = "accepted"
	out, _ := json.Marshal(report)
	fmt.Println(string(out))
}
