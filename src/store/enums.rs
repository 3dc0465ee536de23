//! The small vocabularies the store itself knows. Words that belong to the engine (a machine's
//! state in the engine's eyes, task kinds, MAAS operations, command kinds) stay free text so the
//! engine can grow them without a schema change.

use super::codec::text_enum;

text_enum! {
    /// How kubemaas reaches a MAAS region: from this host, or through a remote gateway.
    GatewayKind {
        Local => "local",
        Remote => "remote",
    }
}

text_enum! {
    /// A cluster's observed phase.
    ClusterPhase {
        Pending => "Pending",
        Provisioning => "Provisioning",
        Running => "Running",
        Updating => "Updating",
        Deleting => "Deleting",
        Deleted => "Deleted",
        Failed => "Failed",
        Aborting => "Aborting",
        Aborted => "Aborted",
    }
}

text_enum! {
    /// Where a task is in its life.
    TaskState {
        Pending => "pending",
        Running => "running",
        Succeeded => "succeeded",
        Failed => "failed",
        Cancelled => "cancelled",
        /// The process running it died (found by the next reconciling process).
        Interrupted => "interrupted",
    }
}

impl TaskState {
    /// True once the task will not change again.
    pub fn is_terminal(self) -> bool {
        !matches!(self, TaskState::Pending | TaskState::Running)
    }
}

text_enum! {
    /// How much an event matters.
    EventLevel {
        Debug => "debug",
        Info => "info",
        Warn => "warn",
        Error => "error",
    }
}

text_enum! {
    /// Where a queued command is: submitted, taken by the reconciling process, finished.
    CommandState {
        Pending => "pending",
        Claimed => "claimed",
        Done => "done",
        Failed => "failed",
        Cancelled => "cancelled",
    }
}
