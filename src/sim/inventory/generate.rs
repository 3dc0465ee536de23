//! A generated region: a fixed catalogue (zones, pools, tags, domains, networks, images) and a
//! seeded fleet of machines that looks like a real data centre's: mostly Ready servers of a few
//! vendor models, some New, Commissioning, Broken, and some Deployed for other teams.
//!
//! Everything random comes from one ChaCha8 stream seeded with the caller's seed and drawn in a
//! fixed order, so the same seed always gives the same fleet on every platform.

use super::names::{ADJECTIVES, ANIMALS};
use crate::maas::{BootResource, Domain, NodeStatus, PowerState, ResourcePool, Tag, Zone};
use crate::sim::model::{
    SimCatalog, SimDisk, SimFabric, SimInventory, SimMachine, SimNic, SimSpace, SimSubnet, SimVlan,
};
use rand::seq::IndexedRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashSet};
use std::net::Ipv4Addr;

/// The rack controller serving DHCP/PXE on the provisioning VLAN.
const RACK_ID: &str = "k7qnr4";
/// The subnets machines link to (ids in [`catalog`]).
const MGMT_SUBNET: i64 = 1;
const STORAGE_SUBNET: i64 = 2;
const PUBLIC_SUBNET: i64 = 3;
/// Users other than the simulator's own that own deployed machines.
const OTHER_OWNERS: &[&str] = &["ops", "dataplat", "ml-team"];

/// The catalogue every generated region has.
pub fn catalog() -> SimCatalog {
    let zones = vec![
        zone(1, "default", ""),
        zone(2, "az-1", "Hall A, rows 1-4, power feed A"),
        zone(3, "az-2", "Hall A, rows 5-8, power feed B"),
        zone(4, "az-3", "Hall B, rows 1-6, separate cooling loop"),
    ];
    let pools = vec![
        pool(0, "default", "Default pool"),
        pool(1, "compute", "General-purpose Kubernetes workers"),
        pool(2, "storage", "Storage-dense nodes for Ceph"),
        pool(3, "gpu", "GPU nodes for ML training and inference"),
    ];
    let tags = vec![
        tag(
            "virtual",
            "//node[@class=\"system\"]/vendor = \"QEMU\"",
            "Virtual machines (KVM/LXD)",
            "",
        ),
        tag(
            "physical",
            "not(//node[@class=\"system\"]/vendor = \"QEMU\")",
            "Bare-metal servers",
            "",
        ),
        tag(
            "ssd",
            "//node[@class=\"disk\"]/capabilities/capability[@id=\"ssd\"]",
            "Has a SATA/SAS solid-state disk",
            "",
        ),
        tag(
            "nvme",
            "//node[@class=\"storage\"]/description = \"NVMe device\"",
            "Has NVMe storage",
            "",
        ),
        tag(
            "rotary",
            "//node[@class=\"disk\"]/capabilities/capability[@id=\"rotational\"]",
            "Has spinning disks",
            "",
        ),
        tag(
            "gpu",
            "//node[@class=\"display\"]/vendor = \"NVIDIA Corporation\"",
            "NVIDIA datacentre GPU installed",
            "modprobe.blacklist=nouveau",
        ),
        tag(
            "10g",
            "//node[@class=\"network\"]/capacity >= 10000000000",
            "10 GbE uplinks",
            "",
        ),
        tag(
            "25g",
            "//node[@class=\"network\"]/capacity >= 25000000000",
            "25 GbE uplinks",
            "",
        ),
        tag(
            "hugemem",
            "//node[@id=\"memory\"]/size >= 549755813888",
            "512 GiB of memory or more",
            "default_hugepagesz=1G",
        ),
    ];
    let domains = vec![
        Domain {
            id: 0,
            name: "maas".into(),
            ttl: None,
            authoritative: true,
            is_default: true,
            resource_record_count: 0,
            resource_uri: "/MAAS/api/2.0/domains/0/".into(),
        },
        Domain {
            id: 1,
            name: "dc1.example.com".into(),
            ttl: Some(300),
            authoritative: true,
            is_default: false,
            resource_record_count: 0,
            resource_uri: "/MAAS/api/2.0/domains/1/".into(),
        },
    ];
    let fabrics = vec![
        SimFabric {
            id: 0,
            name: "fabric-0".into(),
            class_type: None,
        },
        SimFabric {
            id: 1,
            name: "fabric-1".into(),
            class_type: None,
        },
    ];
    let spaces = vec![
        space(
            1,
            "internal",
            "Provisioning, management and cluster traffic",
        ),
        space(2, "storage", "Storage replication traffic (jumbo frames)"),
        space(3, "public", "Routed access from the corporate network"),
    ];
    let mgmt_vlan = vlan(5001, 0, "fabric-0", 0, 1500, true, Some("internal"));
    let storage_vlan = vlan(5002, 100, "fabric-0", 0, 9000, false, Some("storage"));
    let public_vlan = vlan(5003, 0, "fabric-1", 1, 1500, false, Some("public"));
    let subnets = vec![
        subnet(
            MGMT_SUBNET,
            "10.10.0.0/16",
            Some("10.10.0.1"),
            &["10.10.0.2"],
            &mgmt_vlan,
            "internal",
            "Provisioning and management",
        ),
        subnet(
            STORAGE_SUBNET,
            "10.20.0.0/16",
            None,
            &[],
            &storage_vlan,
            "storage",
            "Storage network, no route out",
        ),
        subnet(
            PUBLIC_SUBNET,
            "192.168.32.0/20",
            Some("192.168.32.1"),
            &["192.168.32.2", "192.168.32.3"],
            &public_vlan,
            "public",
            "Public ingress",
        ),
    ];
    let boot_resources = vec![
        boot(
            "Synced",
            1,
            "ubuntu/focal",
            "amd64/ga-20.04",
            "Ubuntu 20.04 LTS",
        ),
        boot(
            "Synced",
            2,
            "ubuntu/jammy",
            "amd64/ga-22.04",
            "Ubuntu 22.04 LTS",
        ),
        boot(
            "Synced",
            3,
            "ubuntu/noble",
            "amd64/ga-24.04",
            "Ubuntu 24.04 LTS",
        ),
        boot(
            "Uploaded",
            4,
            "custom/k8s-node-jammy",
            "amd64/generic",
            "Kubernetes node image (jammy, containerd)",
        ),
    ];
    SimCatalog {
        zones,
        pools,
        tags,
        domains,
        subnets,
        boot_resources,
        vlans: vec![mgmt_vlan, storage_vlan, public_vlan],
        fabrics,
        spaces,
    }
}

/// `machines` machines over [`catalog`], the same for the same `seed`.
pub fn fleet(machines: usize, seed: u64) -> SimInventory {
    let catalog = catalog();
    let mut g = Generator {
        rng: ChaCha8Rng::seed_from_u64(seed),
        hostnames: HashSet::with_capacity(machines),
        system_ids: HashSet::with_capacity(machines),
        next_disk_id: 1,
        next_nic_id: 1,
        next_link_id: 1,
        mac_offset: (seed as u32) & 0xff_ffff,
    };
    let list = (0..machines).map(|i| g.machine(i, &catalog)).collect();
    SimInventory {
        catalog,
        machines: list,
    }
}

struct Generator {
    rng: ChaCha8Rng,
    hostnames: HashSet<String>,
    system_ids: HashSet<String>,
    next_disk_id: i64,
    next_nic_id: i64,
    next_link_id: i64,
    mac_offset: u32,
}

/// A server model: who makes it, what MAAS reads from its SMBIOS, how it is powered.
struct Vendor {
    vendor: &'static str,
    products: &'static [&'static str],
    family: &'static str,
    board: &'static str,
    firmware_vendor: &'static str,
    nic_oui: &'static str,
}

const VENDORS: &[Vendor] = &[
    Vendor {
        vendor: "Dell Inc.",
        products: &["PowerEdge R650", "PowerEdge R750", "PowerEdge R7525"],
        family: "PowerEdge",
        board: "0JMK61",
        firmware_vendor: "Dell Inc.",
        nic_oui: "b0:7b:25",
    },
    Vendor {
        vendor: "HPE",
        products: &["ProLiant DL360 Gen10 Plus", "ProLiant DL380 Gen10 Plus"],
        family: "ProLiant",
        board: "ProLiant DL380 Gen10 Plus",
        firmware_vendor: "HPE",
        nic_oui: "94:40:c9",
    },
    Vendor {
        vendor: "Supermicro",
        products: &["SYS-1029U-TRT", "SYS-2029U-TR4", "AS-2124US-TNRP"],
        family: "SMC X11",
        board: "X11DPU",
        firmware_vendor: "American Megatrends Inc.",
        nic_oui: "3c:ec:ef",
    },
    Vendor {
        vendor: "Lenovo",
        products: &["ThinkSystem SR650 V2", "ThinkSystem SR630 V2"],
        family: "ThinkSystem",
        board: "7Z73CTO1WW",
        firmware_vendor: "Lenovo",
        nic_oui: "08:94:ef",
    },
];

/// (model, bytes, tags) of the disks the fleet uses; sizes are real drives' capacities.
const SATA_SSDS: &[(&str, u64)] = &[
    ("SAMSUNG MZ7L3480HCHQ-00A07", 480_103_981_056),
    ("SAMSUNG MZ7L3960HCJR-00A07", 960_197_124_096),
    ("INTEL SSDSC2KG019T8", 1_920_383_410_176),
];
const NVMES: &[(&str, u64)] = &[
    ("SAMSUNG MZQL2960HCJR-00A07", 960_197_124_096),
    ("INTEL SSDPE2KX040T8", 4_000_787_030_016),
    ("Micron_7450_MTFDKCC7T6TFR", 7_681_501_126_656),
];
const HDDS: &[(&str, u64)] = &[
    ("ST8000NM000A-2KE101", 8_001_563_222_016),
    ("ST16000NM001G-2KK103", 16_000_900_661_248),
    ("WDC WUH721818ALE6L4", 18_000_207_937_536),
];

/// Standard DIMM totals, GiB: memory always lands on one of these.
const MEMORY_GIB: &[u64] = &[8, 16, 32, 64, 96, 128, 192, 256, 384, 512, 768, 1024];

impl Generator {
    fn machine(&mut self, index: usize, catalog: &SimCatalog) -> SimMachine {
        let system_id = self.system_id();
        let hostname = self.hostname();
        // The first machine is always Ready so even a one-machine fleet can be allocated.
        let status = if index == 0 {
            NodeStatus::Ready
        } else {
            self.status()
        };
        let pool = *weighted(
            &mut self.rng,
            &[
                ("default", 35),
                ("compute", 35),
                ("storage", 18),
                ("gpu", 12),
            ],
        );
        let zone = ["default", "az-1", "az-2", "az-3"][self.rng.random_range(0..4)];
        let domain = if self.rng.random_bool(0.15) {
            "dc1.example.com"
        } else {
            "maas"
        };
        let virtual_machine = pool == "default" && self.rng.random_bool(0.3);
        let vendor = &VENDORS[self.rng.random_range(0..VENDORS.len())];

        let (cpu_count, memory_mib) = self.size(pool, virtual_machine);
        let cpu_speed = if virtual_machine {
            2400
        } else {
            [2000, 2100, 2400, 2600, 2800, 3000][self.rng.random_range(0..6)]
        };
        let disks = self.disks(pool, virtual_machine);
        let fast =
            !virtual_machine && (pool == "storage" || pool == "gpu" || self.rng.random_bool(0.3));
        let nics = self.nics(pool, virtual_machine, fast, vendor);
        let power_type = if virtual_machine {
            if self.rng.random_bool(0.7) {
                "virsh"
            } else {
                "lxd"
            }
        } else {
            *weighted(
                &mut self.rng,
                &[("ipmi", 65), ("redfish", 30), ("manual", 5)],
            )
        };

        let mut tags = vec![if virtual_machine {
            "virtual"
        } else {
            "physical"
        }
        .to_string()];
        for kind in ["ssd", "nvme", "rotary"] {
            if disks.iter().any(|d| d.tags.iter().any(|t| t == kind)) {
                tags.push(kind.to_string());
            }
        }
        if pool == "gpu" {
            tags.push("gpu".into());
        }
        if !virtual_machine {
            tags.push(if fast { "25g" } else { "10g" }.into());
        }
        if memory_mib >= 512 * 1024 {
            tags.push("hugemem".into());
        }

        let hardware_info = self.hardware_info(vendor, virtual_machine, cpu_count, cpu_speed);
        let description = if !virtual_machine && self.rng.random_bool(0.1) {
            format!(
                "Rack {}{:02}, U{}",
                ["A", "B", "C"][self.rng.random_range(0..3)],
                self.rng.random_range(1..=24),
                self.rng.random_range(1..=42)
            )
        } else {
            String::new()
        };

        let mut m = SimMachine {
            system_id,
            hostname,
            domain: domain.into(),
            status,
            status_message: Some(status.label().to_string()),
            cpu_count,
            cpu_speed,
            memory_mib,
            architecture: "amd64/generic".into(),
            zone: zone.into(),
            pool: pool.into(),
            tags,
            power_type: power_type.into(),
            power_state: PowerState::Off,
            disks,
            nics,
            owner: None,
            owner_data: BTreeMap::new(),
            agent_name: String::new(),
            osystem: String::new(),
            distro_series: String::new(),
            hwe_kernel: None,
            min_hwe_kernel: String::new(),
            user_data: None,
            locked: false,
            description,
            error_description: String::new(),
            hardware_info,
            passthrough: Map::new(),
        };
        self.apply_status(&mut m, index, catalog);
        m
    }

    /// Mostly Ready; the rest is what a working region always has lying around.
    fn status(&mut self) -> NodeStatus {
        *weighted(
            &mut self.rng,
            &[
                (NodeStatus::Ready, 820),
                (NodeStatus::New, 40),
                (NodeStatus::Commissioning, 20),
                (NodeStatus::Broken, 25),
                (NodeStatus::Deployed, 95),
            ],
        )
    }

    /// Fills in what a machine in `m.status` looks like: owners and images for deployed ones,
    /// nothing known yet for new ones, a reason for broken ones.
    fn apply_status(&mut self, m: &mut SimMachine, index: usize, catalog: &SimCatalog) {
        match m.status {
            NodeStatus::New => {
                // Before commissioning MAAS knows only the PXE interface.
                m.status_message = None;
                m.cpu_count = 0;
                m.cpu_speed = 0;
                m.memory_mib = 0;
                m.disks.clear();
                m.nics.truncate(1);
                m.tags.clear();
                m.hardware_info.clear();
                m.power_state = PowerState::Unknown;
            }
            NodeStatus::Commissioning => {
                m.status_message = Some("Commissioning".into());
                m.power_state = PowerState::On;
            }
            NodeStatus::Broken => {
                let reasons = [
                    "PSU 2 failed; replacement ordered",
                    "DIMM B3 uncorrectable ECC errors",
                    "BMC unreachable since firmware update",
                    "Boot disk SMART failure",
                    "NIC flapping on eno1",
                ];
                let reason = reasons[self.rng.random_range(0..reasons.len())];
                m.error_description = reason.to_string();
                m.status_message = Some(format!("Marked broken - {reason}"));
                m.power_state = if self.rng.random_bool(0.5) {
                    PowerState::Off
                } else {
                    PowerState::Error
                };
            }
            NodeStatus::Deployed => {
                let owner = OTHER_OWNERS[self.rng.random_range(0..OTHER_OWNERS.len())];
                let (series, kernel) = *[
                    ("jammy", "ga-22.04"),
                    ("noble", "ga-24.04"),
                    ("focal", "ga-20.04"),
                ]
                .choose(&mut self.rng)
                .unwrap_or(&("jammy", "ga-22.04"));
                m.owner = Some(owner.into());
                m.osystem = "ubuntu".into();
                m.distro_series = series.into();
                m.hwe_kernel = Some(kernel.into());
                m.power_state = PowerState::On;
                m.status_message = Some("Deployed".into());
                m.locked = self.rng.random_bool(0.2);
                if owner == "ops" {
                    let model = uuid_like(&mut self.rng);
                    m.agent_name = model.clone();
                    m.owner_data.insert("juju-model-uuid".into(), model);
                    m.owner_data
                        .insert("juju-is-controller".into(), "false".into());
                } else {
                    m.owner_data.insert("team".into(), owner.into());
                    m.owner_data.insert(
                        "ticket".into(),
                        format!("OPS-{}", self.rng.random_range(1000..10000)),
                    );
                }
                // Deployed machines hold addresses on every auto link.
                for nic in &mut m.nics {
                    if nic.link_mode == "auto" {
                        nic.ip_address = nic
                            .subnet_id
                            .and_then(|id| catalog.subnet(id))
                            .and_then(|s| fixed_address(&s.cidr, index));
                    }
                }
            }
            _ => {}
        }
    }

    /// Cores and memory for the pool: GPU boxes are big, storage boxes modest, VMs small.
    fn size(&mut self, pool: &str, virtual_machine: bool) -> (u32, u64) {
        let cores: &[u32] = if virtual_machine {
            &[4, 4, 8, 8, 16]
        } else {
            match pool {
                "compute" => &[16, 24, 32, 48, 64, 96],
                "storage" => &[8, 12, 16, 24, 32],
                "gpu" => &[32, 48, 64, 96, 128],
                _ => &[4, 8, 12, 16, 24, 32, 64, 128],
            }
        };
        let cpu = cores[self.rng.random_range(0..cores.len())];
        let per_core_gib = [2u64, 4, 4, 8][self.rng.random_range(0..4)];
        let wanted = u64::from(cpu) * per_core_gib;
        let gib = MEMORY_GIB
            .iter()
            .copied()
            .find(|&g| g >= wanted)
            .unwrap_or(1024);
        (cpu, gib * 1024)
    }

    /// 1-4 disks: a boot SSD or NVMe, plus data disks by pool.
    fn disks(&mut self, pool: &str, virtual_machine: bool) -> Vec<SimDisk> {
        let mut specs: Vec<(&str, u64, &str)> = Vec::new();
        if virtual_machine {
            let count = self.rng.random_range(1..=2);
            for _ in 0..count {
                let gb = [20u64, 40, 60, 100][self.rng.random_range(0..4)];
                specs.push(("QEMU HARDDISK", gb * 1_000_000_000, "rotary"));
            }
        } else {
            if self.rng.random_bool(0.6) {
                let (model, size) = SATA_SSDS[self.rng.random_range(0..SATA_SSDS.len())];
                specs.push((model, size, "ssd"));
            } else {
                let (model, size) = NVMES[self.rng.random_range(0..2)];
                specs.push((model, size, "nvme"));
            }
            let data = match pool {
                "storage" => self.rng.random_range(2..=3),
                "gpu" => 1,
                "compute" => self.rng.random_range(0..=1),
                _ => self.rng.random_range(0..=2),
            };
            for _ in 0..data {
                if pool == "storage" {
                    let (model, size) = HDDS[self.rng.random_range(0..HDDS.len())];
                    specs.push((model, size, "rotary"));
                } else {
                    let (model, size) = NVMES[self.rng.random_range(1..NVMES.len())];
                    specs.push((model, size, "nvme"));
                }
            }
        }
        let (mut sd, mut nvme) = (0u8, 0u8);
        specs
            .into_iter()
            .map(|(model, size_bytes, kind)| {
                let name = if kind == "nvme" {
                    nvme += 1;
                    format!("nvme{}n1", nvme - 1)
                } else {
                    sd += 1;
                    format!("sd{}", char::from(b'a' + sd - 1))
                };
                let id = self.next_disk_id;
                self.next_disk_id += 1;
                let serial = if model == "QEMU HARDDISK" {
                    format!("QM{:05}", id % 100_000)
                } else {
                    alnum_upper(&mut self.rng, 14)
                };
                SimDisk {
                    id,
                    name,
                    size_bytes,
                    model: model.into(),
                    serial,
                    tags: vec![kind.to_string()],
                    extra: Map::new(),
                }
            })
            .collect()
    }

    /// The PXE NIC on the management subnet, and a second one on the storage network for storage
    /// and GPU nodes (or, for some others, up but unaddressed on the public fabric).
    fn nics(
        &mut self,
        pool: &str,
        virtual_machine: bool,
        fast: bool,
        vendor: &Vendor,
    ) -> Vec<SimNic> {
        let mut plan: Vec<(i64, &str)> = vec![(MGMT_SUBNET, "auto")];
        if !virtual_machine {
            if pool == "storage" || pool == "gpu" {
                plan.push((STORAGE_SUBNET, "auto"));
            } else if self.rng.random_bool(0.15) {
                plan.push((PUBLIC_SUBNET, "link_up"));
            }
        }
        plan.into_iter()
            .enumerate()
            .map(|(n, (subnet_id, mode))| {
                let id = self.next_nic_id;
                self.next_nic_id += 1;
                let link_id = self.next_link_id;
                self.next_link_id += 1;
                let (name, oui) = if virtual_machine {
                    (format!("ens{}", 3 + n), "52:54:00")
                } else if fast {
                    (format!("enp65s0f{n}"), "b8:59:9f")
                } else {
                    (format!("eno{}", n + 1), vendor.nic_oui)
                };
                let mut extra = Map::new();
                if virtual_machine {
                    extra.insert("vendor".into(), json!("Red Hat, Inc."));
                    extra.insert("product".into(), json!("Virtio network device"));
                } else {
                    let speed = if fast { 25_000 } else { 10_000 };
                    let (nic_vendor, product, firmware) = if fast {
                        (
                            "Mellanox Technologies",
                            "MT27710 Family [ConnectX-4 Lx]",
                            "14.32.1010",
                        )
                    } else {
                        (
                            "Intel Corporation",
                            "Ethernet Controller X710 for 10GbE SFP+",
                            "8.50 0x8000b6c5 1.3082.0",
                        )
                    };
                    extra.insert("vendor".into(), json!(nic_vendor));
                    extra.insert("product".into(), json!(product));
                    extra.insert("firmware_version".into(), json!(firmware));
                    extra.insert("interface_speed".into(), json!(speed));
                    extra.insert("link_speed".into(), json!(speed));
                }
                SimNic {
                    id,
                    name,
                    mac_address: self.mac(oui, id),
                    subnet_id: Some(subnet_id),
                    ip_address: None,
                    link_id,
                    link_mode: mode.into(),
                    vlan_id: None,
                    more_links: Vec::new(),
                    extra,
                }
            })
            .collect()
    }

    /// A MAC under `oui` unique in the fleet: the NIC id through a bijection of 24 bits (an odd
    /// multiplier and an offset, both invertible mod 2^24) so addresses look scattered.
    fn mac(&self, oui: &str, nic_id: i64) -> String {
        let low = ((nic_id as u32)
            .wrapping_mul(0x9e_3779)
            .wrapping_add(self.mac_offset))
            & 0xff_ffff;
        format!(
            "{oui}:{:02x}:{:02x}:{:02x}",
            (low >> 16) & 0xff,
            (low >> 8) & 0xff,
            low & 0xff
        )
    }

    fn hardware_info(
        &mut self,
        vendor: &Vendor,
        virtual_machine: bool,
        cpu_count: u32,
        cpu_speed: u32,
    ) -> BTreeMap<String, String> {
        let mut h = BTreeMap::new();
        let mut set = |k: &str, v: String| {
            h.insert(k.to_string(), v);
        };
        if virtual_machine {
            set("system_vendor", "QEMU".into());
            set("system_product", "Standard PC (Q35 + ICH9, 2009)".into());
            set("system_version", "pc-q35-6.2".into());
            set("cpu_model", "Intel Core Processor (Icelake)".into());
            set(
                "mainboard_firmware_vendor",
                "EFI Development Kit II / OVMF".into(),
            );
            set("mainboard_firmware_version", "0.0.0".into());
            set("mainboard_firmware_date", "02/06/2015".into());
            set("chassis_vendor", "QEMU".into());
            set("chassis_type", "Other".into());
            return h;
        }
        let product = vendor.products[self.rng.random_range(0..vendor.products.len())];
        let amd = product.contains("7525") || product.starts_with("AS-");
        let per_socket = if cpu_count >= 32 {
            cpu_count / 2
        } else {
            cpu_count
        };
        let ghz = f64::from(cpu_speed) / 1000.0;
        let cpu_model = if amd {
            format!(
                "AMD EPYC 7{:03} {per_socket}-Core Processor",
                300 + per_socket * 7
            )
        } else {
            format!(
                "Intel(R) Xeon(R) Gold 6{:03} CPU @ {ghz:.2}GHz",
                300 + per_socket
            )
        };
        let serial = alnum_upper(&mut self.rng, 7);
        set("system_vendor", vendor.vendor.into());
        set("system_product", product.into());
        set("system_family", vendor.family.into());
        set("system_serial", serial.clone());
        set("cpu_model", cpu_model);
        set("mainboard_vendor", vendor.vendor.into());
        set("mainboard_product", vendor.board.into());
        set(
            "mainboard_serial",
            format!(".{serial}.CNFCP00{}.", self.rng.random_range(10..99)),
        );
        set("mainboard_firmware_vendor", vendor.firmware_vendor.into());
        set(
            "mainboard_firmware_version",
            format!(
                "{}.{}.{}",
                self.rng.random_range(1..3),
                self.rng.random_range(0..20),
                self.rng.random_range(0..10)
            ),
        );
        set(
            "mainboard_firmware_date",
            format!(
                "{:02}/{:02}/20{}",
                self.rng.random_range(1..13),
                self.rng.random_range(1..29),
                self.rng.random_range(21..25)
            ),
        );
        set("chassis_vendor", vendor.vendor.into());
        set("chassis_type", "Rack Mount Chassis".into());
        set("chassis_serial", serial);
        h
    }

    /// A unique MAAS-style system_id: six characters from MAAS's alphabet (digits and lowercase
    /// letters without the easily confused ones).
    fn system_id(&mut self) -> String {
        const ALPHABET: &[u8] = b"0123456789abcdefghjkmnpqrstwxy";
        loop {
            let id: String = (0..6)
                .map(|_| char::from(ALPHABET[self.rng.random_range(0..ALPHABET.len())]))
                .collect();
            if self.system_ids.insert(id.clone()) {
                return id;
            }
        }
    }

    /// A unique petname: "adjective-animal"; after a few collisions a second adjective, and a
    /// number as the last resort (reached only when the word space is nearly used up).
    fn hostname(&mut self) -> String {
        for attempt in 0..16 {
            let animal = ANIMALS[self.rng.random_range(0..ANIMALS.len())];
            let adjective = ADJECTIVES[self.rng.random_range(0..ADJECTIVES.len())];
            let name = if attempt < 8 {
                format!("{adjective}-{animal}")
            } else {
                let second = ADJECTIVES[self.rng.random_range(0..ADJECTIVES.len())];
                format!("{adjective}-{second}-{animal}")
            };
            if self.hostnames.insert(name.clone()) {
                return name;
            }
        }
        let mut n = self.hostnames.len();
        loop {
            let name = format!("node-{n}");
            if self.hostnames.insert(name.clone()) {
                return name;
            }
            n += 1;
        }
    }
}

/// The `index`-th machine's fixed address on a subnet: past the first /24 (kept for gateways,
/// DNS and the rack), 250 machines per /24 (.2 to .251), so generated addresses never collide
/// with infrastructure and never end in .0 or .255.
fn fixed_address(cidr: &str, index: usize) -> Option<String> {
    let net: ipnet::Ipv4Net = cidr.parse().ok()?;
    let index = u32::try_from(index).ok()?;
    let offset = (index / 250 + 1)
        .checked_mul(256)?
        .checked_add(index % 250 + 2)?;
    let host = u32::from(net.network()).checked_add(offset)?;
    let addr = Ipv4Addr::from(host);
    (net.contains(&addr) && addr != net.broadcast()).then(|| addr.to_string())
}

fn weighted<'a, T>(rng: &mut ChaCha8Rng, choices: &'a [(T, u32)]) -> &'a T {
    let total: u32 = choices.iter().map(|(_, w)| w).sum();
    let mut pick = rng.random_range(0..total);
    for (value, weight) in choices {
        if pick < *weight {
            return value;
        }
        pick -= weight;
    }
    &choices[choices.len() - 1].0
}

fn alnum_upper(rng: &mut ChaCha8Rng, len: usize) -> String {
    const ALPHABET: &[u8] = b"0123456789ABCDEFGHJKLMNPQRSTUVWXYZ";
    (0..len)
        .map(|_| char::from(ALPHABET[rng.random_range(0..ALPHABET.len())]))
        .collect()
}

fn uuid_like(rng: &mut ChaCha8Rng) -> String {
    let b: [u8; 16] = rng.random();
    let h: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!(
        "{}-{}-4{}-a{}-{}",
        &h[0..8],
        &h[8..12],
        &h[13..16],
        &h[17..20],
        &h[20..32]
    )
}

fn zone(id: i64, name: &str, description: &str) -> Zone {
    Zone {
        id: Some(id),
        name: name.into(),
        description: description.into(),
        resource_uri: format!("/MAAS/api/2.0/zones/{name}/"),
    }
}

fn pool(id: i64, name: &str, description: &str) -> ResourcePool {
    ResourcePool {
        id: Some(id),
        name: name.into(),
        description: description.into(),
        resource_uri: format!("/MAAS/api/2.0/resourcepool/{id}/"),
    }
}

fn tag(name: &str, definition: &str, comment: &str, kernel_opts: &str) -> Tag {
    Tag {
        name: name.into(),
        definition: definition.into(),
        comment: comment.into(),
        kernel_opts: kernel_opts.into(),
        resource_uri: format!("/MAAS/api/2.0/tags/{name}/"),
    }
}

fn space(id: i64, name: &str, description: &str) -> SimSpace {
    SimSpace {
        id,
        name: name.into(),
        description: description.into(),
    }
}

fn vlan(
    id: i64,
    vid: u32,
    fabric: &str,
    fabric_id: i64,
    mtu: u32,
    dhcp_on: bool,
    space: Option<&str>,
) -> SimVlan {
    SimVlan {
        id,
        name: if vid == 0 {
            "untagged".into()
        } else {
            vid.to_string()
        },
        vid,
        mtu,
        fabric: fabric.into(),
        fabric_id,
        dhcp_on,
        primary_rack: dhcp_on.then(|| RACK_ID.to_string()),
        secondary_rack: None,
        space: space.map(str::to_string),
    }
}

fn subnet(
    id: i64,
    cidr: &str,
    gateway: Option<&str>,
    dns: &[&str],
    vlan: &SimVlan,
    space: &str,
    description: &str,
) -> SimSubnet {
    let mut extra = Map::new();
    extra.insert("description".into(), Value::String(description.into()));
    SimSubnet {
        id,
        name: cidr.into(),
        cidr: cidr.into(),
        gateway_ip: gateway.map(str::to_string),
        dns_servers: dns.iter().map(|s| s.to_string()).collect(),
        vlan_id: vlan.id,
        vid: vlan.vid,
        fabric: vlan.fabric.clone(),
        space: space.into(),
        managed: true,
        vlan: vlan.clone(),
        extra,
    }
}

fn boot(kind: &str, id: i64, name: &str, architecture: &str, title: &str) -> BootResource {
    let mut extra = Map::new();
    extra.insert("title".into(), json!(title));
    let subarches = if kind == "Synced" {
        "generic,hwe-p,hwe-q,hwe-r,hwe-s,hwe-t,hwe-u,hwe-v,hwe-w,ga-16.04,ga-18.04,ga-20.04,ga-22.04,ga-24.04"
    } else {
        "generic"
    };
    extra.insert("subarches".into(), json!(subarches));
    extra.insert("last_deployed".into(), Value::Null);
    BootResource {
        id,
        kind: kind.into(),
        name: name.into(),
        architecture: architecture.into(),
        resource_uri: format!("/MAAS/api/2.0/boot-resources/{id}/"),
        extra,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_addresses_stay_inside_the_subnet() {
        assert_eq!(
            fixed_address("10.10.0.0/16", 0).as_deref(),
            Some("10.10.1.2")
        );
        assert_eq!(
            fixed_address("10.10.0.0/16", 249).as_deref(),
            Some("10.10.1.251")
        );
        assert_eq!(
            fixed_address("10.10.0.0/16", 250).as_deref(),
            Some("10.10.2.2")
        );
        assert_eq!(fixed_address("192.168.32.0/20", 4000), None);
        assert_eq!(fixed_address("not a cidr", 1), None);
    }

    #[test]
    fn macs_are_unique_per_oui() {
        let g = Generator {
            rng: ChaCha8Rng::seed_from_u64(1),
            hostnames: HashSet::new(),
            system_ids: HashSet::new(),
            next_disk_id: 1,
            next_nic_id: 1,
            next_link_id: 1,
            mac_offset: 12345,
        };
        let macs: HashSet<String> = (1..50_000).map(|i| g.mac("52:54:00", i)).collect();
        assert_eq!(macs.len(), 49_999);
    }
}
