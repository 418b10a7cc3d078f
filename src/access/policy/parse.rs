//! The policy document's grammar: JSON to compiled statements, with S3's
//! validation (each refusal is a `MalformedPolicy` message).

use super::condition::Condition;
use super::{Effect, PolicyError, PrincipalMatch, Statement};
use crate::access::action::{ActionSet, ResourceKind};
use crate::access::glob;
use crate::access::principal::{is_canonical_id, PrincipalPattern};
use serde_json::{Map, Value};

/// The policy language versions IAM accepts.
const VERSIONS: &[&str] = &["2012-10-17", "2008-10-17"];
/// Every S3 resource ARN starts so.
const S3_ARN_PREFIX: &str = "arn:aws:s3:::";
/// Most statements one policy may hold (a 20 KiB document cannot hold
/// more anyway; this bounds work on a hostile one).
pub const MAX_STATEMENTS: usize = 1000;

fn err<T>(message: impl Into<String>) -> Result<T, PolicyError> {
    Err(PolicyError::new(message.into()))
}

pub fn parse_policy(text: &str, bucket: Option<&str>) -> Result<Vec<Statement>, PolicyError> {
    let doc: Value = match serde_json::from_str(text) {
        Ok(v) => v,
        Err(_) => return err("Policies must be valid JSON and the first byte must be '{'"),
    };
    let Value::Object(doc) = doc else {
        return err("Policies must be valid JSON and the first byte must be '{'");
    };
    for field in doc.keys() {
        if !matches!(field.as_str(), "Version" | "Id" | "Statement") {
            return err(format!("Unknown field {field}"));
        }
    }
    match doc.get("Version") {
        None => {}
        Some(Value::String(v)) if VERSIONS.contains(&v.as_str()) => {}
        Some(_) => return err("The policy must contain a valid version string"),
    }
    if doc.get("Id").is_some_and(|v| !v.is_string()) {
        return err("Id must be a string");
    }
    let statements = match doc.get("Statement") {
        Some(Value::Array(a)) => a.iter().collect::<Vec<_>>(),
        Some(v @ Value::Object(_)) => vec![v],
        Some(_) => return err("Statement must be an object or a list of objects"),
        None => return err("Missing required field Statement"),
    };
    if statements.is_empty() {
        return err("Could not parse the policy: Statement is empty!");
    }
    if statements.len() > MAX_STATEMENTS {
        return err(format!(
            "A policy may hold at most {MAX_STATEMENTS} statements"
        ));
    }
    let mut compiled = Vec::with_capacity(statements.len());
    for s in statements {
        let Value::Object(s) = s else {
            return err("Statement must be an object or a list of objects");
        };
        let st = parse_statement(s, bucket)?;
        if let Some(sid) = &st.sid {
            if compiled
                .iter()
                .any(|c: &Statement| c.sid.as_deref() == Some(sid))
            {
                return err("Statement IDs (SID) in a single policy must be unique");
            }
        }
        compiled.push(st);
    }
    Ok(compiled)
}

/// A field that is either a string or a list of strings.
fn strings(v: &Value, field: &str) -> Result<Vec<String>, PolicyError> {
    let out: Vec<String> = match v {
        Value::String(s) => vec![s.clone()],
        Value::Array(a) => a
            .iter()
            .map(|x| match x {
                Value::String(s) => Ok(s.clone()),
                _ => err(format!("{field} must be a string or a list of strings")),
            })
            .collect::<Result<_, _>>()?,
        _ => return err(format!("{field} must be a string or a list of strings")),
    };
    if out.is_empty() {
        return err(format!("{field} must not be empty"));
    }
    Ok(out)
}

/// Exactly one of `a` and `b` (`Action` / `NotAction`): (values, negated).
fn one_of<'a>(
    s: &'a Map<String, Value>,
    a: &str,
    b: &str,
) -> Result<(&'a Value, bool), PolicyError> {
    match (s.get(a), s.get(b)) {
        (Some(v), None) => Ok((v, false)),
        (None, Some(v)) => Ok((v, true)),
        (Some(_), Some(_)) => err(format!("A statement may not have both {a} and {b}")),
        (None, None) => err(format!("Missing required field {a}")),
    }
}

fn parse_statement(s: &Map<String, Value>, bucket: Option<&str>) -> Result<Statement, PolicyError> {
    for field in s.keys() {
        if !matches!(
            field.as_str(),
            "Sid"
                | "Effect"
                | "Principal"
                | "NotPrincipal"
                | "Action"
                | "NotAction"
                | "Resource"
                | "NotResource"
                | "Condition"
        ) {
            return err(format!("Unknown field {field}"));
        }
    }
    let sid = match s.get("Sid") {
        None => None,
        Some(Value::String(v)) => Some(v.clone()),
        Some(_) => return err("Sid must be a string"),
    };
    let effect = match s.get("Effect") {
        Some(Value::String(e)) if e == "Allow" => Effect::Allow,
        Some(Value::String(e)) if e == "Deny" => Effect::Deny,
        Some(_) => return err("Invalid effect: must be Allow or Deny"),
        None => return err("Missing required field Effect"),
    };
    let (principal, not_principal) = one_of(s, "Principal", "NotPrincipal")?;
    if not_principal && effect == Effect::Allow {
        return err("NotPrincipal may only be used with Effect Deny");
    }
    let principal = PrincipalMatch {
        patterns: parse_principal(principal)?,
        negated: not_principal,
    };
    let (action_v, not_action) = one_of(s, "Action", "NotAction")?;
    let mut actions = ActionSet::default();
    for a in strings(action_v, "Action")? {
        let Some(set) = ActionSet::from_pattern(&a) else {
            return err(format!("Policy has invalid action: {a}"));
        };
        for x in set.iter() {
            actions.insert(x);
        }
    }
    let (resource_v, not_resource) = one_of(s, "Resource", "NotResource")?;
    let resources = strings(resource_v, "Resource")?
        .iter()
        .map(|r| parse_resource(r, bucket))
        .collect::<Result<Vec<_>, _>>()?;
    let unapplied = bucket.is_some_and(|b| !actions_apply(actions, &resources, b));
    if !not_action && !not_resource && unapplied {
        return err("Action does not apply to any resource(s) in statement");
    }
    let conditions = match s.get("Condition") {
        None => Vec::new(),
        Some(Value::Object(c)) => parse_conditions(c)?,
        Some(_) => return err("Condition must be an object"),
    };
    Ok(Statement {
        sid,
        effect,
        principal,
        actions,
        not_action,
        resources,
        not_resource,
        conditions,
    })
}

fn parse_principal(v: &Value) -> Result<Vec<PrincipalPattern>, PolicyError> {
    let invalid = |p: &str| err(format!("Invalid principal in policy: {p}"));
    match v {
        Value::String(s) if s == "*" => Ok(vec![PrincipalPattern::Everyone]),
        Value::Object(m) if !m.is_empty() => {
            let mut out = Vec::new();
            for (kind, value) in m {
                for p in strings(value, "Principal")? {
                    let parsed = match kind.as_str() {
                        "AWS" => PrincipalPattern::parse_aws(&p),
                        "CanonicalUser" if is_canonical_id(&p) => {
                            Some(PrincipalPattern::Canonical(p.to_ascii_lowercase()))
                        }
                        _ => None,
                    };
                    match parsed {
                        Some(x) => out.push(x),
                        None => return invalid(&format!("{kind}: {p}")),
                    }
                }
            }
            Ok(out)
        }
        _ => invalid(&v.to_string()),
    }
}

/// `arn:aws:s3:::bucket[/key-pattern]` (or `*`) naming this bucket; the
/// pattern kept is the part after the ARN prefix.
fn parse_resource(r: &str, bucket: Option<&str>) -> Result<String, PolicyError> {
    if r == "*" {
        return Ok("*".to_string());
    }
    let Some(rest) = r.strip_prefix(S3_ARN_PREFIX) else {
        return err(format!("Policy has invalid resource: {r}"));
    };
    if rest.contains("${") {
        return err("Policy variables (${...}) are not supported by this server");
    }
    let bucket_part = rest.split('/').next().unwrap_or("");
    let Some(bucket) = bucket else {
        return Ok(rest.to_string());
    };
    // A bucket pattern (`*`, `my-*`) is fine as long as it covers this bucket.
    let covers = if glob::has_wildcard(bucket_part) && !rest.contains('/') {
        glob::matches(rest, bucket) || glob::matches(rest, &format!("{bucket}/x"))
    } else {
        glob::matches(bucket_part, bucket)
    };
    if bucket_part.is_empty() || !covers {
        return err(format!("Policy has invalid resource: {r}"));
    }
    Ok(rest.to_string())
}

/// Whether some listed action applies to some listed resource (S3 refuses
/// `s3:GetObject` on `arn:aws:s3:::bucket` alone).
fn actions_apply(actions: ActionSet, resources: &[String], bucket: &str) -> bool {
    let bucket_res = resources.iter().any(|r| glob::matches(r, bucket));
    let object_res = resources.iter().any(|r| r.contains('/') || r.contains('*'));
    actions.iter().any(|a| match a.resource_kind() {
        ResourceKind::Bucket => bucket_res,
        ResourceKind::Object => object_res,
        ResourceKind::Service => false,
    })
}

fn parse_conditions(c: &Map<String, Value>) -> Result<Vec<Condition>, PolicyError> {
    let mut out = Vec::new();
    for (operator, block) in c {
        let Value::Object(block) = block else {
            return err(format!("Condition {operator} must map keys to values"));
        };
        for (key, values) in block {
            let values = condition_values(values)
                .ok_or_else(|| PolicyError::new(format!("Invalid Condition value for {key}")))?;
            out.push(Condition::compile(operator, key, &values)?);
        }
    }
    Ok(out)
}

/// Condition values: a string, number or boolean, or a list of them.
fn condition_values(v: &Value) -> Option<Vec<String>> {
    let scalar = |x: &Value| match x {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    };
    match v {
        Value::Array(a) => a.iter().map(scalar).collect(),
        x => scalar(x).map(|s| vec![s]),
    }
}
