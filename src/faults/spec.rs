//! Fault rules as a tester writes them: the `--faults FILE` document (TOML
//! or JSON) and the admin API's body share one serde shape, and one
//! validation that names the rule and the field of anything wrong. A rule
//! set is checked whole before any of it is installed (nothing is
//! half-applied).

use crate::s3::error::S3ErrorCode;
use crate::s3::router::Operation;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// Rules one set may hold (each request is matched against all of them).
pub const MAX_RULES: usize = 256;
/// Longest rule id (it is a metrics label and a header value).
pub const MAX_RULE_ID_BYTES: usize = 64;
/// Values one match list (operations, buckets, ...) may hold.
pub const MAX_MATCH_VALUES: usize = 256;
/// Longest key prefix, glob, bucket name or access key a rule may name.
pub const MAX_PATTERN_BYTES: usize = 1024;
/// Longest injected error code and message.
pub const MAX_ERROR_CODE_BYTES: usize = 64;
pub const MAX_ERROR_MESSAGE_BYTES: usize = 1024;
/// Most latency one rule adds to a request (two minutes: past any SDK timeout).
pub const MAX_LATENCY_MS: f64 = 120_000.0;
/// Recorded latencies one `samples_ms` distribution may hold.
pub const MAX_LATENCY_SAMPLES: usize = 10_000;
/// Largest Retry-After an injected error may carry.
pub const MAX_RETRY_AFTER_SECS: u32 = 3600;
/// Schedules are counted in seconds from the load, up to a year.
pub const MAX_SCHEDULE_SECS: f64 = 365.0 * 24.0 * 3600.0;
/// Rules files are a few KiB; anything much larger is not one.
pub const MAX_RULES_FILE_BYTES: u64 = 1024 * 1024;

/// A rule set: `[[rules]]` tables in TOML, `{"rules": [...]}` in JSON.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRules {
    #[serde(default)]
    pub rules: Vec<RuleSpec>,
}

/// One rule: which requests, how often, when, and what happens to them.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    /// Names the rule in metrics, logs and the `x-ringstore-fault` header.
    pub id: String,
    /// Every condition given must hold; none given matches every request.
    #[serde(default, rename = "match", skip_serializing_if = "MatchSpec::is_empty")]
    pub matches: MatchSpec,
    /// Fire on this fraction of matching requests (a seeded draw per rule).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub probability: Option<f64>,
    /// Fire on every Nth matching request (the Nth, 2Nth, ...; counted per shard).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every: Option<u64>,
    /// Seed of the probability draws (default: derived from the id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// When the rule is active; always when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub schedule: Option<ScheduleSpec>,
    pub action: ActionSpec,
}

/// Conditions on a request. Lists match any of their values.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MatchSpec {
    /// The router's operation names: `GetObject`, `PutObject`, ...
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub operations: Vec<String>,
    /// HTTP methods: GET, HEAD, PUT, POST, DELETE, OPTIONS.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub methods: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub buckets: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_prefix: Option<String>,
    /// `*` any run of characters (`/` too), `?` one character.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_glob: Option<String>,
    /// The signing credential's access key (anonymous requests never match).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub access_keys: Vec<String>,
    /// Object size in bytes, inclusive: a write's declared body length, a
    /// read's answer length; requests of unknown size do not match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_size: Option<u64>,
}

impl MatchSpec {
    fn is_empty(&self) -> bool {
        *self == MatchSpec::default()
    }
}

/// Seconds after the rules were loaded (at start for `--faults`, at the
/// API call for a live change): active from `from_secs` until `to_secs`,
/// and within that, when `every_secs` is set, only for the first
/// `for_secs` of every `every_secs`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from_secs: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to_secs: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every_secs: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_secs: Option<f64>,
}

/// What a firing rule does: one key naming the action, its settings inside.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionSpec {
    /// Delay the answer's head.
    Latency(LatencySpec),
    /// Delay each piece of a GET body, or of an upload's body, after the first.
    ChunkLatency(LatencySpec),
    /// Answer an S3 error instead of running the operation.
    Error(ErrorSpec),
    /// Reset the connection (TCP RST) instead of answering.
    Reset(ResetSpec),
    /// Send the head and part of a GET body, then reset the connection.
    ResetMidBody(CutSpec),
    /// Send the head (full Content-Length) and part of a GET body, then close.
    Truncate(CutSpec),
    /// Send a GET body, or read an upload's body, at this rate.
    SlowBody(SlowBodySpec),
}

/// Exactly one of: `fixed_ms`; `min_ms` and `max_ms` (uniform); `p50_ms`
/// and `p99_ms` (log-normal with that median and 99th percentile);
/// `mean_ms` and `p99_ms` (normal with that mean and 99th percentile, cut
/// at zero); `samples_ms` (a recorded distribution: each delay one of these,
/// drawn uniformly).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LatencySpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fixed_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p50_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub p99_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mean_ms: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub samples_ms: Option<Vec<f64>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ErrorSpec {
    /// Any code; S3's own codes (SlowDown, InternalError, ...) need no status.
    pub code: String,
    /// HTTP status, 400-599; default: the status S3 answers with `code`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<u16>,
    /// Default: S3's message for `code`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// A `Retry-After` header, in seconds (none unless given).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_after_secs: Option<u32>,
}

/// Reset before anything runs (an injected reset stores nothing), or with
/// `after_commit` once a write's handler has run: the write landed but the
/// client sees a reset, S3's real "did it land?" case.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ResetSpec {
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub after_commit: bool,
}

/// Where a GET body is cut: after `after_bytes` (default half the body),
/// always at least one byte short of the whole.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CutSpec {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after_bytes: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SlowBodySpec {
    pub bytes_per_sec: u64,
}

impl ActionSpec {
    /// The action's name, as in the file (and the metrics' `action` label).
    pub fn name(&self) -> &'static str {
        match self {
            ActionSpec::Latency(_) => "latency",
            ActionSpec::ChunkLatency(_) => "chunk_latency",
            ActionSpec::Error(_) => "error",
            ActionSpec::Reset(_) => "reset",
            ActionSpec::ResetMidBody(_) => "reset_mid_body",
            ActionSpec::Truncate(_) => "truncate",
            ActionSpec::SlowBody(_) => "slow_body",
        }
    }
}

/// The S3 error code named `code`, if it is one ringstore knows.
pub fn known_code(code: &str) -> Option<S3ErrorCode> {
    S3ErrorCode::ALL
        .iter()
        .copied()
        .find(|c| c.as_str() == code)
}

/// The operation the router calls `name`.
pub fn operation_named(name: &str) -> Option<Operation> {
    Operation::ALL.iter().copied().find(|o| o.name() == name)
}

/// Methods a rule may name (upper case, as on the wire).
pub const METHODS: [&str; 6] = ["GET", "HEAD", "PUT", "POST", "DELETE", "OPTIONS"];

impl FaultRules {
    /// Parses a rules document: JSON when it starts with `{`, TOML otherwise.
    pub fn parse(text: &str) -> Result<FaultRules, String> {
        let rules: FaultRules = if text.trim_start().starts_with('{') {
            serde_json::from_str(text).map_err(|e| e.to_string())?
        } else {
            toml::from_str(text).map_err(|e| e.to_string())?
        };
        rules.validate()?;
        Ok(rules)
    }

    /// Reads, parses and checks a rules file (`--faults FILE`).
    pub fn load(path: &Path) -> Result<FaultRules, String> {
        let shown = path.display();
        let meta = std::fs::metadata(path).map_err(|e| format!("faults file {shown}: {e}"))?;
        if meta.len() > MAX_RULES_FILE_BYTES {
            return Err(format!(
                "faults file {shown}: {} bytes; a rules file is at most {MAX_RULES_FILE_BYTES}",
                meta.len()
            ));
        }
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("faults file {shown}: {e}"))?;
        FaultRules::parse(&text).map_err(|e| format!("faults file {shown}: {e}"))
    }

    /// Checks every rule; the error names the rule and the field.
    pub fn validate(&self) -> Result<(), String> {
        if self.rules.len() > MAX_RULES {
            return Err(format!(
                "rules: {} rules; at most {MAX_RULES}",
                self.rules.len()
            ));
        }
        for (i, rule) in self.rules.iter().enumerate() {
            let at = format!("rules[{i}]");
            rule.validate().map_err(|e| format!("{at}: {e}"))?;
            if self.rules[..i].iter().any(|r| r.id == rule.id) {
                return Err(format!(
                    "{at}: id: {:?} is used by an earlier rule",
                    rule.id
                ));
            }
        }
        Ok(())
    }
}

impl RuleSpec {
    fn validate(&self) -> Result<(), String> {
        check_id(&self.id).map_err(|e| format!("id: {e}"))?;
        let within = |e: String| format!("(id {:?}) {e}", self.id);
        self.matches.validate().map_err(within)?;
        match (self.probability, self.every) {
            (Some(_), Some(_)) => {
                return Err(within("probability and every: give one or neither".into()))
            }
            (Some(p), None) if !(0.0..=1.0).contains(&p) => {
                return Err(within(format!("probability: {p} is not within 0..=1")))
            }
            (None, Some(0)) => return Err(within("every: must be at least 1".into())),
            _ => {}
        }
        if let Some(s) = &self.schedule {
            s.validate().map_err(|e| within(format!("schedule.{e}")))?;
        }
        self.action
            .validate()
            .map_err(|e| within(format!("action.{}.{e}", self.action.name())))
    }
}

fn check_id(id: &str) -> Result<(), String> {
    let ok = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':');
    if id.is_empty() || id.len() > MAX_RULE_ID_BYTES || !id.bytes().all(ok) {
        return Err(format!(
            "{id:?}: 1-{MAX_RULE_ID_BYTES} characters of A-Z a-z 0-9 - _ . :"
        ));
    }
    Ok(())
}

fn check_list(field: &str, values: &[String]) -> Result<(), String> {
    if values.len() > MAX_MATCH_VALUES {
        return Err(format!("match.{field}: at most {MAX_MATCH_VALUES} values"));
    }
    match values
        .iter()
        .find(|v| v.is_empty() || v.len() > MAX_PATTERN_BYTES)
    {
        Some(v) => Err(format!(
            "match.{field}: {v:?} must be 1-{MAX_PATTERN_BYTES} bytes"
        )),
        None => Ok(()),
    }
}

impl MatchSpec {
    fn validate(&self) -> Result<(), String> {
        check_list("operations", &self.operations)?;
        check_list("methods", &self.methods)?;
        check_list("buckets", &self.buckets)?;
        check_list("access_keys", &self.access_keys)?;
        if let Some(op) = self
            .operations
            .iter()
            .find(|o| operation_named(o).is_none())
        {
            return Err(format!(
                "match.operations: {op:?} is not an operation the router knows (GetObject, PutObject, ...)"
            ));
        }
        if let Some(m) = self
            .methods
            .iter()
            .find(|m| !METHODS.contains(&m.to_ascii_uppercase().as_str()))
        {
            return Err(format!("match.methods: {m:?} is not one of {METHODS:?}"));
        }
        for (field, value) in [
            ("key_prefix", &self.key_prefix),
            ("key_glob", &self.key_glob),
        ] {
            if value.as_ref().is_some_and(|v| v.len() > MAX_PATTERN_BYTES) {
                return Err(format!(
                    "match.{field}: longer than {MAX_PATTERN_BYTES} bytes"
                ));
            }
        }
        if let (Some(lo), Some(hi)) = (self.min_size, self.max_size) {
            if lo > hi {
                return Err(format!("match.min_size: {lo} is above max_size {hi}"));
            }
        }
        Ok(())
    }
}

fn check_secs(field: &str, v: Option<f64>) -> Result<(), String> {
    match v {
        Some(s) if !(0.0..=MAX_SCHEDULE_SECS).contains(&s) => Err(format!(
            "{field}: {s} is not within 0..={MAX_SCHEDULE_SECS}"
        )),
        _ => Ok(()),
    }
}

impl ScheduleSpec {
    fn validate(&self) -> Result<(), String> {
        check_secs("from_secs", self.from_secs)?;
        check_secs("to_secs", self.to_secs)?;
        check_secs("every_secs", self.every_secs)?;
        check_secs("for_secs", self.for_secs)?;
        if let (Some(from), Some(to)) = (self.from_secs, self.to_secs) {
            if to <= from {
                return Err(format!("to_secs: {to} is not after from_secs {from}"));
            }
        }
        match (self.every_secs, self.for_secs) {
            (None, None) => Ok(()),
            (Some(every), Some(for_)) if every > 0.0 && for_ > 0.0 && for_ <= every => Ok(()),
            (Some(_), Some(_)) => {
                Err("for_secs: must be above 0 and at most every_secs (above 0)".into())
            }
            _ => {
                Err("every_secs: goes with for_secs (a window of for_secs every every_secs)".into())
            }
        }
    }
}

fn check_ms(field: &str, v: f64) -> Result<(), String> {
    if !(0.0..=MAX_LATENCY_MS).contains(&v) {
        return Err(format!("{field}: {v} is not within 0..={MAX_LATENCY_MS}"));
    }
    Ok(())
}

impl ActionSpec {
    fn validate(&self) -> Result<(), String> {
        match self {
            ActionSpec::Latency(l) | ActionSpec::ChunkLatency(l) => l.validate(),
            ActionSpec::Error(e) => e.validate(),
            ActionSpec::SlowBody(s) if s.bytes_per_sec == 0 => {
                Err("bytes_per_sec: must be at least 1".into())
            }
            ActionSpec::Reset(_)
            | ActionSpec::ResetMidBody(_)
            | ActionSpec::Truncate(_)
            | ActionSpec::SlowBody(_) => Ok(()),
        }
    }
}

impl LatencySpec {
    fn validate(&self) -> Result<(), String> {
        let forms = [
            self.fixed_ms.is_some(),
            self.min_ms.is_some() || self.max_ms.is_some(),
            self.p50_ms.is_some(),
            self.mean_ms.is_some(),
            self.samples_ms.is_some(),
        ];
        if forms.iter().filter(|&&f| f).count() != 1 {
            return Err(
                "fixed_ms: give exactly one of fixed_ms; min_ms and max_ms; p50_ms and \
                 p99_ms; mean_ms and p99_ms; samples_ms"
                    .into(),
            );
        }
        if self.p99_ms.is_some() != (forms[2] || forms[3]) {
            return Err("p99_ms: goes with p50_ms (log-normal) or mean_ms (normal)".into());
        }
        for (field, v) in [
            ("fixed_ms", self.fixed_ms),
            ("min_ms", self.min_ms),
            ("max_ms", self.max_ms),
            ("p50_ms", self.p50_ms),
            ("p99_ms", self.p99_ms),
            ("mean_ms", self.mean_ms),
        ] {
            if let Some(ms) = v {
                check_ms(field, ms)?;
            }
        }
        if forms[1] {
            let (Some(lo), Some(hi)) = (self.min_ms, self.max_ms) else {
                return Err("min_ms: goes with max_ms (a uniform delay between them)".into());
            };
            if lo > hi {
                return Err(format!("min_ms: {lo} is above max_ms {hi}"));
            }
        }
        let p99 = self.p99_ms.unwrap_or_default();
        match (self.p50_ms, self.mean_ms) {
            (Some(p50), _) if p50 <= 0.0 || p99 < p50 => {
                return Err(format!(
                    "p99_ms: needs 0 < p50_ms <= p99_ms, not {p50} and {p99}"
                ))
            }
            (_, Some(mean)) if p99 < mean => {
                return Err(format!("p99_ms: {p99} is below mean_ms {mean}"))
            }
            _ => {}
        }
        match &self.samples_ms {
            Some(s) if s.is_empty() || s.len() > MAX_LATENCY_SAMPLES => Err(format!(
                "samples_ms: 1-{MAX_LATENCY_SAMPLES} recorded latencies"
            )),
            Some(s) => s.iter().try_for_each(|&ms| check_ms("samples_ms", ms)),
            None => Ok(()),
        }
    }
}

impl ErrorSpec {
    fn validate(&self) -> Result<(), String> {
        let code_ok = |b: u8| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_');
        if self.code.is_empty()
            || self.code.len() > MAX_ERROR_CODE_BYTES
            || !self.code.bytes().all(code_ok)
        {
            return Err(format!(
                "code: {:?} must be 1-{MAX_ERROR_CODE_BYTES} characters of A-Z a-z 0-9 . - _",
                self.code
            ));
        }
        match (self.status, known_code(&self.code)) {
            (Some(s), _) if !(400..=599).contains(&s) => {
                return Err(format!("status: {s} is not an error status (400-599)"))
            }
            (None, None) => {
                return Err(format!(
                    "status: needed, {:?} is not an S3 error code ringstore knows",
                    self.code
                ))
            }
            _ => {}
        }
        if self
            .message
            .as_ref()
            .is_some_and(|m| m.len() > MAX_ERROR_MESSAGE_BYTES)
        {
            return Err(format!(
                "message: longer than {MAX_ERROR_MESSAGE_BYTES} bytes"
            ));
        }
        match self.retry_after_secs {
            Some(s) if s > MAX_RETRY_AFTER_SECS => Err(format!(
                "retry_after_secs: {s} is above {MAX_RETRY_AFTER_SECS}"
            )),
            _ => Ok(()),
        }
    }

    /// The status the answer carries.
    pub fn status(&self) -> u16 {
        self.status
            .or_else(|| known_code(&self.code).map(|c| c.status()))
            .expect("validated: a status or a known code")
    }

    /// The message the document carries.
    pub fn message(&self) -> &str {
        match (&self.message, known_code(&self.code)) {
            (Some(m), _) => m,
            (None, Some(c)) => c.default_message(),
            (None, None) => "Injected fault.",
        }
    }
}

/// The rules-file example of docs/faults.md (its first ```toml block that
/// holds rules), so tests can hold the documentation to what it says.
pub fn docs_example() -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("docs/faults.md");
    let text = std::fs::read_to_string(&path).expect("docs/faults.md");
    text.split("```toml\n")
        .skip(1)
        .filter_map(|block| block.split("```").next())
        .find(|block| block.contains("[[rules]]"))
        .expect("docs/faults.md has a ```toml rules example")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_example_parses_as_toml_and_as_json() {
        let rules = FaultRules::parse(&docs_example()).expect("the example is valid");
        let ids: Vec<&str> = rules.rules.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "slow-photos",
                "throttle-uploads",
                "flaky-downloads",
                "reports-outage"
            ]
        );
        // The admin API's shape: the same rules as JSON round-trip.
        let json = serde_json::to_string(&rules).expect("serialise");
        assert_eq!(FaultRules::parse(&json).expect("json parses"), rules);
    }

    fn error_of(text: &str) -> String {
        FaultRules::parse(text).expect_err(text)
    }

    #[test]
    fn a_bad_rule_is_an_error_naming_the_rule_and_the_field() {
        for (text, expect) in [
            (
                "[[rules]]\nid = \"a\"\naction = { error = { code = \"Nope\" } }",
                "rules[0]: (id \"a\") action.error.status",
            ),
            (
                "[[rules]]\nid = \"a\"\naction = { error = { code = \"X\", status = 200 } }",
                "action.error.status: 200",
            ),
            (
                "[[rules]]\nid = \"a\"\nprobability = 1.5\naction = { reset = {} }",
                "probability: 1.5",
            ),
            (
                "[[rules]]\nid = \"a\"\nevery = 2\nprobability = 0.5\naction = { reset = {} }",
                "probability and every",
            ),
            (
                "[[rules]]\nid = \"a\"\nmatch = { operations = [\"GetObjekt\"] }\naction = { reset = {} }",
                "match.operations: \"GetObjekt\"",
            ),
            (
                "[[rules]]\nid = \"a\"\nmatch = { min_size = 5, max_size = 4 }\naction = { reset = {} }",
                "match.min_size",
            ),
            (
                "[[rules]]\nid = \"a\"\nschedule = { every_secs = 10 }\naction = { reset = {} }",
                "schedule.every_secs",
            ),
            (
                "[[rules]]\nid = \"a\"\nschedule = { from_secs = 10, to_secs = 5 }\naction = { reset = {} }",
                "schedule.to_secs",
            ),
            (
                "[[rules]]\nid = \"a\"\naction = { latency = { fixed_ms = 1, p50_ms = 2 } }",
                "action.latency.fixed_ms",
            ),
            (
                "[[rules]]\nid = \"a\"\naction = { latency = { p50_ms = 20, p99_ms = 10 } }",
                "action.latency.p99_ms",
            ),
            (
                "[[rules]]\nid = \"a\"\naction = { latency = { mean_ms = 20 } }",
                "action.latency.p99_ms",
            ),
            (
                "[[rules]]\nid = \"a\"\naction = { chunk_latency = { samples_ms = [] } }",
                "action.chunk_latency.samples_ms",
            ),
            (
                "[[rules]]\nid = \"a\"\naction = { latency = { samples_ms = [1, -2] } }",
                "action.latency.samples_ms: -2",
            ),
            (
                "[[rules]]\nid = \"a\"\naction = { slow_body = { bytes_per_sec = 0 } }",
                "action.slow_body.bytes_per_sec",
            ),
            (
                "[[rules]]\nid = \"a b\"\naction = { reset = {} }",
                "rules[0]: id",
            ),
            (
                "[[rules]]\nid = \"a\"\naction = { reset = {} }\n[[rules]]\nid = \"a\"\naction = { reset = {} }",
                "rules[1]: id: \"a\" is used",
            ),
        ] {
            let err = error_of(text);
            assert!(err.contains(expect), "{text}\n -> {err}\n wanted {expect}");
        }
        // Unknown fields and actions are refused by name, in TOML and JSON.
        let err = error_of("[[rules]]\nid = \"a\"\nprobabilty = 0.5\naction = { reset = {} }");
        assert!(err.contains("probabilty"), "{err}");
        let err = error_of(r#"{"rules": [{"id": "a", "action": {"explode": {}}}]}"#);
        assert!(err.contains("explode"), "{err}");
        let err = error_of(r#"{"rules": [{"id": "a"}]}"#);
        assert!(err.contains("action"), "{err}");
    }

    #[test]
    fn known_codes_take_s3s_status_and_message() {
        let e = ErrorSpec {
            code: "SlowDown".into(),
            status: None,
            message: None,
            retry_after_secs: None,
        };
        assert_eq!(e.status(), 503);
        assert_eq!(e.message(), "Please reduce your request rate.");
        let e = ErrorSpec {
            code: "Teapot".into(),
            status: Some(418),
            message: None,
            retry_after_secs: None,
        };
        assert_eq!(e.status(), 418);
    }
}
