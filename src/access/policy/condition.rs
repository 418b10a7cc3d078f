//! Policy conditions: operators and keys, compiled when the policy is set
//! and evaluated against a [`RequestContext`] per request.

use super::PolicyError;
use crate::access::context::RequestContext;
use crate::access::glob;
use crate::access::principal::{account_id, Requester};
use std::net::IpAddr;

/// A condition key, resolved once at compile time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConditionKey {
    SourceIp,
    SecureTransport,
    CurrentTime,
    EpochTime,
    PrincipalType,
    Username,
    Userid,
    PrincipalArn,
    PrincipalAccount,
    Referer,
    UserAgent,
    /// A global key this server never has a value for (VPC endpoints,
    /// organisations, principal tags): always absent.
    NeverPresent,
    Prefix,
    Delimiter,
    MaxKeys,
    VersionId,
    /// An `s3:` key whose value is the request header of the same name.
    Header(&'static str),
    ExistingObjectTag(String),
    RequestObjectTag(String),
    RequestObjectTagKeys,
    SignatureVersion,
    AuthType,
    SignatureAge,
    ResourceAccount,
}

/// `s3:` keys that are request headers, by the header's lower-case name.
const HEADER_KEYS: &[&str] = &[
    "x-amz-acl",
    "x-amz-grant-read",
    "x-amz-grant-write",
    "x-amz-grant-read-acp",
    "x-amz-grant-write-acp",
    "x-amz-grant-full-control",
    "x-amz-server-side-encryption",
    "x-amz-server-side-encryption-aws-kms-key-id",
    "x-amz-server-side-encryption-customer-algorithm",
    "x-amz-copy-source",
    "x-amz-metadata-directive",
    "x-amz-storage-class",
    "x-amz-content-sha256",
    "x-amz-website-redirect-location",
    "x-amz-object-ownership",
    "x-amz-object-lock-mode",
    "x-amz-object-lock-retain-until-date",
    "x-amz-object-lock-legal-hold",
];

/// Global keys that are valid in a policy but never present here.
const NEVER_PRESENT_KEYS: &[&str] = &[
    "aws:sourcevpc",
    "aws:sourcevpce",
    "aws:sourcearn",
    "aws:sourceaccount",
    "aws:sourceowner",
    "aws:sourceorgid",
    "aws:sourceorgpaths",
    "aws:principalorgid",
    "aws:principalorgpaths",
    "aws:principalisawsservice",
    "aws:principalservicename",
    "aws:vpcsourceip",
    "aws:multifactorauthpresent",
    "aws:multifactorauthage",
    "aws:tokenissuetime",
    "aws:calledvia",
    "aws:viaawsservice",
    "aws:requestedregion",
    "s3:accesspointnetworkorigin",
    "s3:dataaccesspointarn",
    "s3:dataaccesspointaccount",
    "s3:tlsversion",
    "s3:locationconstraint",
    "s3:object-lock-remaining-retention-days",
];

impl ConditionKey {
    /// Resolves a key name (case-insensitively, as IAM does).
    pub fn parse(name: &str) -> Option<ConditionKey> {
        // Tag keys keep their case: only the prefix is case-insensitive.
        for (prefix, make) in [
            (
                "s3:existingobjecttag/",
                ConditionKey::ExistingObjectTag as fn(String) -> ConditionKey,
            ),
            ("s3:requestobjecttag/", ConditionKey::RequestObjectTag),
        ] {
            let head = name.get(..prefix.len());
            if name.len() > prefix.len() && head.is_some_and(|h| h.eq_ignore_ascii_case(prefix)) {
                return Some(make(name[prefix.len()..].to_string()));
            }
        }
        let lower = name.to_ascii_lowercase();
        if lower.starts_with("aws:principaltag/")
            || lower.starts_with("aws:requesttag/")
            || lower.starts_with("aws:resourcetag/")
        {
            return Some(ConditionKey::NeverPresent);
        }
        use ConditionKey as K;
        Some(match lower.as_str() {
            "aws:sourceip" => K::SourceIp,
            "aws:securetransport" => K::SecureTransport,
            "aws:currenttime" => K::CurrentTime,
            "aws:epochtime" => K::EpochTime,
            "aws:principaltype" => K::PrincipalType,
            "aws:username" => K::Username,
            "aws:userid" => K::Userid,
            "aws:principalarn" => K::PrincipalArn,
            "aws:principalaccount" => K::PrincipalAccount,
            "aws:referer" => K::Referer,
            "aws:useragent" => K::UserAgent,
            "s3:prefix" => K::Prefix,
            "s3:delimiter" => K::Delimiter,
            "s3:max-keys" => K::MaxKeys,
            "s3:versionid" => K::VersionId,
            "s3:requestobjecttagkeys" => K::RequestObjectTagKeys,
            "s3:signatureversion" => K::SignatureVersion,
            "s3:authtype" => K::AuthType,
            "s3:signatureage" => K::SignatureAge,
            "s3:resourceaccount" => K::ResourceAccount,
            k if NEVER_PRESENT_KEYS.contains(&k) => K::NeverPresent,
            k => {
                let header = k.strip_prefix("s3:")?;
                let known = HEADER_KEYS.iter().find(|h| **h == header)?;
                K::Header(known)
            }
        })
    }

    /// Whether the key can carry several values (only those may take
    /// `ForAnyValue:` / `ForAllValues:` meaningfully; IAM allows the
    /// qualifiers on any key, and so do we).
    fn values<'a>(&self, env: &Env<'a>) -> Values<'a> {
        use ConditionKey as K;
        let ctx = env.ctx;
        let one = |v: Option<Value<'a>>| v.map_or(Values::None, Values::One);
        let user = match env.requester {
            Requester::User(u) => Some(*u),
            Requester::Anonymous => None,
        };
        match self {
            K::SourceIp => one(ctx.source_ip.map(Value::Ip)),
            K::SecureTransport => one(Some(Value::Bool(ctx.secure_transport))),
            K::CurrentTime => one(Some(Value::Time(ctx.now_millis))),
            K::EpochTime => one(Some(Value::Num(ctx.now_millis.div_euclid(1000)))),
            K::PrincipalType => one(Some(Value::Str(match user {
                None => "Anonymous",
                Some(u) if u.is_root => "Account",
                Some(_) => "User",
            }))),
            K::Username => one(user.map(|u| Value::Str(&u.user_name))),
            K::Userid => one(Some(match user {
                Some(u) => Value::Str(&u.canonical_id),
                None => Value::Str("anonymous"),
            })),
            K::PrincipalArn => one(user.map(|u| {
                Value::Owned(format!(
                    "arn:aws:iam::{}:user/{}",
                    account_id(u.credential_id),
                    u.user_name
                ))
            })),
            K::PrincipalAccount => one(user.map(|u| Value::Owned(account_id(u.credential_id)))),
            K::Referer => one(ctx.facts.header("referer").map(Value::Str)),
            K::UserAgent => one(ctx.facts.header("user-agent").map(Value::Str)),
            K::NeverPresent => Values::None,
            K::Prefix => one(ctx.facts.query("prefix").map(Value::Str)),
            K::Delimiter => one(ctx.facts.query("delimiter").map(Value::Str)),
            K::MaxKeys => one(ctx.facts.query("max-keys").map(Value::Str)),
            K::VersionId => one(ctx.facts.query("versionId").map(Value::Str)),
            K::Header(h) => one(ctx.facts.header(h).map(Value::Str)),
            K::ExistingObjectTag(t) => one(tag_value(ctx.facts.existing_tags(), t)),
            K::RequestObjectTag(t) => one(tag_value(ctx.facts.request_tags(), t)),
            K::RequestObjectTagKeys => {
                let tags = ctx.facts.request_tags();
                if tags.is_empty() {
                    Values::None
                } else {
                    Values::Many(tags.iter().map(|(k, _)| Value::Str(k.as_str())).collect())
                }
            }
            K::SignatureVersion => one(ctx.signature_version.map(Value::Str)),
            K::AuthType => one(ctx.auth_type.as_str().map(Value::Str)),
            K::SignatureAge => one(ctx.signature_age_millis.map(Value::Num)),
            K::ResourceAccount => one(Some(Value::Owned(account_id(env.bucket_owner_account)))),
        }
    }
}

fn tag_value<'a>(tags: &'a [(String, String)], key: &str) -> Option<Value<'a>> {
    tags.iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| Value::Str(v.as_str()))
}

/// What a condition is evaluated against.
pub struct Env<'a> {
    pub requester: &'a Requester<'a>,
    pub ctx: &'a RequestContext<'a>,
    /// The bucket owner's credential id (`s3:ResourceAccount`).
    pub bucket_owner_account: u64,
}

/// One context value.
#[derive(Debug, Clone)]
enum Value<'a> {
    Str(&'a str),
    Owned(String),
    Bool(bool),
    Num(i64),
    /// Unix milliseconds.
    Time(i64),
    Ip(IpAddr),
}

enum Values<'a> {
    None,
    One(Value<'a>),
    Many(Vec<Value<'a>>),
}

impl Value<'_> {
    fn as_text(&self) -> std::borrow::Cow<'_, str> {
        use std::borrow::Cow;
        match self {
            Value::Str(s) => Cow::Borrowed(s),
            Value::Owned(s) => Cow::Borrowed(s.as_str()),
            Value::Bool(b) => Cow::Borrowed(if *b { "true" } else { "false" }),
            Value::Num(n) => Cow::Owned(n.to_string()),
            Value::Time(ms) => Cow::Owned(crate::util::time::iso8601_millis(*ms)),
            Value::Ip(ip) => Cow::Owned(ip.to_string()),
        }
    }

    fn as_number(&self) -> Option<f64> {
        match self {
            Value::Num(n) => Some(*n as f64),
            Value::Time(ms) => Some((ms / 1000) as f64),
            _ => self.as_text().trim().parse().ok(),
        }
    }

    fn as_millis(&self) -> Option<i64> {
        match self {
            Value::Time(ms) => Some(*ms),
            Value::Num(secs) => secs.checked_mul(1000),
            _ => parse_date_millis(&self.as_text()),
        }
    }

    fn as_bool(&self) -> Option<bool> {
        match self {
            Value::Bool(b) => Some(*b),
            _ => parse_bool(&self.as_text()),
        }
    }

    fn as_ip(&self) -> Option<IpAddr> {
        match self {
            Value::Ip(ip) => Some(*ip),
            _ => self.as_text().parse().ok(),
        }
    }
}

/// A date in a condition: ISO 8601 (`2024-01-01T00:00:00Z`, with or without
/// fractional seconds, or a bare date) or Unix epoch seconds.
fn parse_date_millis(s: &str) -> Option<i64> {
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse::<i64>().ok()?.checked_mul(1000);
    }
    if s.len() == 10 {
        return crate::util::time::parse_iso8601(&format!("{s}T00:00:00Z")).map(|t| t * 1000);
    }
    crate::util::time::parse_iso8601(s).map(|t| t * 1000)
}

fn parse_bool(s: &str) -> Option<bool> {
    if s.eq_ignore_ascii_case("true") {
        Some(true)
    } else if s.eq_ignore_ascii_case("false") {
        Some(false)
    } else {
        None
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compare {
    Eq,
    Lt,
    Le,
    Gt,
    Ge,
}

impl Compare {
    fn holds<T: PartialOrd>(self, a: T, b: T) -> bool {
        match self {
            Compare::Eq => a == b,
            Compare::Lt => a < b,
            Compare::Le => a <= b,
            Compare::Gt => a > b,
            Compare::Ge => a >= b,
        }
    }
}

/// An IP range (`192.0.2.0/24`, `2001:db8::/32`, or a bare address).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cidr {
    pub addr: IpAddr,
    pub prefix: u8,
}

impl Cidr {
    pub fn parse(s: &str) -> Option<Cidr> {
        let (addr, prefix) = match s.split_once('/') {
            Some((a, p)) => (a.parse::<IpAddr>().ok()?, Some(p.parse::<u8>().ok()?)),
            None => (s.parse::<IpAddr>().ok()?, None),
        };
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = prefix.unwrap_or(max);
        (prefix <= max).then_some(Cidr { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = match (self.addr, ip) {
            (IpAddr::V4(_), IpAddr::V6(v6)) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            _ => ip,
        };
        match (self.addr, ip) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                prefix_eq(&net.octets(), &ip.octets(), self.prefix)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                prefix_eq(&net.octets(), &ip.octets(), self.prefix)
            }
            _ => false,
        }
    }
}

fn prefix_eq(a: &[u8], b: &[u8], bits: u8) -> bool {
    let full = usize::from(bits / 8);
    if a[..full] != b[..full] {
        return false;
    }
    let rest = bits % 8;
    rest == 0 || (a[full] ^ b[full]) >> (8 - rest) == 0
}

/// The test an operator makes, with its compiled values.
#[derive(Debug, Clone, PartialEq)]
enum Test {
    StringEquals(Vec<String>),
    /// Values lower-cased at compile time.
    StringEqualsIgnoreCase(Vec<String>),
    StringLike(Vec<String>),
    Numeric(Compare, Vec<f64>),
    /// Unix milliseconds.
    Date(Compare, Vec<i64>),
    Bool(Vec<bool>),
    Ip(Vec<Cidr>),
    Arn(Vec<String>),
    /// `Null: true` means "the key is absent".
    Null(bool),
}

/// `ForAnyValue:` / `ForAllValues:`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SetQualifier {
    Single,
    ForAny,
    ForAll,
}

/// One compiled `operator: {key: values}` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct Condition {
    pub key: ConditionKey,
    /// The key as written, lower-cased (what "is it public" looks at).
    pub key_name: String,
    test: Test,
    negate: bool,
    if_exists: bool,
    set: SetQualifier,
}

impl Condition {
    /// Compiles `operator` applied to `key` with `values` (strings as the
    /// JSON gave them; numbers and booleans already turned to text).
    pub fn compile(operator: &str, key: &str, values: &[String]) -> Result<Condition, PolicyError> {
        let invalid_op = || PolicyError::new(format!("Invalid Condition type : {operator}"));
        let (set, op) = if let Some(rest) = strip_prefix_ci(operator, "ForAnyValue:") {
            (SetQualifier::ForAny, rest)
        } else if let Some(rest) = strip_prefix_ci(operator, "ForAllValues:") {
            (SetQualifier::ForAll, rest)
        } else {
            (SetQualifier::Single, operator)
        };
        let (op, if_exists) = match op.strip_suffix("IfExists") {
            Some(base) => (base, true),
            None => (op, false),
        };
        let key_parsed = ConditionKey::parse(key)
            .ok_or_else(|| PolicyError::new("Policy has an invalid condition key".to_string()))?;
        if values.is_empty() {
            return Err(PolicyError::new(format!(
                "Condition {operator} on {key} has no values"
            )));
        }
        let bad_value =
            |v: &str| PolicyError::new(format!("Invalid Condition value {v:?} for {operator}"));
        let strings = || values.to_vec();
        let (test, negate) = match op {
            "StringEquals" => (Test::StringEquals(strings()), false),
            "StringNotEquals" => (Test::StringEquals(strings()), true),
            "StringEqualsIgnoreCase" => (Test::StringEqualsIgnoreCase(lowered(values)), false),
            "StringNotEqualsIgnoreCase" => (Test::StringEqualsIgnoreCase(lowered(values)), true),
            "StringLike" => (Test::StringLike(strings()), false),
            "StringNotLike" => (Test::StringLike(strings()), true),
            "ArnEquals" | "ArnLike" => (Test::Arn(strings()), false),
            "ArnNotEquals" | "ArnNotLike" => (Test::Arn(strings()), true),
            "Bool" => {
                let b = values
                    .iter()
                    .map(|v| parse_bool(v).ok_or_else(|| bad_value(v)))
                    .collect::<Result<_, _>>()?;
                (Test::Bool(b), false)
            }
            "IpAddress" | "NotIpAddress" => {
                let c = values
                    .iter()
                    .map(|v| Cidr::parse(v).ok_or_else(|| bad_value(v)))
                    .collect::<Result<_, _>>()?;
                (Test::Ip(c), op == "NotIpAddress")
            }
            "Null" if !if_exists && set == SetQualifier::Single => {
                let [v] = values else {
                    return Err(bad_value(&values.join(",")));
                };
                (
                    Test::Null(parse_bool(v).ok_or_else(|| bad_value(v))?),
                    false,
                )
            }
            _ => {
                if let Some((cmp, negate)) = numeric_or_date(op, "Numeric") {
                    let n = values
                        .iter()
                        .map(|v| v.trim().parse::<f64>().map_err(|_| bad_value(v)))
                        .collect::<Result<_, _>>()?;
                    (Test::Numeric(cmp, n), negate)
                } else if let Some((cmp, negate)) = numeric_or_date(op, "Date") {
                    let d = values
                        .iter()
                        .map(|v| parse_date_millis(v).ok_or_else(|| bad_value(v)))
                        .collect::<Result<_, _>>()?;
                    (Test::Date(cmp, d), negate)
                } else {
                    return Err(invalid_op());
                }
            }
        };
        if values.iter().any(|v| v.contains("${")) {
            return Err(PolicyError::new(
                "Policy variables (${...}) are not supported by this server".to_string(),
            ));
        }
        Ok(Condition {
            key: key_parsed,
            key_name: key.to_ascii_lowercase(),
            test,
            negate,
            if_exists,
            set,
        })
    }

    /// Whether the condition holds for the request.
    pub fn holds(&self, env: &Env) -> bool {
        let values = self.key.values(env);
        if let Test::Null(want_absent) = self.test {
            return matches!(values, Values::None) == want_absent;
        }
        match (self.set, values) {
            (SetQualifier::ForAny, Values::None) => self.if_exists,
            (SetQualifier::ForAll, Values::None) => true,
            (_, Values::None) => self.if_exists || self.negate,
            (SetQualifier::ForAll, Values::One(v)) => self.one(&v),
            (SetQualifier::ForAll, Values::Many(vs)) => vs.iter().all(|v| self.one(v)),
            (_, Values::One(v)) => self.one(&v),
            (_, Values::Many(vs)) => vs.iter().any(|v| self.one(v)),
        }
    }

    /// One context value against the condition's values: any of them
    /// matching is a match; negated operators negate that.
    fn one(&self, v: &Value) -> bool {
        let matched = match &self.test {
            Test::StringEquals(cs) => {
                let t = v.as_text();
                cs.iter().any(|c| *c == *t)
            }
            Test::StringEqualsIgnoreCase(cs) => {
                let t = v.as_text();
                cs.iter().any(|c| c.eq_ignore_ascii_case(&t))
            }
            Test::StringLike(cs) | Test::Arn(cs) => {
                let t = v.as_text();
                cs.iter().any(|c| glob::matches(c, &t))
            }
            Test::Numeric(cmp, cs) => v
                .as_number()
                .is_some_and(|n| cs.iter().any(|c| cmp.holds(n, *c))),
            Test::Date(cmp, cs) => v
                .as_millis()
                .is_some_and(|ms| cs.iter().any(|c| cmp.holds(ms, *c))),
            Test::Bool(cs) => v.as_bool().is_some_and(|b| cs.contains(&b)),
            Test::Ip(cs) => v
                .as_ip()
                .is_some_and(|ip| cs.iter().any(|c| c.contains(ip))),
            Test::Null(_) => unreachable!("handled in holds"),
        };
        matched != self.negate
    }

    /// For "is this policy public": an equality (no wildcard) on `key`,
    /// or an IP range no wider than `/8` (IPv4) or `/32` (IPv6).
    pub fn fixes(&self) -> bool {
        if self.negate || self.if_exists || self.set != SetQualifier::Single {
            return false;
        }
        match &self.test {
            Test::StringEquals(cs) | Test::StringEqualsIgnoreCase(cs) | Test::Arn(cs) => {
                !cs.iter().any(|c| glob::has_wildcard(c))
            }
            Test::StringLike(cs) => !cs.iter().any(|c| glob::has_wildcard(c)),
            Test::Ip(cs) => cs.iter().all(|c| match c.addr {
                IpAddr::V4(_) => c.prefix >= 8,
                IpAddr::V6(_) => c.prefix >= 32,
            }),
            _ => false,
        }
    }
}

fn lowered(values: &[String]) -> Vec<String> {
    values.iter().map(|v| v.to_lowercase()).collect()
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &s[prefix.len()..])
}

/// `NumericLessThan` → (Lt, false), `DateNotEquals` → (Eq, true).
fn numeric_or_date(op: &str, family: &str) -> Option<(Compare, bool)> {
    Some(match op.strip_prefix(family)? {
        "Equals" => (Compare::Eq, false),
        "NotEquals" => (Compare::Eq, true),
        "LessThan" => (Compare::Lt, false),
        "LessThanEquals" => (Compare::Le, false),
        "GreaterThan" => (Compare::Gt, false),
        "GreaterThanEquals" => (Compare::Ge, false),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cidr_ranges() {
        let c = Cidr::parse("192.0.2.0/24").unwrap();
        assert!(c.contains("192.0.2.77".parse().unwrap()));
        assert!(!c.contains("192.0.3.1".parse().unwrap()));
        assert!(c.contains("::ffff:192.0.2.5".parse().unwrap()));
        let c = Cidr::parse("10.0.0.0/9").unwrap();
        assert!(c.contains("10.127.255.255".parse().unwrap()));
        assert!(!c.contains("10.128.0.0".parse().unwrap()));
        let c = Cidr::parse("2001:db8::/32").unwrap();
        assert!(c.contains("2001:db8:1::1".parse().unwrap()));
        assert!(Cidr::parse("1.2.3.4/33").is_none());
        assert!(Cidr::parse("0.0.0.0/0")
            .unwrap()
            .contains("8.8.8.8".parse().unwrap()));
    }

    #[test]
    fn dates_in_both_forms() {
        assert_eq!(parse_date_millis("1700000000"), Some(1_700_000_000_000));
        assert_eq!(
            parse_date_millis("2013-05-24T00:00:00Z"),
            Some(1_369_353_600_000)
        );
        assert_eq!(parse_date_millis("2013-05-24"), Some(1_369_353_600_000));
        assert_eq!(parse_date_millis("yesterday"), None);
    }

    #[test]
    fn unknown_operators_and_keys_are_refused() {
        let v = vec!["x".to_string()];
        assert!(Condition::compile("StringEqualz", "aws:username", &v).is_err());
        assert!(Condition::compile("StringEquals", "s3:no-such-key", &v).is_err());
        assert!(Condition::compile("StringEquals", "aws:nosuchkey", &v).is_err());
        assert!(Condition::compile("NullIfExists", "aws:username", &v).is_err());
        assert!(Condition::compile("NumericLessThan", "s3:max-keys", &v).is_err());
        assert!(Condition::compile("StringEquals", "aws:username", &[]).is_err());
        assert!(Condition::compile("StringEquals", "s3:x-amz-acl", &v).is_ok());
        assert!(
            Condition::compile("ForAnyValue:StringLike", "s3:RequestObjectTagKeys", &v).is_ok()
        );
    }
}
