//! POST Object's authority: the policy document a browser form carries and
//! its signature. With Signature Version 4 the string to sign is the
//! policy's base64 text as sent, signed with the key derived as for every
//! SigV4 request (the shard's signing-key cache); Signature Version 2
//! (`AWSAccessKeyId`, `signature`: base64 HMAC-SHA1 of the same text) only
//! where the operator allows SigV2. A form with neither is anonymous.
//!
//! The policy is checked as S3 checks it: expiration in the future, every
//! condition holding (`eq`, `starts-with`, `content-length-range`), and
//! every form field covered by a condition, except `x-amz-signature`,
//! `file`, `policy` and names starting with `x-ignore-`, and the bucket
//! covered too. A form with a policy but no signature is refused. Field names
//! compare case-insensitively, values exactly; `$bucket` is the bucket the
//! request's URL names. No I/O.

use super::error::AuthError;
use super::sigv4::{self, SigningKeyCache, ALGORITHM, SERVICE};
use super::verify::{parse_credential, AuthConfig, SecretLookup};
use crate::http::multipart::FormField;
use base64::Engine;
use serde_json::Value;

/// Fields no condition needs to cover.
const UNCOVERED: [&str; 3] = ["x-amz-signature", "file", "policy"];
/// Signature Version 2's fields, uncovered too.
const UNCOVERED_V2: [&str; 2] = ["awsaccesskeyid", "signature"];
const IGNORED_PREFIX: &str = "x-ignore-";
/// The fields a SigV4 form must hold, in the order S3 names the first missing one.
const SIGNED_FIELDS: [&str; 5] = [
    "X-Amz-Algorithm",
    "X-Amz-Credential",
    "X-Amz-Date",
    "X-Amz-Signature",
    "Policy",
];

/// Why a form may not upload; `s3::error` maps each to S3's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PostPolicyError {
    MissingField(&'static str),
    BadField {
        name: &'static str,
        value: String,
        message: String,
    },
    Auth(AuthError),
    SignatureMismatch {
        access_key: String,
        policy: String,
        provided: String,
    },
    InvalidPolicy(String),
    Expired,
    /// The condition as S3 writes it: `["eq", "$key", "x"]`.
    ConditionFailed(String),
    ExtraField(String),
}

/// What a form may upload: as whom (None: anonymous), and the file sizes
/// its policy allows (bounds included).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostGrant {
    pub access_key: Option<String>,
    pub min_bytes: u64,
    pub max_bytes: u64,
}

/// A form's fields, looked up by name in any case (the first of a name wins).
pub struct Form<'a> {
    pub fields: &'a [FormField],
}

impl<'a> Form<'a> {
    pub fn get(&self, name: &str) -> Option<&'a str> {
        self.all(name).next()
    }

    /// Every value of the fields called `name`, in form order.
    pub fn all<'n>(&self, name: &'n str) -> impl Iterator<Item = &'a str> + 'n
    where
        'a: 'n,
    {
        self.fields
            .iter()
            .filter(move |f| f.name.eq_ignore_ascii_case(name))
            .map(|f| f.value.as_str())
    }
}

/// Checks the form's signature and policy for an upload to `bucket` at
/// `cfg.now`. Field values are those after `${filename}` expansion.
pub fn authorize(
    form: &Form,
    bucket: &str,
    lookup: &dyn SecretLookup,
    cfg: &AuthConfig,
    cache: &mut SigningKeyCache,
) -> Result<PostGrant, PostPolicyError> {
    let signed = SIGNED_FIELDS[..4].iter().any(|f| form.get(f).is_some());
    let v2 = form.get("AWSAccessKeyId").is_some() || form.get("signature").is_some();
    let (access_key, policy) = if signed {
        verify_v4(form, lookup, cfg, cache)?
    } else if v2 {
        verify_v2(form, lookup, cfg)?
    } else if form.get("Policy").is_some() {
        // A policy limits the upload: without its signature it is refused,
        // never ignored (the bucket may be public-write).
        verify_v4(form, lookup, cfg, cache)?
    } else {
        return Ok(PostGrant {
            access_key: None,
            min_bytes: 0,
            max_bytes: u64::MAX,
        });
    };
    let policy = Policy::decode(policy)?;
    if cfg.now > policy.expiration {
        return Err(PostPolicyError::Expired);
    }
    let (mut min_bytes, mut max_bytes) = (0, u64::MAX);
    for condition in &policy.conditions {
        condition.check(form, bucket, &mut min_bytes, &mut max_bytes)?;
    }
    for field in form.fields {
        let lower = field.name.to_ascii_lowercase();
        let exempt = UNCOVERED.contains(&lower.as_str())
            || (v2 && UNCOVERED_V2.contains(&lower.as_str()))
            || lower.starts_with(IGNORED_PREFIX);
        if !exempt && !policy.conditions.iter().any(|c| c.covers(&lower)) {
            return Err(PostPolicyError::ExtraField(field.name.clone()));
        }
    }
    // The bucket the URL names counts as a field of the form: a policy
    // must name it (or a prefix of it), or it would upload anywhere.
    if !policy.conditions.iter().any(|c| c.covers("bucket")) {
        return Err(PostPolicyError::ExtraField("bucket".into()));
    }
    Ok(PostGrant {
        access_key: Some(access_key),
        min_bytes,
        max_bytes,
    })
}

/// SigV4: the access key and the policy text its signature covers.
fn verify_v4<'f>(
    form: &Form<'f>,
    lookup: &dyn SecretLookup,
    cfg: &AuthConfig,
    cache: &mut SigningKeyCache,
) -> Result<(String, &'f str), PostPolicyError> {
    let mut values = [""; 5];
    for (slot, name) in values.iter_mut().zip(SIGNED_FIELDS) {
        *slot = form.get(name).ok_or(PostPolicyError::MissingField(name))?;
    }
    let [algorithm, credential, date, signature, policy] = values;
    let bad = |name: &'static str, value: &str, message: String| PostPolicyError::BadField {
        name,
        value: value.to_string(),
        message,
    };
    if algorithm != ALGORITHM {
        return Err(bad(
            "X-Amz-Algorithm",
            algorithm,
            format!("X-Amz-Algorithm only supports \"{ALGORITHM}\""),
        ));
    }
    if crate::util::time::parse_amz_date(date).is_none() {
        return Err(bad(
            "X-Amz-Date",
            date,
            "X-Amz-Date must be formated via ISO8601 Long format".into(),
        ));
    }
    let cred = parse_credential(credential, cfg, |m| {
        AuthError::AuthorizationQueryParametersError(m.to_string())
    })
    .map_err(|e| match e {
        AuthError::AuthorizationQueryParametersError(m) => bad("X-Amz-Credential", credential, m),
        AuthError::WrongRegion { expected, got } => bad(
            "X-Amz-Credential",
            credential,
            format!("the region '{got}' is wrong; expecting '{expected}'"),
        ),
        other => PostPolicyError::Auth(other),
    })?;
    let secret = secret_of(lookup, cred.access_key)?;
    let key = cache.get(cred.access_key, secret, cred.date, cfg.region, SERVICE);
    let want = sigv4::hmac_hex(&key.raw, policy.as_bytes());
    if !sigv4::ct_eq(want.as_bytes(), signature.as_bytes()) {
        return Err(PostPolicyError::SignatureMismatch {
            access_key: cred.access_key.to_string(),
            policy: policy.to_string(),
            provided: signature.to_string(),
        });
    }
    Ok((cred.access_key.to_string(), policy))
}

/// SigV2 (where allowed): base64 HMAC-SHA1 of the policy text.
fn verify_v2<'f>(
    form: &Form<'f>,
    lookup: &dyn SecretLookup,
    cfg: &AuthConfig,
) -> Result<(String, &'f str), PostPolicyError> {
    if !cfg.allow_sigv2 {
        return Err(PostPolicyError::Auth(AuthError::SignatureV2NotSupported));
    }
    let mut values = [""; 3];
    for (slot, name) in values
        .iter_mut()
        .zip(["AWSAccessKeyId", "Signature", "Policy"])
    {
        *slot = form.get(name).ok_or(PostPolicyError::MissingField(name))?;
    }
    let [access_key, signature, policy] = values;
    let secret = secret_of(lookup, access_key)?;
    let want = super::sigv2::signature(secret, policy);
    if !sigv4::ct_eq(want.as_bytes(), signature.as_bytes()) {
        return Err(PostPolicyError::Auth(AuthError::SignatureV2DoesNotMatch {
            string_to_sign: policy.to_string(),
            signature_provided: signature.to_string(),
        }));
    }
    Ok((access_key.to_string(), policy))
}

fn secret_of<'s>(
    lookup: &'s dyn SecretLookup,
    access_key: &str,
) -> Result<&'s str, PostPolicyError> {
    match lookup.lookup(access_key) {
        Some((secret, true)) => Ok(secret),
        Some((_, false)) => Err(PostPolicyError::Auth(AuthError::InactiveAccessKey)),
        None => Err(PostPolicyError::Auth(AuthError::InvalidAccessKeyId)),
    }
}

/// A decoded policy document.
struct Policy {
    /// Unix seconds after which the policy is not valid.
    expiration: i64,
    conditions: Vec<Condition>,
}

enum Test {
    Eq { field: String, value: String },
    StartsWith { field: String, prefix: String },
    Range { min: u64, max: u64 },
}

struct Condition {
    test: Test,
    /// The condition as S3 writes it in an error.
    written: String,
}

fn invalid(message: &str) -> PostPolicyError {
    PostPolicyError::InvalidPolicy(message.to_string())
}

impl Policy {
    /// The base64 JSON text `encoded`: an object with exactly `expiration`
    /// (ISO 8601 in UTC) and `conditions` (a list), named in that case.
    fn decode(encoded: &str) -> Result<Policy, PostPolicyError> {
        let engine = base64::engine::GeneralPurpose::new(
            &base64::alphabet::STANDARD,
            base64::engine::GeneralPurposeConfig::new()
                .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
        );
        let text = engine
            .decode(encoded.trim())
            .map_err(|_| invalid("invalid Base64 encoding."))?;
        let doc: Value = serde_json::from_slice(&text).map_err(|_| invalid("Invalid JSON."))?;
        let Value::Object(members) = &doc else {
            return Err(invalid("Invalid JSON."));
        };
        if let Some(name) = members
            .keys()
            .find(|k| *k != "expiration" && *k != "conditions")
        {
            return Err(PostPolicyError::InvalidPolicy(format!(
                "Unexpected: '{}'",
                name.to_lowercase()
            )));
        }
        let expiration = match members.get("expiration") {
            None => return Err(invalid("Policy missing expiration.")),
            Some(Value::String(t)) => t
                .ends_with('Z')
                .then(|| crate::util::time::parse_iso8601(t))
                .flatten()
                .ok_or_else(|| {
                    PostPolicyError::InvalidPolicy(format!("Invalid 'expiration' value: '{t}'"))
                })?,
            Some(other) => {
                return Err(PostPolicyError::InvalidPolicy(format!(
                    "Invalid 'expiration' value: '{other}'"
                )))
            }
        };
        let conditions = match members.get("conditions") {
            None => return Err(invalid("Policy missing conditions.")),
            Some(Value::Array(items)) => {
                let mut conditions = Vec::with_capacity(items.len());
                for item in items {
                    conditions.extend(Condition::parse(item)?);
                }
                conditions
            }
            Some(_) => return Err(invalid("Invalid 'conditions' value: must be a List.")),
        };
        Ok(Policy {
            expiration,
            conditions,
        })
    }
}

impl Condition {
    /// One item of `conditions`; None for `{}`, which names nothing (so
    /// the fields it was meant to cover are extra fields, a 403 as S3's).
    fn parse(value: &Value) -> Result<Option<Condition>, PostPolicyError> {
        match value {
            Value::Object(members) if members.is_empty() => Ok(None),
            Value::Object(members) => {
                let mut it = members.iter();
                let (Some((name, value)), None) = (it.next(), it.next()) else {
                    return Err(invalid(
                        "Invalid Simple-Condition: Simple-Conditions must have exactly one property specified.",
                    ));
                };
                let Value::String(value) = value else {
                    return Err(invalid("Invalid Simple-Condition: value must be a string."));
                };
                Ok(Some(Condition {
                    written: written(&[
                        Value::from("eq"),
                        Value::from(format!("${name}")),
                        Value::from(value.as_str()),
                    ]),
                    test: Test::Eq {
                        field: name.to_ascii_lowercase(),
                        value: value.clone(),
                    },
                }))
            }
            Value::Array(items) => Ok(Some(Condition {
                test: list_test(items)?,
                written: written(items),
            })),
            _ => Err(invalid("Invalid condition test: must be a List or Object.")),
        }
    }

    /// Checks the condition against the form, narrowing the size range.
    /// A field the form does not hold fails its condition.
    fn check(
        &self,
        form: &Form,
        bucket: &str,
        min: &mut u64,
        max: &mut u64,
    ) -> Result<(), PostPolicyError> {
        // Every value of a field named twice must hold: each one reaches
        // the upload (user metadata keeps them all).
        let holds_for_all = |field: &str, test: &dyn Fn(&str) -> bool| {
            if field == "bucket" {
                return test(bucket);
            }
            let mut values = form.all(field).peekable();
            values.peek().is_some() && values.all(test)
        };
        let holds = match &self.test {
            Test::Eq { field, value } => holds_for_all(field, &|v| v == value),
            // A Content-Type list: each type must match.
            Test::StartsWith { field, prefix } if field == "content-type" => {
                holds_for_all(field, &|v| {
                    v.split(',')
                        .all(|t| t.trim_matches([' ', '\t']).starts_with(prefix.as_str()))
                })
            }
            Test::StartsWith { field, prefix } => {
                holds_for_all(field, &|v| v.starts_with(prefix.as_str()))
            }
            Test::Range { min: lo, max: hi } => {
                *min = (*min).max(*lo);
                *max = (*max).min(*hi);
                true
            }
        };
        if holds {
            Ok(())
        } else {
            Err(PostPolicyError::ConditionFailed(self.written.clone()))
        }
    }

    /// Whether the condition names `field` (lowercase).
    fn covers(&self, field: &str) -> bool {
        match &self.test {
            Test::Eq { field: f, .. } | Test::StartsWith { field: f, .. } => f == field,
            Test::Range { .. } => false,
        }
    }
}

/// `["eq" | "starts-with", "$field", "value"]` or
/// `["content-length-range", min, max]`; operators in any case.
fn list_test(items: &[Value]) -> Result<Test, PostPolicyError> {
    let Some(Value::String(op)) = items.first() else {
        return Err(invalid("Invalid Condition: missing operation identifier."));
    };
    let arity =
        || PostPolicyError::InvalidPolicy(format!("Invalid {op}: wrong number of arguments."));
    if op.eq_ignore_ascii_case("content-length-range") {
        let [_, lo, hi] = items else {
            return Err(arity());
        };
        let (lo, hi) = (size_bound(lo)?, size_bound(hi)?);
        return Ok(Test::Range { min: lo, max: hi });
    }
    let eq = op.eq_ignore_ascii_case("eq");
    if !eq && !op.eq_ignore_ascii_case("starts-with") {
        return Err(PostPolicyError::InvalidPolicy(format!(
            "Invalid Condition: unknown operation '{op}'."
        )));
    }
    let [_, Value::String(name), Value::String(operand)] = items else {
        return match items.len() {
            3 => Err(invalid("Invalid JSON.")),
            _ => Err(arity()),
        };
    };
    // A name without `$` names no field: the condition cannot hold.
    let field = name
        .strip_prefix('$')
        .map(str::to_ascii_lowercase)
        .unwrap_or_default();
    Ok(if eq {
        Test::Eq {
            field,
            value: operand.clone(),
        }
    } else {
        Test::StartsWith {
            field,
            prefix: operand.clone(),
        }
    })
}

/// A bound of `content-length-range`: a whole number of bytes, not
/// negative (a string holding one is read as S3 reads it).
fn size_bound(v: &Value) -> Result<u64, PostPolicyError> {
    match v {
        Value::Number(n) => n.as_u64().ok_or_else(|| invalid("Invalid JSON.")),
        Value::String(s) => s.trim().parse().map_err(|_| invalid("Invalid JSON.")),
        _ => Err(invalid("Invalid JSON.")),
    }
}

/// A condition's items as JSON, separated by `, `.
fn written(items: &[Value]) -> String {
    let parts: Vec<String> = items.iter().map(Value::to_string).collect();
    format!("[{}]", parts.join(", "))
}

#[cfg(test)]
mod tests;
