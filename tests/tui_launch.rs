//! Where the console's MAAS comes from without `--demo` and without MAAS_URL: the cloud account
//! the operator saved with `kubemaas account add`.

use kubemaas::accounts::add_account;
use kubemaas::maas::MachineFilter;
use kubemaas::model::CloudAccount;
use kubemaas::sim::{self, SimConfig};
use kubemaas::tui::launch::stored_account_client;

#[tokio::test]
async fn the_console_opens_on_the_saved_cloud_account() {
    let dir = tempfile::tempdir().unwrap();
    assert!(
        stored_account_client(dir.path()).unwrap().is_none(),
        "no account yet: the welcome screen"
    );
    let sim = sim::start(SimConfig::generated(12, 5).speed(0.0))
        .await
        .unwrap();
    let account = CloudAccount::from_parts(
        "lab",
        "",
        "local",
        &sim.url(),
        &sim.api_key().expose(),
        None,
    )
    .unwrap();
    add_account(dir.path(), &account).await.unwrap();
    let client = stored_account_client(dir.path())
        .unwrap()
        .expect("the saved account");
    let machines = client.machines(&MachineFilter::default()).await.unwrap();
    assert_eq!(machines.len(), 12);
}
