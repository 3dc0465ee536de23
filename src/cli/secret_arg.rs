//! A secret given on the command line or through the environment (API keys). The parsed command
//! line is `Debug`, and may end up in a log or a panic message: this type's `Debug` never shows it.

use std::fmt;
use std::str::FromStr;

#[derive(Clone)]
pub struct SecretArg(String);

impl SecretArg {
    /// The secret, for parsing into its real type. Callers must not print or log it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl FromStr for SecretArg {
    type Err = std::convert::Infallible;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(SecretArg(s.to_string()))
    }
}

impl fmt::Debug for SecretArg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretArg(****)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_args_do_not_debug() {
        let s: SecretArg = "aaaa:bbbb:cccc".parse().unwrap();
        assert!(!format!("{s:?}").contains("aaaa"));
        assert_eq!(s.expose(), "aaaa:bbbb:cccc");
    }
}
