//! kubemaas's state in SQLite: gateways, cloud accounts, profiles, clusters, their machines,
//! tasks, the append-only event journal, the intent journal for MAAS mutations and the command
//! queue; schema migrations and the reconciler lock.
//!
//! Several kubemaas processes may share one state dir. All of them open a [`Store`] and read;
//! the one holding the [`EngineLock`] runs the reconcilers; the others submit commands
//! ([`Tx::submit_command`]) and watch the journal ([`Tx::events_after`]).
//!
//! Every change is one transaction: `store.tx(|tx| { ... })` commits everything done in the
//! closure together, or nothing. Reads use `store.read(|r| ...)`. See [`db`] for sharing a
//! store between threads and async tasks.
//!
//! # Crash safety, as the engine uses it
//!
//! * Before a MAAS mutation: `store.begin_intent(cluster, op, target, params)` (committed), and
//!   tag the MAAS side with [`ClusterId::owner_tag`]. After MAAS answered: record the result
//!   (e.g. [`Tx::record_machine`] + an event + task progress) and [`Tx::complete_intent`] in
//!   one `store.tx`.
//! * On taking the [`EngineLock`]: [`Tx::interrupt_unfinished_tasks`] and
//!   [`Tx::requeue_claimed_commands`] (their process is gone), then resolve every
//!   [`Tx::open_intents`] against MAAS, then run [`Tx::leak_check`] with the machines MAAS lists
//!   as owned by kubemaas, so that no machine taken from MAAS is ever forgotten.
//!
//! Payloads the store does not interpret (cluster specs, observed status, task progress, intent
//! parameters) are JSON; pass any `Serialize` value and get it back with `spec_as::<T>()` & co.

mod accounts;
mod addresses;
mod clusters;
pub(crate) mod codec;
mod commands;
pub mod db;
mod enums;
mod error;
mod events;
mod gateways;
mod ids;
mod intents;
pub mod leak;
mod lock;
mod machines;
mod named;
mod open_check;
mod profiles;
pub mod replica;
mod schema;
mod tasks;
mod tx;

pub use accounts::{AccountRow, NewAccount};
pub use addresses::{KnownNode, KnownNodeRow};
pub use clusters::ClusterRow;
pub use commands::{CommandId, CommandRow};
pub use db::{Store, DB_FILE};
pub use enums::{ClusterPhase, CommandState, EventLevel, GatewayKind, TaskState};
pub use error::StoreError;
pub use events::{detail_of, EventId, EventRow, NewEvent};
pub use gateways::{GatewayRow, NewGateway};
pub use ids::{ClusterId, OWNER_TAG_PREFIX};
pub use intents::{IntentId, IntentRow};
pub use leak::{LeakReport, OwnedInMaas};
pub use lock::{host_name, process_identity, EngineLock, LockError, LockHolder, LOCK_FILE};
pub use machines::{MachineRow, MachineUpdate, NewMachine};
pub use profiles::ProfileRow;
pub use replica::{ReplicaError, ReplicaLog, ReplicaOptions};
pub use schema::SCHEMA_VERSION;
pub use tasks::{TaskId, TaskRow};
pub use tx::Tx;

use serde::Serialize;

/// Shortcuts for the calls that stand alone, each its own transaction.
impl Store {
    /// Journals a MAAS mutation about to be sent, committed before this returns.
    pub fn begin_intent<T: Serialize + ?Sized>(
        &self,
        cluster: &ClusterId,
        op: &str,
        target: &str,
        params: &T,
    ) -> Result<IntentId, StoreError> {
        self.tx(|tx| tx.begin_intent(cluster, op, target, params))
    }

    /// Closes an intent with its outcome.
    pub fn complete_intent<T: Serialize + ?Sized>(
        &self,
        id: IntentId,
        outcome: &T,
    ) -> Result<(), StoreError> {
        self.tx(|tx| tx.complete_intent(id, outcome))
    }

    /// Intents left open (by a crash, or still in flight).
    pub fn open_intents(&self, cluster: Option<&ClusterId>) -> Result<Vec<IntentRow>, StoreError> {
        self.read(|r| r.open_intents(cluster))
    }

    /// Appends one event.
    pub fn append_event(&self, event: &NewEvent) -> Result<EventId, StoreError> {
        self.tx(|tx| tx.append_event(event))
    }

    /// Follows the journal: up to `limit` events after `after`.
    pub fn events_after(
        &self,
        cluster: Option<&ClusterId>,
        after: EventId,
        limit: usize,
    ) -> Result<Vec<EventRow>, StoreError> {
        self.read(|r| r.events_after(cluster, after, limit))
    }

    /// Queues a command for the reconciling process.
    pub fn submit_command<T: Serialize + ?Sized>(
        &self,
        cluster: Option<&ClusterId>,
        kind: &str,
        args: &T,
    ) -> Result<CommandId, StoreError> {
        self.tx(|tx| tx.submit_command(cluster, kind, args))
    }
}
