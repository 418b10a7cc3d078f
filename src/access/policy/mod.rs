//! Bucket policies: the IAM policy language, parsed and compiled once when
//! a policy is set (and when the catalog is loaded at start), evaluated per
//! request without allocation beyond the resource string.

pub mod condition;
mod parse;
mod public;

use super::action::{Action, ActionSet};
use super::principal::{PrincipalPattern, Requester};
pub use condition::{Condition, ConditionKey, Env};

/// S3's limit on a bucket policy's size.
pub const MAX_POLICY_BYTES: usize = 20 * 1024;

/// Why a policy was refused: S3 answers `MalformedPolicy` with this message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PolicyError {
    pub message: String,
}

impl PolicyError {
    pub fn new(message: String) -> PolicyError {
        PolicyError { message }
    }
}

impl std::fmt::Display for PolicyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    Allow,
    Deny,
}

/// `Principal` (matches the listed) or `NotPrincipal` (matches the rest).
#[derive(Debug, Clone, PartialEq)]
pub struct PrincipalMatch {
    pub patterns: Vec<PrincipalPattern>,
    pub negated: bool,
}

impl PrincipalMatch {
    fn matches(&self, requester: &Requester) -> bool {
        self.patterns.iter().any(|p| p.matches(requester)) != self.negated
    }
}

/// One compiled statement.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub sid: Option<String>,
    pub effect: Effect,
    pub principal: PrincipalMatch,
    pub actions: ActionSet,
    pub not_action: bool,
    /// Patterns over `bucket` or `bucket/key` (the ARN without `arn:aws:s3:::`).
    pub resources: Vec<String>,
    pub not_resource: bool,
    /// All must hold.
    pub conditions: Vec<Condition>,
}

/// What a policy says about one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PolicyVerdict {
    /// No statement matched.
    NoMatch,
    Allow,
    /// An explicit Deny matched: nothing overrides it.
    Deny,
}

/// A compiled bucket policy.
#[derive(Debug, Clone, PartialEq)]
pub struct Policy {
    pub statements: Vec<Statement>,
    /// Grants access to everyone without a condition that narrows it
    /// (`GetBucketPolicyStatus`, block public access).
    pub is_public: bool,
}

impl Policy {
    /// Parses and compiles `text` as bucket `bucket`'s policy.
    pub fn compile(text: &str, bucket: &str) -> Result<Policy, PolicyError> {
        if text.len() > MAX_POLICY_BYTES {
            return Err(PolicyError::new(format!(
                "Policy exceeds the maximum allowed document size of {MAX_POLICY_BYTES} bytes"
            )));
        }
        Self::build(parse::parse_policy(text, Some(bucket))?)
    }

    /// Compiles a policy stored in the catalog (checked against its bucket
    /// when it was set; the same grammar, without rechecking resource names).
    pub fn compile_stored(text: &str) -> Result<Policy, PolicyError> {
        Self::build(parse::parse_policy(text, None)?)
    }

    fn build(statements: Vec<Statement>) -> Result<Policy, PolicyError> {
        let is_public = statements.iter().any(public::statement_is_public);
        Ok(Policy {
            statements,
            is_public,
        })
    }

    /// Every principal the policy names (so the caller can check that
    /// each exists, as S3 refuses a policy naming an unknown principal).
    pub fn principals(&self) -> impl Iterator<Item = &PrincipalPattern> {
        self.statements
            .iter()
            .flat_map(|s| s.principal.patterns.iter())
    }

    /// Evaluates every statement: an explicit Deny wins, then an Allow.
    /// `resource` is `bucket` or `bucket/key`.
    pub fn evaluate(&self, env: &Env, action: Action, resource: &str) -> PolicyVerdict {
        let mut verdict = PolicyVerdict::NoMatch;
        for s in &self.statements {
            if s.effect == Effect::Allow && verdict == PolicyVerdict::Allow {
                continue;
            }
            if !s.applies(env, action, resource) {
                continue;
            }
            match s.effect {
                Effect::Deny => return PolicyVerdict::Deny,
                Effect::Allow => verdict = PolicyVerdict::Allow,
            }
        }
        verdict
    }
}

impl Statement {
    fn applies(&self, env: &Env, action: Action, resource: &str) -> bool {
        self.actions.contains(action) != self.not_action
            && self.principal.matches(env.requester)
            && self
                .resources
                .iter()
                .any(|r| super::glob::matches(r, resource))
                != self.not_resource
            && self.conditions.iter().all(|c| c.holds(env))
    }
}
