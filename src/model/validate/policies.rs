//! Policies: patch, scan and backup schedules, and where backups go.

use crate::model::cron::check_cron;
use crate::model::problem::Problems;
use crate::model::profile::check_url;
use crate::model::spec::ClusterSpec;

pub(super) fn check_policies(spec: &ClusterSpec, p: &mut Problems) {
    let pol = &spec.spec.policies;
    for (value, path) in [
        (
            &pol.machine_management.patch_schedule,
            "spec.policies.machineManagement.patchSchedule",
        ),
        (&pol.scan.schedule, "spec.policies.scan.schedule"),
        (&pol.backup.schedule, "spec.policies.backup.schedule"),
    ] {
        if let Some(expr) = value {
            if let Err(e) = check_cron(expr) {
                p.push(path, format!("the schedule {e}"));
            }
        }
    }
    if pol.machine_management.reboot_if_required
        && !pol.machine_management.patch_os_on_boot
        && pol.machine_management.patch_schedule.is_none()
    {
        p.push(
            "spec.policies.machineManagement.rebootIfRequired",
            "has no effect without patching: set patchOsOnBoot or a patchSchedule, or remove it",
        );
    }
    if let Some(location) = &pol.backup.location {
        check_url(
            location,
            "spec.policies.backup.location",
            &["s3", "http", "https"],
            p,
        );
    } else if pol.backup.schedule.is_some() {
        p.push(
            "spec.policies.backup.location",
            format!("a backup schedule needs a location: give an S3-compatible URL, like `s3://backups/{}`", spec.metadata.name),
        );
    }
    if pol.backup.retention_days == 0 {
        p.push(
            "spec.policies.backup.retentionDays",
            "0 days would delete every backup at once: keep them 1 day or more",
        );
    }
}
