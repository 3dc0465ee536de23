//! Input kubemaas did not write and must not trust: the bodies other servers answer with
//! (MAAS, gateways, etcd, Kubernetes API servers), read only up to a bound that fits their
//! purpose ([`body`]), and their text, shown on a terminal only with its control characters
//! escaped ([`terminal`]).

pub mod body;
pub mod terminal;

pub use body::{read_body, read_prefix, BodyError, ByteSize};
pub use terminal::{one_line, terminal_safe, TerminalSafe};
