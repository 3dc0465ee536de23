//! Error text shared by every network client.

/// An error and every cause under it, on one line: a reqwest error says "error sending
/// request" while the reason (refused, timed out, unknown CA) hides in its sources.
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    text
}
