//! Reusable pieces of screens with their own state: forms and their fields, the YAML editor,
//! masked secrets and the confirm dialog. Each is edited by keys and drawn by a pure function.

pub mod confirm;
pub mod form;
pub mod form_view;
pub mod secret;
pub mod textarea;
