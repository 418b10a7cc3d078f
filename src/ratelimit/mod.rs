//! Rate limits (docs/rate-limits.md): token buckets in requests per second
//! per credential (access key), per bucket and per key prefix.
//!
//! Defaults come from `serve --rate-limit-*`; per-credential and per-bucket
//! limits are set live through the admin API. A request over any of its
//! limits is answered 503 SlowDown before its body is read
//! (`server::request`).
//!
//! Across shards without a shared lock: each shard holds a slice of every
//! limit, `rate / shards` and `burst / shards` (at least one request), and
//! decides alone. A bucket that runs dry asks the other shards for their
//! unused tokens by message ([`ShardLimits::take_wanted`],
//! [`ShardLimits::lend`], [`ShardLimits::credit`]); tokens move, only
//! refill makes them. Over any T seconds the server admits at most
//! `rate * T + burst` requests for one limit, and about `rate * T` when
//! clients keep it busy on any number of shards. docs/rate-limits.md
//! states the bound and where it falls short.
//!
//! Off and free unless configured: a shard with no limit pays one
//! `Cell<bool>` read per request ([`LimitsCell::is_on`]).

use serde::{Deserialize, Serialize};
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// Token buckets one shard tracks per kind of limit; past it, buckets that
/// have refilled are forgotten (a full bucket is the same as a new one),
/// and if none has, all of that kind are.
pub const MAX_TRACKED_BUCKETS: usize = 65_536;
/// Named limits (credentials plus buckets) one change may set.
pub const MAX_NAMED_LIMITS: usize = 10_000;
/// The largest rate or burst a limit may have.
pub const MAX_REQUESTS_PER_SEC: f64 = 1e9;
/// The largest byte rate a limit may have (1 PB/s).
pub const MAX_BYTES_PER_SEC: f64 = 1e15;
/// The deepest key prefix a per-prefix limit counts by.
pub const MAX_PREFIX_DEPTH: u32 = 16;
/// Longest name (access key or bucket) a limit may be set for.
const MAX_NAME_BYTES: usize = 1024;
/// A shard asks its peers for one bucket's unused tokens at most this often.
pub const BORROW_INTERVAL: Duration = Duration::from_millis(5);
/// Token buckets one shard may be asking its peers about at once.
pub const MAX_BORROWS_IN_FLIGHT: usize = 64;

/// One token-bucket limit.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Limit {
    /// Requests admitted per second, over all shards.
    pub requests_per_sec: f64,
    /// Requests admitted at once after an idle spell; default: one
    /// second's worth (`requests_per_sec`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub burst: Option<f64>,
    /// Request and answer body bytes per second, over all shards; unset:
    /// no byte limit. Charged when the answer is sent, so a request is
    /// refused while its limit is in debt (docs/rate-limits.md).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bytes_per_sec: Option<f64>,
}

impl Limit {
    pub fn burst(&self) -> f64 {
        self.burst.unwrap_or(self.requests_per_sec)
    }

    /// `RATE[:BURST][,BYTES_PER_SEC]` (a `serve` flag's value; bytes as
    /// `10MiB` or a number), checked.
    pub fn parse(text: &str) -> Result<Limit, String> {
        let (text, bytes) = match text.split_once(',') {
            Some((t, b)) => (t, Some(b)),
            None => (text, None),
        };
        let (rate, burst) = match text.split_once(':') {
            Some((r, b)) => (r, Some(b)),
            None => (text, None),
        };
        let number = |s: &str, what: &str| {
            s.trim().parse::<f64>().map_err(|_| {
                format!("{what} `{s}` is not a number (expected RATE[:BURST], e.g. 100 or 100:20)")
            })
        };
        let limit = Limit {
            requests_per_sec: number(rate, "rate")?,
            burst: burst.map(|b| number(b, "burst")).transpose()?,
            bytes_per_sec: bytes
                .map(|b| {
                    crate::bench::config::parse_size(b.trim())
                        .map(|n| n as f64)
                        .map_err(|e| format!("bytes per second `{b}`: {e}"))
                })
                .transpose()?,
        };
        limit.validate("")?;
        Ok(limit)
    }

    /// Checks the numbers; errors name `field` (a path such as
    /// `credentials.AKIA...`) and the member at fault.
    pub fn validate(&self, field: &str) -> Result<(), String> {
        let dot = if field.is_empty() { "" } else { "." };
        let check = |name: &str, v: f64| {
            if v.is_finite() && v > 0.0 && v <= MAX_REQUESTS_PER_SEC {
                Ok(())
            } else {
                Err(format!(
                    "{field}{dot}{name}: {v} is not a number of requests above 0 and at most {MAX_REQUESTS_PER_SEC}"
                ))
            }
        };
        check("requests_per_sec", self.requests_per_sec)?;
        if let Some(b) = self.burst {
            check("burst", b)?;
        }
        match self.bytes_per_sec {
            Some(b) if !(b.is_finite() && (1.0..=MAX_BYTES_PER_SEC).contains(&b)) => Err(format!(
                "{field}{dot}bytes_per_sec: {b} is not a number of bytes of at least 1 and at most {MAX_BYTES_PER_SEC}"
            )),
            _ => Ok(()),
        }
    }

    /// This limit's slice on one of `shards` shards.
    fn slice(&self, shards: usize) -> Slice {
        let n = shards.max(1) as f64;
        let burst = (self.burst() / n).max(1.0);
        Slice {
            rate: self.requests_per_sec / n,
            burst,
            cap: self.burst().max(burst),
            // One second's worth of bytes at once.
            byte_rate: self.bytes_per_sec.map_or(0.0, |b| b / n),
        }
    }
}

/// The limits set from `serve` flags: every credential, bucket and prefix
/// gets these unless a named limit replaces it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Defaults {
    pub credential: Option<Limit>,
    pub bucket: Option<Limit>,
    pub prefix: Option<Limit>,
    /// A prefix is a key up to its `prefix_depth`-th `/`.
    pub prefix_depth: u32,
    /// Count refusals per access key and bucket name for metrics
    /// (`--rate-limit-metric-names`; off: no names in metrics).
    #[serde(skip)]
    pub metric_names: bool,
}

impl Default for Defaults {
    fn default() -> Defaults {
        Defaults {
            credential: None,
            bucket: None,
            prefix: None,
            prefix_depth: 1,
            metric_names: false,
        }
    }
}

/// Names a shard counts refusals for with `metric_names`, per kind; later
/// names are counted under the empty name (bounded metric series).
pub const MAX_METRIC_NAMES: usize = 256;

/// Limits for named credentials and buckets, set through the admin API;
/// a change replaces them all.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Named {
    /// By access key.
    #[serde(default)]
    pub credentials: BTreeMap<String, Limit>,
    /// By bucket name.
    #[serde(default)]
    pub buckets: BTreeMap<String, Limit>,
}

impl Named {
    /// Reads `{"credentials": {...}, "buckets": {...}}`; an error names
    /// the field at fault (`credentials.KEY.burst`), and nothing is taken
    /// from a body with any error.
    pub fn from_json(v: &serde_json::Value) -> Result<Named, String> {
        let obj = v
            .as_object()
            .ok_or("the body must be a JSON object with `credentials` and `buckets`")?;
        let mut named = Named::default();
        for (field, value) in obj {
            let map = match field.as_str() {
                "credentials" => &mut named.credentials,
                "buckets" => &mut named.buckets,
                other => {
                    return Err(format!(
                        "{other}: unknown field (expected `credentials` and `buckets`)"
                    ))
                }
            };
            let Some(entries) = value.as_object() else {
                return Err(format!("{field}: must be an object of name -> limit"));
            };
            for (name, limit) in entries {
                let path = format!("{field}.{name}");
                let limit: Limit =
                    serde_json::from_value(limit.clone()).map_err(|e| format!("{path}: {e}"))?;
                map.insert(name.clone(), limit);
            }
        }
        named.validate()?;
        Ok(named)
    }

    pub fn validate(&self) -> Result<(), String> {
        let count = self.credentials.len() + self.buckets.len();
        if count > MAX_NAMED_LIMITS {
            return Err(format!(
                "{count} named limits; at most {MAX_NAMED_LIMITS} may be set"
            ));
        }
        for (field, map) in [
            ("credentials", &self.credentials),
            ("buckets", &self.buckets),
        ] {
            for (name, limit) in map {
                if name.is_empty() || name.len() > MAX_NAME_BYTES {
                    return Err(format!(
                        "{field}: a name must be 1 to {MAX_NAME_BYTES} bytes"
                    ));
                }
                limit.validate(&format!("{field}.{name}"))?;
            }
        }
        Ok(())
    }

    fn is_empty(&self) -> bool {
        self.credentials.is_empty() && self.buckets.is_empty()
    }
}

/// Which limit refused a request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    Credential = 0,
    Bucket = 1,
    Prefix = 2,
}

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Credential, Kind::Bucket, Kind::Prefix];

    pub fn name(self) -> &'static str {
        match self {
            Kind::Credential => "credential",
            Kind::Bucket => "bucket",
            Kind::Prefix => "prefix",
        }
    }
}

/// The key prefix a per-prefix limit counts `key` under: up to and with
/// its `depth`-th `/`, or its last `/` if it has fewer ("" if none).
pub fn prefix_of(key: &str, depth: u32) -> &str {
    let mut end = 0;
    for (seen, (i, _)) in key.match_indices('/').enumerate() {
        end = i + 1;
        if seen as u32 + 1 >= depth {
            break;
        }
    }
    &key[..end]
}

/// One shard's part of a limit.
#[derive(Clone, Copy, Debug)]
struct Slice {
    /// Refill per second.
    rate: f64,
    /// Refill stops here.
    burst: f64,
    /// Tokens lent by peers raise a bucket to here at most: the whole
    /// limit's burst.
    cap: f64,
    /// Bytes refilled per second, and the most held (0: no byte limit).
    byte_rate: f64,
}

/// One token bucket: a slice, and the tokens left at `last`.
#[derive(Clone, Copy, Debug)]
struct Bucket {
    tokens: f64,
    /// Byte tokens; below zero after a large answer (a debt the refill repays).
    bytes: f64,
    last: Instant,
    slice: Slice,
    /// This shard's clients took a token since the bucket last lent.
    used: bool,
    /// Peers are being asked for tokens.
    borrowing: bool,
    /// When peers were last asked.
    asked: Option<Instant>,
}

impl Bucket {
    fn full(slice: Slice, now: Instant) -> Bucket {
        Bucket {
            tokens: slice.burst,
            bytes: slice.byte_rate,
            last: now,
            slice,
            used: false,
            borrowing: false,
            asked: None,
        }
    }

    /// Tokens at `now`: refilled up to the slice's burst (tokens lent by
    /// peers above it are kept, not refilled further).
    fn tokens_at(&self, now: Instant) -> f64 {
        if self.tokens >= self.slice.burst {
            return self.tokens;
        }
        let idle = now.saturating_duration_since(self.last).as_secs_f64();
        (self.tokens + idle * self.slice.rate).min(self.slice.burst)
    }

    /// Whether to ask peers for tokens now (and note that it is asking).
    fn should_borrow(&mut self, now: Instant) -> bool {
        let due = self
            .asked
            .is_none_or(|at| now.saturating_duration_since(at) >= BORROW_INTERVAL);
        if self.tokens >= 1.0 || self.borrowing || !due {
            return false;
        }
        self.borrowing = true;
        self.asked = Some(now);
        true
    }

    /// Refills, and whether a request may be admitted (a token, and no
    /// byte debt).
    fn refill(&mut self, now: Instant) -> bool {
        self.tokens = self.tokens_at(now);
        if self.slice.byte_rate > 0.0 {
            let idle = now.saturating_duration_since(self.last).as_secs_f64();
            self.bytes = (self.bytes + idle * self.slice.byte_rate).min(self.slice.byte_rate);
        }
        self.last = now;
        self.tokens >= 1.0 && self.bytes >= 0.0
    }

    fn is_full(&self, now: Instant) -> bool {
        let idle = now.saturating_duration_since(self.last).as_secs_f64();
        let bytes_full = self.bytes + idle * self.slice.byte_rate >= self.slice.byte_rate;
        self.tokens_at(now) >= self.slice.burst && bytes_full
    }
}

/// The bucket for `name` in `map`, made full if new; keeps `map` within
/// [`MAX_TRACKED_BUCKETS`].
fn bucket_in<'a>(
    map: &'a mut HashMap<String, Bucket>,
    name: &str,
    slice: Slice,
    now: Instant,
) -> &'a mut Bucket {
    if !map.contains_key(name) {
        if map.len() >= MAX_TRACKED_BUCKETS {
            map.retain(|_, b| b.borrowing || !b.is_full(now));
            if map.len() >= MAX_TRACKED_BUCKETS {
                map.clear();
            }
        }
        map.insert(name.to_string(), Bucket::full(slice, now));
    }
    map.get_mut(name).expect("inserted above")
}

/// What a request is limited by.
#[derive(Clone, Copy, Debug, Default)]
pub struct RequestFacts<'a> {
    pub access_key: Option<&'a str>,
    pub bucket: Option<&'a str>,
    pub key: Option<&'a str>,
}

/// One kind's figures for metrics.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct KindStats {
    /// Requests this shard refused for this kind of limit.
    pub throttled: u64,
    /// Token buckets tracked.
    pub buckets: u64,
    /// Tokens taken and not yet refilled, summed over the buckets.
    pub tokens_in_use: f64,
}

/// One shard's limits and token buckets.
pub struct ShardLimits {
    defaults: Defaults,
    named: Named,
    shards: usize,
    /// When the named limits were set, and on which shard (newest wins).
    version: (Instant, usize),
    credentials: HashMap<String, Bucket>,
    buckets: HashMap<String, Bucket>,
    /// By bucket name "\n" prefix.
    prefixes: HashMap<String, Bucket>,
    throttled: [u64; 3],
    /// With `defaults.metric_names`: refusals by credential and by bucket
    /// name (at most `MAX_METRIC_NAMES` each, then under "").
    throttled_names: [BTreeMap<String, u64>; 2],
    /// Buckets that ran dry, whose peers' unused tokens are to be asked for.
    wanted: Vec<Borrow>,
}

/// A token bucket to ask peers about: the kind of limit, and the bucket's
/// name (an access key, a bucket, or a bucket "\n" prefix).
#[derive(Clone, Debug, PartialEq)]
pub struct Borrow {
    pub kind: Kind,
    pub name: String,
}

impl ShardLimits {
    pub fn new(defaults: Defaults, named: Named, shards: usize, version: (Instant, usize)) -> Self {
        assert!(shards > 0);
        assert!((1..=MAX_PREFIX_DEPTH).contains(&defaults.prefix_depth));
        ShardLimits {
            defaults,
            named,
            shards,
            version,
            credentials: HashMap::new(),
            buckets: HashMap::new(),
            prefixes: HashMap::new(),
            throttled: [0; 3],
            throttled_names: [BTreeMap::new(), BTreeMap::new()],
            wanted: Vec::new(),
        }
    }

    /// Counts a refusal by the name of the limit that refused it.
    fn count_name(&mut self, kind: Kind, name: Option<&str>) {
        let (Some(map), Some(name)) = (self.throttled_names.get_mut(kind as usize), name) else {
            return; // prefixes are counted by kind only
        };
        let name = if map.len() < MAX_METRIC_NAMES || map.contains_key(name) {
            name
        } else {
            ""
        };
        *map.entry(name.to_string()).or_insert(0) += 1;
    }

    /// Refusals by name: (kind, name, count); empty unless `metric_names`.
    pub fn throttled_by_name(&self) -> Vec<(Kind, String, u64)> {
        Kind::ALL
            .into_iter()
            .zip(&self.throttled_names)
            .flat_map(|(kind, map)| map.iter().map(move |(n, c)| (kind, n.clone(), *c)))
            .collect()
    }

    /// Whether any limit counts bytes (answers are then charged).
    pub fn counts_bytes(&self) -> bool {
        let d = &self.defaults;
        [&d.credential, &d.bucket, &d.prefix]
            .into_iter()
            .flatten()
            .chain(self.named.credentials.values())
            .chain(self.named.buckets.values())
            .any(|l| l.bytes_per_sec.is_some())
    }

    /// Charges an answered request's body bytes (request and answer) to
    /// the byte limits it was admitted under; one that drives a limit
    /// into debt is still answered, the next ones wait for the refill.
    pub fn charge(&mut self, facts: &RequestFacts, bytes: u64, now: Instant) {
        let charge = |map: &mut HashMap<String, Bucket>, name: &str| {
            if let Some(b) = map.get_mut(name).filter(|b| b.slice.byte_rate > 0.0) {
                b.refill(now);
                b.bytes -= bytes as f64;
            }
        };
        if let Some(ak) = facts.access_key {
            charge(&mut self.credentials, ak);
        }
        if let Some(b) = facts.bucket {
            charge(&mut self.buckets, b);
            if let (Some(_), Some(key)) = (&self.defaults.prefix, facts.key) {
                let name = format!("{b}\n{}", prefix_of(key, self.defaults.prefix_depth));
                charge(&mut self.prefixes, &name);
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        let d = &self.defaults;
        d.credential.is_none() && d.bucket.is_none() && d.prefix.is_none() && self.named.is_empty()
    }

    /// Admits the request (taking a token from each of its limits) or names
    /// the first limit it is over (taking none).
    pub fn check(&mut self, facts: &RequestFacts, now: Instant) -> Result<(), Kind> {
        let shards = self.shards;
        let mut prefix_name = String::new();
        let mut taken: [Option<&mut Bucket>; 3] = [None, None, None];
        if let Some(ak) = facts.access_key {
            let limit = self
                .named
                .credentials
                .get(ak)
                .or(self.defaults.credential.as_ref());
            if let Some(l) = limit {
                taken[0] = Some(bucket_in(&mut self.credentials, ak, l.slice(shards), now));
            }
        }
        if let Some(b) = facts.bucket {
            if let Some(l) = self.named.buckets.get(b).or(self.defaults.bucket.as_ref()) {
                taken[1] = Some(bucket_in(&mut self.buckets, b, l.slice(shards), now));
            }
            if let (Some(l), Some(key)) = (&self.defaults.prefix, facts.key) {
                let prefix = prefix_of(key, self.defaults.prefix_depth);
                prefix_name.reserve(b.len() + 1 + prefix.len());
                prefix_name.push_str(b);
                prefix_name.push('\n');
                prefix_name.push_str(prefix);
                taken[2] = Some(bucket_in(
                    &mut self.prefixes,
                    &prefix_name,
                    l.slice(shards),
                    now,
                ));
            }
        }
        let mut refused = None;
        for (kind, slot) in Kind::ALL.into_iter().zip(taken.iter_mut()) {
            if let Some(bucket) = slot {
                if !bucket.refill(now) && refused.is_none() {
                    refused = Some(kind);
                }
            }
        }
        let names = [facts.access_key, facts.bucket, Some(prefix_name.as_str())];
        for ((kind, slot), name) in Kind::ALL.into_iter().zip(taken).zip(names) {
            let Some(bucket) = slot else { continue };
            if refused.is_none() {
                bucket.tokens -= 1.0;
                bucket.used = true;
                debug_assert!(bucket.tokens >= 0.0);
            }
            let room = self.wanted.len() < MAX_BORROWS_IN_FLIGHT;
            if shards > 1 && room && bucket.should_borrow(now) {
                let name = name.expect("a bucket has a name").to_string();
                self.wanted.push(Borrow { kind, name });
            }
        }
        match refused {
            Some(kind) => {
                self.throttled[kind as usize] += 1;
                if self.defaults.metric_names {
                    let name = match kind {
                        Kind::Credential => facts.access_key,
                        Kind::Bucket => facts.bucket,
                        Kind::Prefix => None,
                    };
                    self.count_name(kind, name);
                }
                Err(kind)
            }
            None => Ok(()),
        }
    }

    /// The limit of `kind` that applies to bucket `name`.
    fn limit_of(&self, kind: Kind, name: &str) -> Option<Limit> {
        match kind {
            Kind::Credential => self
                .named
                .credentials
                .get(name)
                .or(self.defaults.credential.as_ref()),
            Kind::Bucket => self
                .named
                .buckets
                .get(name)
                .or(self.defaults.bucket.as_ref()),
            Kind::Prefix => self.defaults.prefix.as_ref(),
        }
        .copied()
    }

    fn map_of(&mut self, kind: Kind) -> &mut HashMap<String, Bucket> {
        match kind {
            Kind::Credential => &mut self.credentials,
            Kind::Bucket => &mut self.buckets,
            Kind::Prefix => &mut self.prefixes,
        }
    }

    /// Buckets that ran dry since the last call, to ask peers about.
    pub fn take_wanted(&mut self) -> Vec<Borrow> {
        std::mem::take(&mut self.wanted)
    }

    /// Gives a peer whose bucket `name` ran dry this shard's unused tokens
    /// of it: all of them if this shard's clients took none since it last
    /// lent, else half. Tokens move, never appear: the bound holds.
    pub fn lend(&mut self, kind: Kind, name: &str, now: Instant) -> f64 {
        let Some(limit) = self.limit_of(kind, name) else {
            return 0.0;
        };
        let slice = limit.slice(self.shards);
        let bucket = bucket_in(self.map_of(kind), name, slice, now);
        bucket.refill(now);
        let give = if bucket.used {
            bucket.tokens / 2.0
        } else {
            bucket.tokens
        };
        bucket.tokens -= give;
        bucket.used = false;
        give
    }

    /// Adds the tokens peers lent to bucket `name` (up to the whole
    /// limit's burst); the bucket may ask again.
    pub fn credit(&mut self, kind: Kind, name: &str, tokens: f64, now: Instant) {
        debug_assert!(tokens >= 0.0);
        if let Some(bucket) = self.map_of(kind).get_mut(name) {
            bucket.refill(now);
            bucket.tokens = (bucket.tokens + tokens).min(bucket.slice.cap.max(bucket.tokens));
            bucket.borrowing = false;
        }
    }

    pub fn stats(&self, now: Instant) -> [KindStats; 3] {
        let maps = [&self.credentials, &self.buckets, &self.prefixes];
        let mut out = [KindStats::default(); 3];
        for (i, map) in maps.into_iter().enumerate() {
            out[i] = KindStats {
                throttled: self.throttled[i],
                buckets: map.len() as u64,
                tokens_in_use: map
                    .values()
                    .map(|b| (b.slice.burst - b.tokens_at(now)).max(0.0))
                    .sum(),
            };
        }
        out
    }
}

/// One shard's rate limits behind the one check the request path makes.
pub struct LimitsCell {
    /// Any limit is set: the request path looks no further when false.
    on: Cell<bool>,
    /// Some limit counts bytes: answers are charged.
    bytes_on: Cell<bool>,
    state: RefCell<ShardLimits>,
}

impl LimitsCell {
    pub fn new(defaults: Defaults, shards: usize, started: Instant) -> LimitsCell {
        let state = ShardLimits::new(defaults, Named::default(), shards, (started, 0));
        LimitsCell {
            on: Cell::new(!state.is_empty()),
            bytes_on: Cell::new(state.counts_bytes()),
            state: RefCell::new(state),
        }
    }

    /// Whether any limit is set (the request path's one check).
    #[inline]
    pub fn is_on(&self) -> bool {
        self.on.get()
    }

    /// Admits the request or names the limit it is over.
    pub fn check(&self, facts: &RequestFacts) -> Result<(), Kind> {
        self.state.borrow_mut().check(facts, Instant::now())
    }

    /// Replaces the named limits with `named` (validated), set at `version`
    /// (when, and the shard whose admin API took the change), unless newer
    /// ones are in force; whether they were installed. Token buckets start
    /// over full.
    pub fn install(&self, named: Named, version: (Instant, usize)) -> bool {
        let mut state = self.state.borrow_mut();
        if version <= state.version {
            return false;
        }
        let (defaults, shards) = (state.defaults.clone(), state.shards);
        let throttled = state.throttled;
        let names = std::mem::take(&mut state.throttled_names);
        *state = ShardLimits::new(defaults, named, shards, version);
        state.throttled = throttled;
        state.throttled_names = names;
        self.on.set(!state.is_empty());
        self.bytes_on.set(state.counts_bytes());
        true
    }

    /// Whether answers are to be charged to byte limits.
    #[inline]
    pub fn counts_bytes(&self) -> bool {
        self.bytes_on.get()
    }

    /// Charges an answered request's body bytes to its byte limits.
    pub fn charge(&self, facts: &RequestFacts, bytes: u64) {
        self.state.borrow_mut().charge(facts, bytes, Instant::now())
    }

    /// The limits in force: the flags' defaults and the named ones.
    pub fn listing(&self) -> (Defaults, Named) {
        let state = self.state.borrow();
        (state.defaults.clone(), state.named.clone())
    }

    pub fn stats(&self) -> [KindStats; 3] {
        self.state.borrow().stats(Instant::now())
    }

    /// Refusals by access key and bucket name (`--rate-limit-metric-names`).
    pub fn throttled_by_name(&self) -> Vec<(Kind, String, u64)> {
        self.state.borrow().throttled_by_name()
    }

    /// Buckets that ran dry, to ask peers about (empty: nothing to do).
    pub fn take_wanted(&self) -> Vec<Borrow> {
        let mut state = self.state.borrow_mut();
        if state.wanted.is_empty() {
            return Vec::new();
        }
        state.take_wanted()
    }

    /// A peer's ask for this shard's unused tokens of one bucket.
    pub fn lend(&self, kind: Kind, name: &str) -> f64 {
        self.state.borrow_mut().lend(kind, name, Instant::now())
    }

    /// What peers lent to one bucket of this shard.
    pub fn credit(&self, kind: Kind, name: &str, tokens: f64) {
        self.state
            .borrow_mut()
            .credit(kind, name, tokens, Instant::now())
    }
}

#[cfg(test)]
mod tests;
