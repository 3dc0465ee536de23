//! The terminal console (`kubemaas` with no subcommand).
//!
//! # Shape
//! - [`launch`]: settles theme, keymap and the data source *before* taking the terminal
//!   (setup errors print normally), then runs the loop inside a [`term::TerminalGuard`].
//! - [`event_loop`]: the single owner of the state and the terminal. Messages in (keys,
//!   resizes, data, a 1 Hz tick, quit signals), [`app::update`] out, loads run on tasks, a
//!   frame drawn only when the state is dirty, at most 20 a second, each in a synchronized
//!   update. Idle means no bytes written.
//! - [`app`]: The Elm Architecture — [`app::Msg`], [`app::State`], [`app::update`] (pure,
//!   returns [`app::Cmd`]s), [`app::view`] (pure). Everything there is tested without a
//!   terminal.
//! - [`screens`]: one pure draw function per piece (header, footer, help, machines, …).
//! - [`source`]: [`source::ConsoleSource`], what the console needs to know about MAAS and the
//!   engine, with plain row types; [`engine_source::EngineSource`] answers it through
//!   [`crate::engine::EngineApi`] on a [`console_engine::ConsoleEngine`] — the embedded engine
//!   (gateway `local`) or a paired gateway's `RemoteEngine` — so every screen works the same
//!   against both. On `local` the inventory comes from the account's MAAS client; on a gateway
//!   from its account routes (its keys stay there) and the journal from its live stream.
//! - Gateways: `--gateway NAME`, Enter on the Gateways screen or `:gateway NAME` switch every
//!   screen ([`app::Cmd::UseGateway`]: the loop swaps the source and drops answers of the one
//!   left); the gateway in use is asked on a timer whether it answers, and while it does not
//!   the header says so loudly and the screens keep their last data marked stale.
//! - Queued requests: on a gateway the cluster wizard's deploy goes through
//!   `gateway::queue::create_or_queue`; while the gateway is away the request is kept in this
//!   console's store and listed as a Queued (or, once refused, Refused) row with every cluster
//!   list ([`app::Msg::QueueLoaded`]); the reachability check sends them when it answers.
//! - Versions: a gateway older than this console is marked on the Gateways screen (with what
//!   changes) and in the header; one sharing no protocol is shown incompatible. `U` upgrades
//!   it (`gateway::upgrade::upgrade_gateway`) with its steps in a panel, the console working on.
//! - [`clusters`]: the cluster rows and the state of the Clusters, cluster detail and Events
//!   screens, kept current from the engine's journal (events after the last id seen; only the
//!   clusters they name are re-read). `launch` runs the engine's driver loop in the console
//!   when it holds the reconciler lock (`--demo`: simulator + `demo` account + engine).
//! - [`widgets`]: pieces with their own state — [`widgets::form`] (typed fields, focus,
//!   problems by document path), [`widgets::confirm`] (opens on Cancel, typed names, refused
//!   under `--readonly`), the YAML text area and the masked [`widgets::secret::Secret`].
//! - [`wizards`]: the cluster, cloud-account and gateway pairing wizards' state and keys; the
//!   first two build model documents and let `crate::model`'s validators find the problems
//!   (no rule is repeated here); pairing goes through `gateway::console::begin_pairing`. Drawn by `screens::wizard`; their work (deploy, validate, save) leaves as `Cmd`s.
//! - [`lookups`] (zones / pools / tags / domains / images with available-machine counts) and
//!   [`account_check`] (an account checked against the model, then the live MAAS).
//! - [`theme`] (semantic tokens from `themes/*.yaml`), [`keymap`] (actions as data),
//!   [`columns`] (priority-based column dropping), [`filter`] (`/` with `!` negation),
//!   [`machines`] (the inventory table model), [`input`] (terminal events and signals).
//!
//! # Adding a screen
//! Add a variant to [`app::ScreenId`] (title, `:` aliases), the data it shows to
//! [`app::State`] (loaded by a new [`app::Cmd`] answered by a new [`app::Msg`], which the
//! loop's `spawn` runs against the source), its keys to [`keymap::Action`] (help and footer
//! pick them up), and a draw function under [`screens`] chosen in [`app::view`]. Snapshot it
//! at 80x24 and 120x40 (see `tests/tui_screens.rs`).
//!
//! # Adding a wizard
//! Build its forms from [`widgets::form::Field`]s whose `path` is the document path the
//! model's validator reports, rebuild the document and validate on every edit, and hand the
//! problems back with [`widgets::form::Form::apply_problems`]. Work it needs (a MAAS call,
//! the engine) goes out as a [`wizards::WizardOutcome`] → `Cmd` → a new
//! [`source::ConsoleSource`] method (`tests/tui_wizard.rs` shows the tests).

pub mod account_check;
pub mod app;
pub mod clusters;
pub mod columns;
pub mod console_engine;
pub mod engine_source;
pub mod event_loop;
pub mod filter;
pub mod input;
pub mod keymap;
pub mod launch;
pub mod lookups;
pub mod machines;
pub mod screens;
pub mod source;
pub mod term;
pub mod theme;
pub mod widgets;
pub mod wizards;

pub use launch::{run_console, ConsoleError, ConsoleOptions};
