//! One-time pairing codes and the proofs that bind them to the gateway's certificate.
//!
//! A code is 100 random bits written as four groups of five Crockford base-32 characters
//! (`7KQ2M-4XH9P-…`): typable, no I/L/O/U to misread. Neither side ever sends it. Both derive a
//! key from it ([`code_key`]) and prove knowledge of the code with an HMAC over the gateway
//! certificate's fingerprint as the console saw it and the console's public key:
//!
//! * console → gateway: `HMAC(key, "console" ‖ fingerprint ‖ public key)`. The gateway checks
//!   it against its *own* certificate's fingerprint, so a proof relayed through an impersonator
//!   (which the console saw with the impersonator's certificate) fails at the real gateway.
//! * gateway → console: `HMAC(key, "gateway" ‖ fingerprint ‖ public key)`. Only a holder of the
//!   code can make it, so a gateway impersonator cannot answer in a way the console accepts.
//!
//! The gateway keeps only the derived key (a one-way hash of the code); codes expire after
//! [`CODE_LIFETIME`] and are single use. A 1-node gateway keeps the keys in memory; the nodes
//! of a replicated gateway keep them in the replicated store ([`Pairings::replicated`]), so a
//! code printed by one node is redeemed on any — once: the store's write transaction that
//! marks it used is ordered by the replicated log, and a second node's rerun finds it used.
//! Every attempt is rate limited per peer and globally (per node), and every refusal is logged
//! (never the code).

use super::clock::Clock;
use crate::store::replica::StoredCode;
use crate::store::{Store, StoreError};
use chrono::{DateTime, Utc};
use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::Sha256;
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

type HmacSha256 = Hmac<Sha256>;

/// How long a code can be used after it was printed.
pub const CODE_LIFETIME: Duration = Duration::from_secs(10 * 60);
/// How long a used or expired code is remembered, so that reusing it is named as such.
const REMEMBER: Duration = Duration::from_secs(24 * 60 * 60);
/// Crockford's base 32: digits and letters without I, L, O, U.
const ALPHABET: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";
const GROUPS: usize = 4;
const GROUP_LEN: usize = 5;
/// 20 characters of 5 bits: 100 bits of entropy.
const CODE_LEN: usize = GROUPS * GROUP_LEN;
// A code must carry at least 80 bits (5 bits a character).
const _: () = assert!(CODE_LEN * 5 >= 80);
/// Domain separation for the key derived from a code.
const KEY_LABEL: &[u8] = b"kubemaas gateway pairing v1";

/// A pairing code. `Display` shows it in groups (for printing once); `Debug` never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct PairingCode(String);

impl PairingCode {
    /// A fresh random code.
    pub fn generate(rng: &mut impl Rng) -> Self {
        PairingCode(
            (0..CODE_LEN)
                .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
                .collect(),
        )
    }

    /// Reads what an operator typed: case, dashes and spaces do not matter, and the letters
    /// people confuse with digits (O, I, L) are read as those digits.
    pub fn parse(typed: &str) -> Result<Self, CodeFormatError> {
        let mut out = String::with_capacity(CODE_LEN);
        for c in typed.chars() {
            let c = match c.to_ascii_uppercase() {
                '-' | ' ' | '\t' => continue,
                'O' => '0',
                'I' | 'L' => '1',
                c if ALPHABET.contains(&(c as u8)) && c.is_ascii() => c,
                _ => return Err(CodeFormatError::BadCharacter),
            };
            out.push(c);
        }
        if out.len() != CODE_LEN {
            return Err(CodeFormatError::WrongLength { found: out.len() });
        }
        Ok(PairingCode(out))
    }

    /// The code as the operator types it (with its group separators).
    pub fn reveal(&self) -> String {
        self.0
            .as_bytes()
            .chunks(GROUP_LEN)
            .map(|g| String::from_utf8_lossy(g).into_owned())
            .collect::<Vec<_>>()
            .join("-")
    }
}

impl std::fmt::Debug for PairingCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("PairingCode(****)")
    }
}

/// Why typed text is not a pairing code (never echoes it).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CodeFormatError {
    #[error("the pairing code has a character that is not in pairing codes (they use digits and letters except I, L, O, U): copy it again from the gateway's output")]
    BadCharacter,
    #[error("the pairing code has {found} characters but a code has {CODE_LEN} (four groups of five): copy it whole from the gateway's output or `kubemaas gateway pairing-code`")]
    WrongLength { found: usize },
}

/// The key both sides derive from a code. One-way: it does not give the code back.
pub fn code_key(code: &PairingCode) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(KEY_LABEL).expect("HMAC takes keys of any length");
    mac.update(code.0.as_bytes());
    mac.finalize().into_bytes().into()
}

/// Which side a proof speaks for; the label keeps a console proof from being replayed as the
/// gateway's answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Side {
    Console,
    Gateway,
}

fn proof_mac(key: &[u8; 32], side: Side, fingerprint: &[u8; 32], public_key: &[u8]) -> HmacSha256 {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(match side {
        Side::Console => b"console",
        Side::Gateway => b"gateway",
    });
    mac.update(fingerprint);
    mac.update(public_key);
    mac
}

/// `HMAC-SHA256(key, side ‖ certificate fingerprint ‖ console public key)`.
pub fn proof(key: &[u8; 32], side: Side, fingerprint: &[u8; 32], public_key: &[u8]) -> [u8; 32] {
    proof_mac(key, side, fingerprint, public_key)
        .finalize()
        .into_bytes()
        .into()
}

/// Checks a proof in constant time.
pub fn verify_proof(
    key: &[u8; 32],
    side: Side,
    fingerprint: &[u8; 32],
    public_key: &[u8],
    given: &[u8],
) -> bool {
    proof_mac(key, side, fingerprint, public_key)
        .verify_slice(given)
        .is_ok()
}

/// Why the gateway refused a pairing attempt. The texts go back to the console: they never
/// hold the code, and say what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PairingError {
    #[error("the pairing code is wrong (or this is not the gateway that printed it): check the code and the address, or get a new code with `kubemaas gateway pairing-code` on the gateway")]
    WrongCode,
    #[error("this pairing code was already used: every code pairs one console; get a new one with `kubemaas gateway pairing-code` on the gateway")]
    ReusedCode,
    #[error("this pairing code expired (codes last 10 minutes): get a new one with `kubemaas gateway pairing-code` on the gateway")]
    ExpiredCode,
    #[error("too many pairing attempts{}: wait {} s and try again", if *.global { " on this gateway" } else { " from this address" }, retry_after.as_secs().max(1))]
    RateLimited { retry_after: Duration, global: bool },
    #[error("this gateway node cannot check the pairing code now (its replicated store did not answer): try again in a moment, or pair through another node")]
    Unavailable,
}

impl PairingError {
    /// A short, stable word for logs and the wire.
    pub fn code(&self) -> &'static str {
        match self {
            PairingError::WrongCode => "wrong_code",
            PairingError::ReusedCode => "reused_code",
            PairingError::ExpiredCode => "expired_code",
            PairingError::RateLimited { .. } => "rate_limited",
            PairingError::Unavailable => "unavailable",
        }
    }
}

/// A token bucket: `capacity` attempts at once, one more every `refill`.
#[derive(Debug, Clone, Copy)]
pub struct Limit {
    pub capacity: u32,
    pub refill: Duration,
}

/// The pairing rate limits.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub per_peer: Limit,
    pub global: Limit,
}

impl Default for Limits {
    /// Five tries at once per address then one every 12 s; thirty at once for the whole
    /// gateway then one every 2 s. A person mistyping never meets them; guessing 100 bits at
    /// these rates is hopeless.
    fn default() -> Self {
        Limits {
            per_peer: Limit {
                capacity: 5,
                refill: Duration::from_secs(12),
            },
            global: Limit {
                capacity: 30,
                refill: Duration::from_secs(2),
            },
        }
    }
}

#[derive(Debug, Clone, Copy)]
struct Bucket {
    tokens: f64,
    at: Instant,
}

impl Bucket {
    fn full(limit: Limit, now: Instant) -> Self {
        Bucket {
            tokens: f64::from(limit.capacity),
            at: now,
        }
    }

    fn refill(&mut self, limit: Limit, now: Instant) {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        let per = limit.refill.as_secs_f64().max(f64::EPSILON);
        self.tokens = (self.tokens + elapsed / per).min(f64::from(limit.capacity));
        self.at = now;
    }

    /// Time until one token is there.
    fn wait(&self, limit: Limit) -> Duration {
        limit.refill.mul_f64((1.0 - self.tokens).max(0.0))
    }
}

#[derive(Debug)]
struct Entry {
    key: [u8; 32],
    expires: Instant,
    used: bool,
}

#[derive(Debug)]
struct Book {
    codes: Vec<Entry>,
    peers: HashMap<IpAddr, Bucket>,
    global: Option<Bucket>,
}

/// The gateway's pairing codes and rate limits. Cheap to clone; clones share state.
#[derive(Debug, Clone)]
pub struct Pairings {
    book: Arc<Mutex<Book>>,
    clock: Arc<dyn Clock>,
    limits: Limits,
    /// A replicated gateway's store, where codes are shared by all nodes.
    shared: Option<Store>,
    /// The wall-clock time at `clock`'s instant `.0`: shared codes expire at a wall-clock
    /// time every node reads alike, and tests still move time with their clock.
    wall_base: (Instant, DateTime<Utc>),
}

/// Why a shared code was not redeemed.
enum Refusal {
    Pairing(PairingError),
    Store(StoreError),
}

impl From<StoreError> for Refusal {
    fn from(e: StoreError) -> Self {
        Refusal::Store(e)
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A derived key back from [`hex`]; `None` for anything else.
fn unhex(text: &str) -> Option<[u8; 32]> {
    let mut out = [0u8; 32];
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// At most this many addresses are tracked; beyond it, the fullest buckets are forgotten.
const MAX_PEERS: usize = 4096;

impl Pairings {
    pub fn new(clock: Arc<dyn Clock>, limits: Limits) -> Self {
        let wall_base = (clock.now(), Utc::now());
        Pairings {
            book: Arc::new(Mutex::new(Book {
                codes: Vec::new(),
                peers: HashMap::new(),
                global: None,
            })),
            clock,
            limits,
            shared: None,
            wall_base,
        }
    }

    /// The same book keeping its codes in `store`, a replicated gateway's: every node with
    /// the same store redeems the codes any of them issued. The rate limits stay per node.
    pub fn replicated(mut self, store: Store) -> Self {
        self.shared = Some(store);
        self
    }

    /// The wall-clock time of the clock's instant `at`.
    fn wall(&self, at: Instant) -> DateTime<Utc> {
        let (base, wall) = self.wall_base;
        let since = chrono::Duration::from_std(at.saturating_duration_since(base))
            .unwrap_or(chrono::Duration::MAX);
        wall.checked_add_signed(since)
            .unwrap_or(DateTime::<Utc>::MAX_UTC)
    }

    /// Keeps `code`'s derived key, valid for `valid_for`: in the replicated store when there
    /// is one, else (or when the store cannot be written) in this node's memory.
    fn keep(&self, code: &PairingCode, valid_for: Duration) {
        let now = self.clock.now();
        if let Some(store) = &self.shared {
            let wall = self.wall(now);
            let stored = StoredCode {
                key: hex(&code_key(code)),
                expires: wall
                    + chrono::Duration::from_std(valid_for).unwrap_or(chrono::Duration::MAX),
                used: None,
            };
            let forget = wall - chrono::Duration::from_std(REMEMBER).unwrap_or_default();
            match store.tx(|tx| tx.add_pairing_code(&stored, forget)) {
                Ok(()) => return,
                Err(e) => tracing::warn!(
                    error = %e,
                    "could not share a pairing code through the replicated store: it is redeemable on this node only"
                ),
            }
        }
        let mut book = self.book.lock().unwrap_or_else(PoisonError::into_inner);
        book.codes
            .retain(|e| now.saturating_duration_since(e.expires) < REMEMBER);
        book.codes.push(Entry {
            key: code_key(code),
            expires: now + valid_for,
            used: false,
        });
    }

    /// Issues a new code, valid for [`CODE_LIFETIME`]. Only its derived key is kept.
    pub fn issue(&self) -> PairingCode {
        let code = PairingCode::generate(&mut rand::rng());
        self.keep(&code, CODE_LIFETIME);
        tracing::info!("pairing code issued (valid 10 minutes, single use)");
        code
    }

    /// Accepts a code issued elsewhere — by the console that deployed this gateway and put the
    /// code in its user-data — once, for `valid_for` from now. Like [`Pairings::issue`], only
    /// its derived key is kept.
    pub fn admit(&self, code: &PairingCode, valid_for: Duration) {
        self.keep(code, valid_for);
        tracing::info!(
            minutes = valid_for.as_secs() / 60,
            "pre-issued pairing code admitted (single use)"
        );
    }

    /// Redeems a code kept in the replicated store, in one write transaction: found, unused,
    /// unexpired, and marked used — or refused. A refusal made on a copy that was behind the
    /// log is made again once it caught up (a code issued a moment ago on another node).
    fn redeem_shared(
        &self,
        store: &Store,
        now: Instant,
        fingerprint: &[u8; 32],
        public_key: &[u8],
        given_proof: &[u8],
    ) -> Result<[u8; 32], PairingError> {
        let wall = self.wall(now);
        let outcome = store.tx(|tx| {
            let found = tx.pairing_codes()?.into_iter().find_map(|c| {
                let key = unhex(&c.key)?;
                verify_proof(&key, Side::Console, fingerprint, public_key, given_proof)
                    .then_some((c, key))
            });
            match found {
                None => Err(Refusal::Pairing(PairingError::WrongCode)),
                Some((c, _)) if c.used.is_some() => Err(Refusal::Pairing(PairingError::ReusedCode)),
                Some((c, _)) if wall >= c.expires => {
                    Err(Refusal::Pairing(PairingError::ExpiredCode))
                }
                Some((c, key)) => {
                    if tx.use_pairing_code(&c.key, wall)? {
                        Ok(key)
                    } else {
                        Err(Refusal::Pairing(PairingError::ReusedCode))
                    }
                }
            }
        });
        outcome.map_err(|e| match e {
            Refusal::Pairing(p) => p,
            Refusal::Store(e) => {
                tracing::warn!(error = %e, "checking a pairing code in the replicated store failed");
                PairingError::Unavailable
            }
        })
    }

    /// Checks a console's pairing proof, made over `fingerprint` — which must be this
    /// gateway's own certificate's. On success the code is spent and its key returned, to
    /// sign the gateway's answer.
    pub fn redeem(
        &self,
        peer: IpAddr,
        fingerprint: &[u8; 32],
        public_key: &[u8],
        given_proof: &[u8],
    ) -> Result<[u8; 32], PairingError> {
        let now = self.clock.now();
        let local = {
            let mut book = self.book.lock().unwrap_or_else(PoisonError::into_inner);
            self.take_token(&mut book, peer, now).and_then(|()| {
                let entry = book.codes.iter_mut().find(|e| {
                    verify_proof(&e.key, Side::Console, fingerprint, public_key, given_proof)
                });
                match entry {
                    None => Err(PairingError::WrongCode),
                    Some(e) if e.used => Err(PairingError::ReusedCode),
                    Some(e) if now >= e.expires => Err(PairingError::ExpiredCode),
                    Some(e) => {
                        e.used = true;
                        Ok(e.key)
                    }
                }
            })
        };
        // Codes this node could not share are in its memory; all others in the store (the
        // book's lock is released first: the store may wait on the network).
        let result = match (local, &self.shared) {
            (Err(PairingError::WrongCode), Some(store)) => {
                self.redeem_shared(store, now, fingerprint, public_key, given_proof)
            }
            (local, _) => local,
        };
        match &result {
            Ok(_) => tracing::info!(%peer, "pairing code accepted"),
            Err(e) => tracing::warn!(%peer, reason = e.code(), "pairing attempt refused"),
        }
        result
    }

    fn take_token(&self, book: &mut Book, peer: IpAddr, now: Instant) -> Result<(), PairingError> {
        let limits = self.limits;
        let global = book
            .global
            .get_or_insert_with(|| Bucket::full(limits.global, now));
        global.refill(limits.global, now);
        if book.peers.len() >= MAX_PEERS && !book.peers.contains_key(&peer) {
            // Forget addresses whose buckets are full again: they hold no memory of abuse.
            book.peers.retain(|_, b| {
                b.refill(limits.per_peer, now);
                b.tokens < f64::from(limits.per_peer.capacity)
            });
        }
        let bucket = book
            .peers
            .entry(peer)
            .or_insert_with(|| Bucket::full(limits.per_peer, now));
        bucket.refill(limits.per_peer, now);
        if bucket.tokens < 1.0 {
            return Err(PairingError::RateLimited {
                retry_after: bucket.wait(limits.per_peer),
                global: false,
            });
        }
        let global = book.global.as_mut().expect("set above");
        if global.tokens < 1.0 {
            return Err(PairingError::RateLimited {
                retry_after: global.wait(limits.global),
                global: true,
            });
        }
        global.tokens -= 1.0;
        if let Some(b) = book.peers.get_mut(&peer) {
            b.tokens -= 1.0;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::gateway::clock::ManualClock;
    use rand::SeedableRng;

    const FP: [u8; 32] = [7; 32];
    const PK: &[u8] = b"console public key";

    fn book() -> (Pairings, ManualClock) {
        let clock = ManualClock::new();
        (
            Pairings::new(Arc::new(clock.clone()), Limits::default()),
            clock,
        )
    }

    fn console_proof(code: &PairingCode, fp: &[u8; 32]) -> [u8; 32] {
        proof(&code_key(code), Side::Console, fp, PK)
    }

    fn ip(last: u8) -> IpAddr {
        IpAddr::from([127, 0, 0, last])
    }

    #[test]
    fn codes_are_typable_and_read_back_leniently() {
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(1);
        let code = PairingCode::generate(&mut rng);
        let shown = code.reveal();
        assert_eq!(shown.len(), CODE_LEN + GROUPS - 1);
        assert_eq!(shown.matches('-').count(), GROUPS - 1);
        assert_eq!(PairingCode::parse(&shown).unwrap(), code);
        assert_eq!(
            PairingCode::parse(&shown.to_lowercase().replace('-', " ")).unwrap(),
            code
        );
        assert_eq!(
            PairingCode::parse("0000o-1111i-1111l-00000").unwrap(),
            PairingCode::parse("00000111111111100000").unwrap()
        );
        assert!(matches!(
            PairingCode::parse("ABCDE"),
            Err(CodeFormatError::WrongLength { found: 5 })
        ));
        assert_eq!(
            PairingCode::parse("UUUUU-AAAAA-AAAAA-AAAAA"),
            Err(CodeFormatError::BadCharacter)
        );
        assert!(!format!("{code:?}").contains(&shown[..5]));
    }

    #[test]
    fn proofs_bind_side_fingerprint_and_key() {
        let code = PairingCode::parse("ABCDE-FGHJK-MNPQR-STVWX").unwrap();
        let key = code_key(&code);
        let p = proof(&key, Side::Console, &FP, PK);
        assert!(verify_proof(&key, Side::Console, &FP, PK, &p));
        assert!(!verify_proof(&key, Side::Gateway, &FP, PK, &p));
        assert!(!verify_proof(&key, Side::Console, &[8; 32], PK, &p));
        assert!(!verify_proof(&key, Side::Console, &FP, b"other key", &p));
        let other = code_key(&PairingCode::parse("ABCDE-FGHJK-MNPQR-STVWY").unwrap());
        assert!(!verify_proof(&other, Side::Console, &FP, PK, &p));
    }

    #[test]
    fn a_code_pairs_once() {
        let (book, _) = book();
        let code = book.issue();
        let p = console_proof(&code, &FP);
        assert_eq!(book.redeem(ip(1), &FP, PK, &p), Ok(code_key(&code)));
        assert_eq!(
            book.redeem(ip(1), &FP, PK, &p),
            Err(PairingError::ReusedCode)
        );
    }

    #[test]
    fn wrong_expired_and_relayed_codes_are_refused_distinctly() {
        let (book, clock) = book();
        let code = book.issue();
        let wrong = PairingCode::parse("00000-00000-00000-00000").unwrap();
        assert_eq!(
            book.redeem(ip(1), &FP, PK, &console_proof(&wrong, &FP)),
            Err(PairingError::WrongCode)
        );
        // A proof made over an impersonator's certificate fails at the real gateway.
        assert_eq!(
            book.redeem(ip(1), &FP, PK, &console_proof(&code, &[9; 32])),
            Err(PairingError::WrongCode)
        );
        clock.advance(CODE_LIFETIME + Duration::from_secs(1));
        assert_eq!(
            book.redeem(ip(1), &FP, PK, &console_proof(&code, &FP)),
            Err(PairingError::ExpiredCode)
        );
        // A new code works while the old one stays expired.
        let fresh = book.issue();
        assert!(book
            .redeem(ip(1), &FP, PK, &console_proof(&fresh, &FP))
            .is_ok());
    }

    #[test]
    fn an_admitted_code_pairs_once_within_its_lifetime() {
        let (book, clock) = book();
        let code = PairingCode::parse("7KQ2M-4XH9P-ABCDE-FGHJK").unwrap();
        book.admit(&code, Duration::from_secs(60));
        let p = console_proof(&code, &FP);
        assert!(book.redeem(ip(1), &FP, PK, &p).is_ok());
        assert_eq!(
            book.redeem(ip(1), &FP, PK, &p),
            Err(PairingError::ReusedCode)
        );

        let late = PairingCode::parse("7KQ2M-4XH9P-ABCDE-FGHJM").unwrap();
        book.admit(&late, Duration::from_secs(60));
        clock.advance(Duration::from_secs(61));
        assert_eq!(
            book.redeem(ip(2), &FP, PK, &console_proof(&late, &FP)),
            Err(PairingError::ExpiredCode)
        );
    }

    /// Two nodes of one replicated gateway: their own copies of one log.
    fn two_nodes() -> (Pairings, Pairings, ManualClock, Vec<tempfile::TempDir>) {
        use crate::store::replica::MemoryLog;
        use crate::store::{ReplicaLog, ReplicaOptions};
        let log: Arc<dyn ReplicaLog> = Arc::new(MemoryLog::new(4096));
        let clock = ManualClock::new();
        let mut dirs = Vec::new();
        let mut node = || {
            let dir = tempfile::tempdir().unwrap();
            let store =
                Store::open_replicated(dir.path(), log.clone(), ReplicaOptions::default()).unwrap();
            dirs.push(dir);
            Pairings::new(Arc::new(clock.clone()), Limits::default()).replicated(store)
        };
        let (a, b) = (node(), node());
        (a, b, clock, dirs)
    }

    #[test]
    fn a_code_issued_by_one_node_pairs_once_on_any() {
        let (node1, node2, clock, _dirs) = two_nodes();
        let code = node2.issue();
        let p = console_proof(&code, &FP);
        // Node 1 has not applied node 2's write yet: its refusal is rechecked after catching up.
        assert_eq!(node1.redeem(ip(1), &FP, PK, &p), Ok(code_key(&code)));
        assert_eq!(
            node2.redeem(ip(1), &FP, PK, &p),
            Err(PairingError::ReusedCode)
        );
        assert_eq!(
            node1.redeem(ip(1), &FP, PK, &p),
            Err(PairingError::ReusedCode)
        );

        let late = node1.issue();
        clock.advance(CODE_LIFETIME + Duration::from_secs(1));
        assert_eq!(
            node2.redeem(ip(2), &FP, PK, &console_proof(&late, &FP)),
            Err(PairingError::ExpiredCode)
        );
        let wrong = PairingCode::parse("00000-00000-00000-00000").unwrap();
        assert_eq!(
            node2.redeem(ip(2), &FP, PK, &console_proof(&wrong, &FP)),
            Err(PairingError::WrongCode)
        );
        // The store holds derived keys only, never a code.
        let shown = late.reveal().replace('-', "");
        let kept = node1
            .shared
            .as_ref()
            .unwrap()
            .read(|r| r.pairing_codes())
            .unwrap();
        assert_eq!(kept.len(), 2);
        assert!(kept.iter().all(|c| !c.key.to_uppercase().contains(&shown)));
    }

    #[test]
    fn two_nodes_redeeming_one_code_at_once_cannot_both_succeed() {
        for _ in 0..10 {
            let (node1, node2, _clock, _dirs) = two_nodes();
            let code = node1.issue();
            let p = console_proof(&code, &FP);
            let results: Vec<_> = std::thread::scope(|s| {
                let a = s.spawn(|| node1.redeem(ip(1), &FP, PK, &p));
                let b = s.spawn(|| node2.redeem(ip(2), &FP, PK, &p));
                vec![a.join().unwrap(), b.join().unwrap()]
            });
            let accepted = results.iter().filter(|r| r.is_ok()).count();
            assert_eq!(accepted, 1, "{results:?}");
            assert!(
                results.contains(&Err(PairingError::ReusedCode)),
                "{results:?}"
            );
        }
    }

    #[test]
    fn attempts_are_limited_per_peer_and_globally_and_refill_with_time() {
        let (book, clock) = book();
        let _code = book.issue();
        let bad = [0u8; 32];
        for _ in 0..5 {
            assert_eq!(
                book.redeem(ip(1), &FP, PK, &bad),
                Err(PairingError::WrongCode)
            );
        }
        let limited = book.redeem(ip(1), &FP, PK, &bad).unwrap_err();
        assert!(
            matches!(limited, PairingError::RateLimited { global: false, .. }),
            "{limited:?}"
        );
        // A good code is refused too while limited: the limit comes before the check.
        let code = book.issue();
        assert!(matches!(
            book.redeem(ip(1), &FP, PK, &console_proof(&code, &FP)),
            Err(PairingError::RateLimited { .. })
        ));
        clock.advance(Duration::from_secs(12));
        assert!(book
            .redeem(ip(1), &FP, PK, &console_proof(&code, &FP))
            .is_ok());

        // Many addresses together meet the global limit.
        let mut global_hit = false;
        for n in 10..60u8 {
            for _ in 0..5 {
                if let Err(PairingError::RateLimited { global: true, .. }) =
                    book.redeem(ip(n), &FP, PK, &bad)
                {
                    global_hit = true;
                }
            }
        }
        assert!(global_hit);
    }
}
