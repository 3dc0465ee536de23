//! The typed MAAS operations kubemaas uses, with MAAS's paths and parameter names.
//!
//! Retry rules (see `retry.rs`): reads retry on transient failures. Allocate, deploy, release,
//! abort, power on/off, IP reserve/release and DNS create/delete are NEVER retried blindly: if
//! their answer is lost (timeout, connection reset) the caller must find out what happened —
//! `machines(&MachineFilter::agent_name(..))` finds an allocation stamped with its agent name,
//! `machine(id)` shows whether a deploy or release took, `ip_addresses`/`dns_resources` show a
//! reservation or record. Only a 409/503 with `Retry-After` (MAAS rolled it back) is resent.

use super::client::{Call, MaasClient};
use super::error::MaasError;
use super::nomatch;
use super::requests::{
    owner_data_params, AllocateRequest, CreateDnsResource, DeployRequest, DnsResourceFilter,
    EventQuery, MachineFilter, Params, ReleaseRequest, ReserveIpRequest,
};
use super::types::*;
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use serde::Deserialize;
use std::collections::BTreeMap;

/// Characters that cannot appear raw in one path segment.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'/')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}');

fn machine_path(system_id: &str) -> String {
    format!("machines/{}/", utf8_percent_encode(system_id, SEGMENT))
}

#[derive(Deserialize)]
struct PowerStateAnswer {
    state: PowerState,
}

impl MaasClient {
    /// `GET version/`.
    pub async fn version(&self) -> Result<Version, MaasError> {
        self.call_json(&Call::get("version/")).await
    }

    /// `GET users/?op=whoami`: whose key this is (also the cheapest credential check).
    pub async fn whoami(&self) -> Result<User, MaasError> {
        self.call_json(&Call::get("users/").op("whoami")).await
    }

    /// The connect-time check real clients make (gomaasapi does the same): the region's
    /// version, then whose key this is — a wrong key fails here with `Unauthorized`.
    pub async fn identify(&self) -> Result<(Version, User), MaasError> {
        let version = self.version().await?;
        let user = self.whoami().await?;
        Ok((version, user))
    }

    /// `GET zones/`.
    pub async fn zones(&self) -> Result<Vec<Zone>, MaasError> {
        self.call_json(&Call::get("zones/")).await
    }

    /// `GET resourcepools/`.
    pub async fn resource_pools(&self) -> Result<Vec<ResourcePool>, MaasError> {
        self.call_json(&Call::get("resourcepools/")).await
    }

    /// `GET tags/`.
    pub async fn tags(&self) -> Result<Vec<Tag>, MaasError> {
        self.call_json(&Call::get("tags/")).await
    }

    /// `GET domains/`.
    pub async fn domains(&self) -> Result<Vec<Domain>, MaasError> {
        self.call_json(&Call::get("domains/")).await
    }

    /// `GET subnets/`.
    pub async fn subnets(&self) -> Result<Vec<Subnet>, MaasError> {
        self.call_json(&Call::get("subnets/")).await
    }

    /// `GET subnets/<id>/?op=unreserved_ip_ranges`: the free ranges of a subnet.
    pub async fn subnet_unreserved_ip_ranges(
        &self,
        subnet_id: i64,
    ) -> Result<Vec<IpRange>, MaasError> {
        self.call_json(&Call::get(format!("subnets/{subnet_id}/")).op("unreserved_ip_ranges"))
            .await
    }

    /// `GET boot-resources/`: the images machines can be deployed with.
    pub async fn boot_resources(&self) -> Result<Vec<BootResource>, MaasError> {
        self.call_json(&Call::get("boot-resources/")).await
    }

    /// `GET machines/` with filters. An empty filter lists every machine the key may see.
    pub async fn machines(&self, filter: &MachineFilter) -> Result<Vec<Machine>, MaasError> {
        self.call_json(&Call::get("machines/").query(filter.to_params()))
            .await
    }

    /// `GET machines/<id>/`.
    pub async fn machine(&self, system_id: &str) -> Result<Machine, MaasError> {
        self.call_json(&Call::get(machine_path(system_id))).await
    }

    /// `POST machines/?op=allocate`. Nothing matching gives [`MaasError::NoMatch`] naming the
    /// constraints. Not retried blindly: stamp `agent_name` (and `comment`) so that after a lost
    /// answer `machines(&MachineFilter::agent_name(..))` finds the allocation.
    pub async fn allocate(&self, request: &AllocateRequest) -> Result<Allocation, MaasError> {
        let call = Call::post("machines/", Some("allocate"), request.to_params());
        let answer = match self.execute(&call).await {
            Ok(answer) => answer,
            Err(MaasError::Conflict { message, .. }) => {
                let parsed = nomatch::parse(&message);
                return Err(match parsed {
                    Some(text) => MaasError::NoMatch {
                        asked: if text.constraints.is_empty() {
                            request.constraints()
                        } else {
                            text.constraints
                        },
                        resolved: text.resolved,
                        message,
                    },
                    None => MaasError::Conflict {
                        request: call.describe(),
                        message,
                    },
                });
            }
            Err(e) => return Err(e),
        };
        let mut machine: Machine = self.decode(&call, &answer.body)?;
        let constraints_by_type = match machine.extra.remove("constraints_by_type") {
            Some(serde_json::Value::Object(map)) => map,
            _ => serde_json::Map::new(),
        };
        Ok(Allocation {
            machine,
            constraints_by_type,
        })
    }

    /// `POST machines/<id>/?op=deploy` → the machine, already Deploying. Not retried blindly:
    /// after a lost answer, `machine(id)` shows whether it is Deploying.
    pub async fn deploy(
        &self,
        system_id: &str,
        request: &DeployRequest,
    ) -> Result<Machine, MaasError> {
        self.call_json(&Call::post(
            machine_path(system_id),
            Some("deploy"),
            request.to_params(),
        ))
        .await
    }

    /// `POST machines/<id>/?op=release`. Not retried blindly: `machine(id)` shows the outcome
    /// (MAAS treats releasing a Ready or Releasing machine as success).
    pub async fn release(
        &self,
        system_id: &str,
        request: &ReleaseRequest,
    ) -> Result<Machine, MaasError> {
        self.call_json(&Call::post(
            machine_path(system_id),
            Some("release"),
            request.to_params(),
        ))
        .await
    }

    /// `POST machines/<id>/?op=abort`: stops deploying, commissioning or erasing.
    pub async fn abort(
        &self,
        system_id: &str,
        comment: Option<&str>,
    ) -> Result<Machine, MaasError> {
        let mut p = Params::new();
        p.push_opt("comment", comment);
        self.call_json(&Call::post(machine_path(system_id), Some("abort"), p))
            .await
    }

    /// `POST machines/<id>/?op=power_on`.
    pub async fn power_on(
        &self,
        system_id: &str,
        comment: Option<&str>,
    ) -> Result<Machine, MaasError> {
        let mut p = Params::new();
        p.push_opt("comment", comment);
        self.call_json(&Call::post(machine_path(system_id), Some("power_on"), p))
            .await
    }

    /// `POST machines/<id>/?op=power_off`. MAAS answers `null` when it sent no power action.
    pub async fn power_off(
        &self,
        system_id: &str,
        comment: Option<&str>,
    ) -> Result<Option<Machine>, MaasError> {
        let mut p = Params::new();
        p.push_opt("comment", comment);
        self.call_json(&Call::post(machine_path(system_id), Some("power_off"), p))
            .await
    }

    /// `GET machines/<id>/?op=query_power_state`: asks the BMC (can take up to ~60 s).
    /// `unknown` and `error` mean "cannot tell", never "off".
    pub async fn query_power_state(&self, system_id: &str) -> Result<PowerState, MaasError> {
        let answer: PowerStateAnswer = self
            .call_json(&Call::get(machine_path(system_id)).op("query_power_state"))
            .await?;
        Ok(answer.state)
    }

    /// `POST machines/<id>/?op=set_owner_data`: sets these keys; an empty value removes one.
    /// Setting values is idempotent, so this one is retried like a read.
    pub async fn set_owner_data(
        &self,
        system_id: &str,
        data: &BTreeMap<String, String>,
    ) -> Result<Machine, MaasError> {
        let call = Call::post(
            machine_path(system_id),
            Some("set_owner_data"),
            owner_data_params(data),
        )
        .idempotent();
        self.call_json(&call).await
    }

    /// `GET dnsresources/` with filters.
    pub async fn dns_resources(
        &self,
        filter: &DnsResourceFilter,
    ) -> Result<Vec<DnsResource>, MaasError> {
        self.call_json(&Call::get("dnsresources/").query(filter.to_params()))
            .await
    }

    /// `POST dnsresources/` (admin key). Not retried blindly: look it up by fqdn afterwards.
    pub async fn create_dns_resource(
        &self,
        request: &CreateDnsResource,
    ) -> Result<DnsResource, MaasError> {
        self.call_json(&Call::post("dnsresources/", None, request.to_params()))
            .await
    }

    /// `DELETE dnsresources/<id>/` (204).
    pub async fn delete_dns_resource(&self, id: i64) -> Result<(), MaasError> {
        self.call_empty(&Call::delete(format!("dnsresources/{id}/")))
            .await
    }

    /// `POST ipaddresses/?op=reserve`. Not retried blindly: `ip_addresses` shows a reservation
    /// whose answer was lost.
    pub async fn reserve_ip(&self, request: &ReserveIpRequest) -> Result<IpAddress, MaasError> {
        self.call_json(&Call::post(
            "ipaddresses/",
            Some("reserve"),
            request.to_params(),
        ))
        .await
    }

    /// `POST ipaddresses/?op=release` (204).
    pub async fn release_ip(&self, ip: &str) -> Result<(), MaasError> {
        let mut p = Params::new();
        p.push("ip", ip);
        self.call_empty(&Call::post("ipaddresses/", Some("release"), p))
            .await
    }

    /// `GET ipaddresses/`, optionally for one address.
    pub async fn ip_addresses(&self, ip: Option<&str>) -> Result<Vec<IpAddress>, MaasError> {
        let mut p = Params::new();
        p.push_opt("ip", ip);
        self.call_json(&Call::get("ipaddresses/").query(p)).await
    }

    /// `GET events/?op=query`: machines' events, newest first.
    pub async fn events(&self, query: &EventQuery) -> Result<EventPage, MaasError> {
        self.call_json(&Call::get("events/").op("query").query(query.to_params()))
            .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_ids_cannot_escape_their_segment() {
        assert_eq!(machine_path("abc123"), "machines/abc123/");
        assert_eq!(machine_path("../x?y"), "machines/..%2Fx%3Fy/");
    }
}
