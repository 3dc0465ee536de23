//! Whether MAAS has enough machines for a set of pools, without counting one machine for two
//! pools: a maximum matching of pool slots to available machines (augmenting paths), so a
//! machine that fits both the control plane and the workers goes where it is needed.

use super::constraints::MachineConstraints;
use crate::maas::Machine;

/// How many machines a pool needs, and what they must be.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolRequest {
    pub name: String,
    pub count: u32,
    pub constraints: MachineConstraints,
}

/// The outcome for one pool.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolCapacity {
    pub name: String,
    pub needed: u32,
    /// Available machines that fit this pool, whoever else wants them.
    pub matching: u32,
    /// The machines this pool gets (system ids), at most `needed`.
    pub assigned: Vec<String>,
    /// Fitting machines given to other pools instead: (pool, count).
    pub taken_by_others: Vec<(String, u32)>,
}

impl PoolCapacity {
    /// Machines still missing.
    pub fn shortfall(&self) -> u32 {
        self.needed.saturating_sub(self.assigned.len() as u32)
    }
}

/// Assigns available machines to the requests, cheapest first (MAAS's own cost: cores plus GiB
/// of memory), requests in the order given. Deterministic for the same input.
pub fn plan_capacity(requests: &[PoolRequest], machines: &[Machine]) -> Vec<PoolCapacity> {
    plan_with(requests, machines, MachineConstraints::matches)
}

/// The same plan as if every machine in MAAS were Ready and unlocked: what the requests could
/// ever get, whatever is busy now. A shortfall here cannot be waited out, only fixed by adding
/// machines or relaxing the constraints.
pub fn plan_ever(requests: &[PoolRequest], machines: &[Machine]) -> Vec<PoolCapacity> {
    plan_with(requests, machines, |c, m| {
        c.hardware_and_placement_mismatches(m).is_empty()
    })
}

fn plan_with(
    requests: &[PoolRequest],
    machines: &[Machine],
    fits: impl Fn(&MachineConstraints, &Machine) -> bool,
) -> Vec<PoolCapacity> {
    let mut order: Vec<usize> = (0..machines.len()).collect();
    order.sort_by(|&a, &b| {
        let cost = |m: &Machine| u64::from(m.cpu_count) * 1024 + m.memory;
        cost(&machines[a])
            .cmp(&cost(&machines[b]))
            .then_with(|| machines[a].system_id.cmp(&machines[b].system_id))
    });
    let candidates: Vec<Vec<usize>> = requests
        .iter()
        .map(|r| {
            order
                .iter()
                .copied()
                .filter(|&i| fits(&r.constraints, &machines[i]))
                .collect()
        })
        .collect();

    // owner[machine] = the request holding it.
    let mut owner: Vec<Option<usize>> = vec![None; machines.len()];
    for (req, request) in requests.iter().enumerate() {
        // A pool never gets more slots than it has candidates, and once one slot cannot be
        // filled no later slot can (the matching did not change), so the loop is bounded by
        // the candidates, not by a size an operator typed.
        let slots = (request.count as usize).min(candidates[req].len());
        for _ in 0..slots {
            let mut visited = vec![false; machines.len()];
            if !augment(req, &candidates, &mut owner, &mut visited) {
                break;
            }
        }
    }

    requests
        .iter()
        .enumerate()
        .map(|(req, request)| {
            let assigned = candidates[req]
                .iter()
                .filter(|&&m| owner[m] == Some(req))
                .map(|&m| machines[m].system_id.clone())
                .collect();
            let mut taken_by_others = Vec::new();
            for (other, other_request) in requests.iter().enumerate() {
                if other == req {
                    continue;
                }
                let n = candidates[req]
                    .iter()
                    .filter(|&&m| owner[m] == Some(other))
                    .count() as u32;
                if n > 0 {
                    taken_by_others.push((other_request.name.clone(), n));
                }
            }
            PoolCapacity {
                name: request.name.clone(),
                needed: request.count,
                matching: candidates[req].len() as u32,
                assigned,
                taken_by_others,
            }
        })
        .collect()
}

/// Finds a machine for one more slot of `req`, moving other requests' machines along an
/// augmenting path when that frees one (Kuhn's algorithm, iterative to bound the stack).
fn augment(
    req: usize,
    candidates: &[Vec<usize>],
    owner: &mut [Option<usize>],
    visited: &mut [bool],
) -> bool {
    // Each frame: (request, index of the next candidate to try, machine taken to get here).
    let mut stack: Vec<(usize, usize, Option<usize>)> = vec![(req, 0, None)];
    while let Some(top) = stack.len().checked_sub(1) {
        let (r, next, _) = stack[top];
        let Some(&m) = candidates[r].get(next) else {
            stack.pop();
            continue;
        };
        stack[top].1 += 1;
        if visited[m] {
            continue;
        }
        visited[m] = true;
        match owner[m] {
            None => {
                // Free machine: shift every machine along the path to the request that wanted it.
                owner[m] = Some(r);
                for i in (1..stack.len()).rev() {
                    if let Some(taken) = stack[i].2 {
                        owner[taken] = Some(stack[i - 1].0);
                    }
                }
                return true;
            }
            Some(holder) => stack.push((holder, 0, Some(m))),
        }
    }
    false
}
