//! One shard's copy of the rules and their state (every-Nth counters and
//! seeded random draws), and the decision for one request. Nothing here is
//! shared with another shard: an admin change reaches each shard as a
//! message carrying its own copy of the rules.

use super::spec::{operation_named, ActionSpec, FaultRules, LatencySpec, RuleSpec, ScheduleSpec};
use crate::http::Method;
use crate::s3::router::Operation;
use std::rc::Rc;
use std::time::{Duration, Instant};

/// The standard normal's 99th percentile: a log-normal with median m and
/// 99th percentile p has sigma = ln(p / m) / Z_99.
const Z_99: f64 = 2.326_347_874_040_841;

/// What the matcher knows about a request.
#[derive(Debug, Clone, Copy)]
pub struct RequestFacts<'a> {
    pub op: Operation,
    pub method: Method,
    pub bucket: Option<&'a str>,
    pub key: Option<&'a str>,
    /// The verified signing credential's access key.
    pub access_key: Option<&'a str>,
    /// See `MatchSpec::min_size`.
    pub size: Option<u64>,
    /// The answer carries an object body of at least one byte (a GET
    /// decided after its handler ran).
    pub object_body: bool,
    /// The request has a body to read (a write decided before its handler).
    pub request_body: bool,
}

/// What the faults that fired do to one request.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// Added before the answer's head: the sum of the latency rules that fired.
    pub latency: Duration,
    /// The first non-latency rule that fired.
    pub action: Option<ActionSpec>,
    /// The rules applied and their actions' names (the latency ones, then
    /// the action's).
    pub rules: Vec<(Rc<str>, &'static str)>,
    /// Seeds the action's own draws (`chunk_latency`'s delays), from its
    /// rule's generator.
    pub seed: u64,
}

impl Decision {
    /// Whether the handler must not run (the answer is an error or nothing).
    pub fn skips_handler(&self) -> bool {
        match &self.action {
            Some(ActionSpec::Error(_)) => true,
            Some(ActionSpec::Reset(r)) => !r.after_commit,
            _ => false,
        }
    }
}

/// A rule as one shard runs it.
struct Rule {
    id: Rc<str>,
    spec: RuleSpec,
    operations: Vec<Operation>,
    methods: Vec<Method>,
    /// Matching requests seen (for `every`).
    seen: u64,
    /// The probability draws' generator state.
    rng: u64,
}

/// One shard's rules. Empty when fault injection is off.
pub struct ShardFaults {
    rules: Vec<Rule>,
    /// What the rules were built from (the admin API lists it).
    source: FaultRules,
    /// Schedules count from here.
    loaded_at: Instant,
    /// Orders concurrent admin changes: (when, the shard that made it).
    version: (Instant, usize),
}

impl ShardFaults {
    /// Builds shard `shard`'s copy of validated `rules`, loaded at `loaded_at`
    /// by an admin change on shard `origin` (or at start).
    pub fn new(rules: FaultRules, loaded_at: Instant, shard: usize, origin: usize) -> ShardFaults {
        debug_assert!(
            rules.validate().is_ok(),
            "rules are validated before install"
        );
        let built = rules
            .rules
            .iter()
            .map(|spec| Rule {
                id: Rc::from(spec.id.as_str()),
                operations: spec
                    .matches
                    .operations
                    .iter()
                    .filter_map(|o| operation_named(o))
                    .collect(),
                methods: spec
                    .matches
                    .methods
                    .iter()
                    .map(|m| method_named(m))
                    .collect(),
                seen: 0,
                rng: seed_for(spec, shard),
                spec: spec.clone(),
            })
            .collect();
        ShardFaults {
            rules: built,
            source: rules,
            loaded_at,
            version: (loaded_at, origin),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.rules.is_empty()
    }

    pub fn source(&self) -> &FaultRules {
        &self.source
    }

    pub fn loaded_at(&self) -> Instant {
        self.loaded_at
    }

    /// Whether a change made at `version` is newer than the rules held.
    pub fn is_older_than(&self, version: (Instant, usize)) -> bool {
        version > self.version
    }

    /// Matches `facts` against every rule (each one's counter and draw
    /// advance on every request it matches) and returns what fired. The
    /// clock is read only if a matching rule has a schedule.
    pub fn decide(
        &mut self,
        facts: &RequestFacts,
        clock: impl Fn() -> Instant,
    ) -> Option<Decision> {
        let mut elapsed: Option<f64> = None;
        let mut decision: Option<Decision> = None;
        for rule in &mut self.rules {
            if !rule.matches(facts) {
                continue;
            }
            if let Some(schedule) = &rule.spec.schedule {
                let secs = *elapsed.get_or_insert_with(|| {
                    clock()
                        .saturating_duration_since(self.loaded_at)
                        .as_secs_f64()
                });
                if !active(schedule, secs) {
                    continue;
                }
            }
            if !rule.fires() {
                continue;
            }
            let d = decision.get_or_insert_with(|| Decision {
                latency: Duration::ZERO,
                action: None,
                rules: Vec::new(),
                seed: 0,
            });
            match &rule.spec.action {
                ActionSpec::Latency(l) => {
                    d.latency += sample_latency(l, &mut rule.rng);
                    d.rules.push((rule.id.clone(), "latency"));
                }
                other if d.action.is_none() => {
                    d.action = Some(other.clone());
                    d.rules.push((rule.id.clone(), other.name()));
                    d.seed = splitmix(rule.rng ^ rule.seen);
                }
                _ => {}
            }
        }
        decision
    }
}

impl Rule {
    fn matches(&self, f: &RequestFacts) -> bool {
        let m = &self.spec.matches;
        (self.operations.is_empty() || self.operations.contains(&f.op))
            && (self.methods.is_empty() || self.methods.contains(&f.method))
            && (m.buckets.is_empty() || f.bucket.is_some_and(|b| m.buckets.iter().any(|x| x == b)))
            && m.key_prefix
                .as_ref()
                .is_none_or(|p| f.key.is_some_and(|k| k.starts_with(p.as_str())))
            && m.key_glob
                .as_ref()
                .is_none_or(|g| f.key.is_some_and(|k| crate::access::glob::matches(g, k)))
            && (m.access_keys.is_empty()
                || f.access_key
                    .is_some_and(|a| m.access_keys.iter().any(|x| x == a)))
            && size_matches(m.min_size, m.max_size, f.size)
            && match &self.spec.action {
                ActionSpec::SlowBody(_) | ActionSpec::ChunkLatency(_) => {
                    f.object_body || f.request_body
                }
                ActionSpec::ResetMidBody(_) | ActionSpec::Truncate(_) => f.object_body,
                _ => true,
            }
    }

    /// Counts one matching request; whether the rule fires on it.
    fn fires(&mut self) -> bool {
        self.seen += 1;
        match (self.spec.probability, self.spec.every) {
            (Some(p), _) => unit_draw(&mut self.rng) < p,
            (None, Some(n)) => self.seen.is_multiple_of(n),
            (None, None) => true,
        }
    }
}

fn size_matches(lo: Option<u64>, hi: Option<u64>, size: Option<u64>) -> bool {
    if lo.is_none() && hi.is_none() {
        return true;
    }
    size.is_some_and(|s| lo.is_none_or(|lo| s >= lo) && hi.is_none_or(|hi| s <= hi))
}

/// Whether a rule with schedule `s` is active `elapsed` seconds after the load.
fn active(s: &ScheduleSpec, elapsed: f64) -> bool {
    let from = s.from_secs.unwrap_or(0.0);
    if elapsed < from || s.to_secs.is_some_and(|to| elapsed >= to) {
        return false;
    }
    match (s.every_secs, s.for_secs) {
        (Some(every), Some(for_)) => (elapsed - from) % every < for_,
        _ => true,
    }
}

fn method_named(name: &str) -> Method {
    match name.to_ascii_uppercase().as_str() {
        "GET" => Method::Get,
        "HEAD" => Method::Head,
        "PUT" => Method::Put,
        "POST" => Method::Post,
        "DELETE" => Method::Delete,
        "OPTIONS" => Method::Options,
        _ => Method::Other,
    }
}

/// The draws of one rule on one shard: the rule's seed (or its id's hash),
/// mixed with the shard, so shards do not fire in lockstep.
fn seed_for(spec: &RuleSpec, shard: usize) -> u64 {
    let base = spec.seed.unwrap_or_else(|| fnv1a(spec.id.as_bytes()));
    splitmix(base ^ (shard as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15))
}

fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |h, &b| {
        (h ^ b as u64).wrapping_mul(0x0100_0000_01b3)
    })
}

fn splitmix(x: u64) -> u64 {
    let mut z = x.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// A uniform draw in [0, 1) (splitmix64 steps: small, fast, seedable).
fn unit_draw(state: &mut u64) -> f64 {
    *state = state.wrapping_add(0x9E37_79B9_7F4A_7C15);
    let x = splitmix(*state);
    (x >> 11) as f64 / (1u64 << 53) as f64
}

/// One delay drawn from validated `l` with the generator `rng`.
pub fn sample_latency(l: &LatencySpec, rng: &mut u64) -> Duration {
    let ms = if let Some(ms) = l.fixed_ms {
        ms
    } else if let (Some(lo), Some(hi)) = (l.min_ms, l.max_ms) {
        lo + (hi - lo) * unit_draw(rng)
    } else if let (Some(p50), Some(p99)) = (l.p50_ms, l.p99_ms) {
        let sigma = (p99 / p50).ln() / Z_99;
        p50 * (sigma * standard_normal(rng)).exp()
    } else if let (Some(mean), Some(p99)) = (l.mean_ms, l.p99_ms) {
        mean + (p99 - mean) / Z_99 * standard_normal(rng)
    } else if let Some(samples) = l.samples_ms.as_deref().filter(|s| !s.is_empty()) {
        let at = (unit_draw(rng) * samples.len() as f64) as usize;
        samples[at.min(samples.len() - 1)]
    } else {
        unreachable!("validated: one latency form")
    };
    let micros = (ms.clamp(0.0, super::spec::MAX_LATENCY_MS) * 1000.0).round();
    Duration::from_micros(micros as u64)
}

/// Box-Muller: one standard normal draw from two uniform ones.
fn standard_normal(rng: &mut u64) -> f64 {
    let u1 = 1.0 - unit_draw(rng); // (0, 1]: ln is finite
    let u2 = unit_draw(rng);
    (-2.0 * u1.ln()).sqrt() * (2.0 * std::f64::consts::PI * u2).cos()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(toml: &str) -> ShardFaults {
        let r = FaultRules::parse(toml).expect("valid rules");
        ShardFaults::new(r, Instant::now(), 0, 0)
    }

    fn get<'a>(bucket: &'a str, key: &'a str) -> RequestFacts<'a> {
        RequestFacts {
            op: Operation::GetObject,
            method: Method::Get,
            bucket: Some(bucket),
            key: Some(key),
            access_key: Some("AK"),
            size: Some(100),
            object_body: true,
            request_body: false,
        }
    }

    fn fired(f: &mut ShardFaults, facts: &RequestFacts) -> bool {
        f.decide(facts, Instant::now).is_some()
    }

    #[test]
    fn every_condition_given_must_hold() {
        let mut f = rules(
            r#"[[rules]]
id = "r"
match = { operations = ["GetObject"], buckets = ["b"], key_prefix = "logs/", key_glob = "*.gz", access_keys = ["AK"], methods = ["get"], min_size = 10, max_size = 100 }
action = { error = { code = "SlowDown" } }
"#,
        );
        assert!(fired(&mut f, &get("b", "logs/x.gz")));
        assert!(!fired(&mut f, &get("c", "logs/x.gz")), "bucket");
        assert!(!fired(&mut f, &get("b", "data/x.gz")), "prefix");
        assert!(!fired(&mut f, &get("b", "logs/x.txt")), "glob");
        let mut other = get("b", "logs/x.gz");
        other.access_key = Some("OTHER");
        assert!(!fired(&mut f, &other), "credential");
        other.access_key = None;
        assert!(!fired(&mut f, &other), "anonymous");
        let mut big = get("b", "logs/x.gz");
        big.size = Some(101);
        assert!(!fired(&mut f, &big), "size above");
        big.size = None;
        assert!(!fired(&mut f, &big), "size unknown");
        let mut put = get("b", "logs/x.gz");
        put.op = Operation::PutObject;
        assert!(!fired(&mut f, &put), "operation");
        put.op = Operation::GetObject;
        put.method = Method::Head;
        assert!(!fired(&mut f, &put), "method");
    }

    #[test]
    fn every_nth_fires_on_the_nth_and_a_probability_is_seeded() {
        let mut f = rules("[[rules]]\nid = \"n\"\nevery = 3\naction = { reset = {} }\n");
        let hits: Vec<bool> = (0..9).map(|_| fired(&mut f, &get("b", "k"))).collect();
        assert_eq!(
            hits,
            [false, false, true, false, false, true, false, false, true]
        );
        let text = "[[rules]]\nid = \"p\"\nprobability = 0.25\nseed = 7\naction = { reset = {} }\n";
        let draws = |shard| {
            let mut f =
                ShardFaults::new(FaultRules::parse(text).unwrap(), Instant::now(), shard, 0);
            (0..4000)
                .map(|_| fired(&mut f, &get("b", "k")))
                .collect::<Vec<_>>()
        };
        let a = draws(0);
        assert_eq!(a, draws(0), "the same seed and shard draw the same");
        assert_ne!(a, draws(1), "shards draw differently");
        let rate = a.iter().filter(|&&x| x).count() as f64 / a.len() as f64;
        assert!((0.22..0.28).contains(&rate), "rate {rate}");
    }

    #[test]
    fn latencies_add_up_and_the_first_other_action_wins() {
        let mut f = rules(
            r#"[[rules]]
id = "slow"
action = { latency = { fixed_ms = 30 } }
[[rules]]
id = "slower"
action = { latency = { min_ms = 10, max_ms = 10 } }
[[rules]]
id = "fail"
action = { error = { code = "InternalError" } }
[[rules]]
id = "reset"
action = { reset = {} }
"#,
        );
        let d = f.decide(&get("b", "k"), Instant::now).expect("fires");
        assert_eq!(d.latency, Duration::from_millis(40));
        assert!(matches!(d.action, Some(ActionSpec::Error(_))));
        let ids: Vec<&str> = d.rules.iter().map(|(r, _)| &**r).collect();
        assert_eq!(ids, ["slow", "slower", "fail"]);
        assert!(d.skips_handler());
    }

    #[test]
    fn body_actions_match_only_requests_with_a_body_to_act_on() {
        let mut f = rules("[[rules]]\nid = \"t\"\naction = { truncate = {} }\n");
        let mut put = get("b", "k");
        put.object_body = false;
        put.request_body = true;
        assert!(!fired(&mut f, &put), "a cut needs an answer body");
        assert!(fired(&mut f, &get("b", "k")));
        let mut f =
            rules("[[rules]]\nid = \"s\"\naction = { slow_body = { bytes_per_sec = 9 } }\n");
        assert!(fired(&mut f, &put), "an upload is read slowly");
        assert!(fired(&mut f, &get("b", "k")), "a download is sent slowly");
        put.request_body = false;
        assert!(!fired(&mut f, &put), "nothing to slow");
        let mut f = rules("[[rules]]\nid = \"c\"\naction = { chunk_latency = { fixed_ms = 1 } }\n");
        assert!(!fired(&mut f, &put), "no pieces to delay");
        put.request_body = true;
        assert!(fired(&mut f, &put) && fired(&mut f, &get("b", "k")));
    }

    #[test]
    fn schedules_open_and_close_windows() {
        let s = |from, to, every, for_| ScheduleSpec {
            from_secs: from,
            to_secs: to,
            every_secs: every,
            for_secs: for_,
        };
        let window = s(Some(10.0), Some(20.0), None, None);
        assert!(!active(&window, 9.9));
        assert!(active(&window, 10.0));
        assert!(!active(&window, 20.0));
        let repeating = s(Some(5.0), None, Some(600.0), Some(30.0));
        assert!(!active(&repeating, 4.0));
        assert!(active(&repeating, 5.0));
        assert!(!active(&repeating, 36.0));
        assert!(active(&repeating, 605.0 + 29.0));
        assert!(!active(&repeating, 605.0 + 30.0));
        let mut f = rules(
            "[[rules]]\nid = \"later\"\nschedule = { from_secs = 3600 }\naction = { reset = {} }\n",
        );
        assert!(!fired(&mut f, &get("b", "k")), "not yet active");
        let loaded = f.loaded_at();
        let later = || loaded + Duration::from_secs(3600);
        assert!(
            f.decide(&get("b", "k"), later).is_some(),
            "active an hour in"
        );
    }

    #[test]
    fn a_log_normal_has_the_median_and_tail_asked_for() {
        let l = LatencySpec {
            p50_ms: Some(20.0),
            p99_ms: Some(200.0),
            ..Default::default()
        };
        let mut rng = 42;
        let mut ms: Vec<f64> = (0..20_000)
            .map(|_| sample_latency(&l, &mut rng).as_secs_f64() * 1000.0)
            .collect();
        ms.sort_by(f64::total_cmp);
        let p50 = ms[ms.len() / 2];
        let p99 = ms[ms.len() * 99 / 100];
        assert!((18.0..22.0).contains(&p50), "p50 {p50}");
        assert!((170.0..235.0).contains(&p99), "p99 {p99}");
    }

    #[test]
    fn normal_and_recorded_distributions_draw_what_they_describe() {
        let normal = LatencySpec {
            mean_ms: Some(50.0),
            p99_ms: Some(100.0),
            ..Default::default()
        };
        let mut rng = 7;
        let mut ms: Vec<f64> = (0..20_000)
            .map(|_| sample_latency(&normal, &mut rng).as_secs_f64() * 1000.0)
            .collect();
        ms.sort_by(f64::total_cmp);
        let (p50, p99) = (ms[ms.len() / 2], ms[ms.len() * 99 / 100]);
        assert!((47.0..53.0).contains(&p50), "p50 {p50}");
        assert!((93.0..107.0).contains(&p99), "p99 {p99}");
        assert!(ms[0] >= 0.0, "cut at zero");
        let recorded = LatencySpec {
            samples_ms: Some(vec![1.0, 5.0, 250.0]),
            ..Default::default()
        };
        let mut seen = std::collections::BTreeSet::new();
        for _ in 0..300 {
            seen.insert(sample_latency(&recorded, &mut rng).as_micros());
        }
        assert_eq!(
            seen.into_iter().collect::<Vec<_>>(),
            [1_000, 5_000, 250_000]
        );
    }

    #[test]
    fn newer_changes_win_whatever_order_they_arrive_in() {
        let t0 = Instant::now();
        let f = ShardFaults::new(FaultRules::default(), t0, 0, 1);
        assert!(f.is_older_than((t0, 2)));
        assert!(!f.is_older_than((t0, 0)));
        assert!(f.is_older_than((t0 + Duration::from_millis(1), 0)));
    }
}
